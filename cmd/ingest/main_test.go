package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/source/sqstest"
	"rootwatch/internal/testutil"
)

var (
	fq     *sqstest.Server
	binary string
)

func TestMain(m *testing.M) {
	os.Exit(sqstest.Main(m, &fq))
}

// build compiles the ingest binary once, for the tests that kill it.
var buildOnce sync.Once

func ingestBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ingest-bin")
		if err != nil {
			t.Fatal(err)
		}
		binary = filepath.Join(dir, "ingest")
		out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
	})
	if binary == "" {
		t.Fatal("ingest binary not built")
	}
	return binary
}

const bucket = "trail-bucket"

type logs struct {
	keys    []string
	gz      map[string][]byte
	records [][]byte
	perKey  map[string][][]byte
	truth   gen.Truth
}

func generate(t *testing.T, cfg gen.Config) *logs {
	t.Helper()
	l := &logs{gz: map[string][]byte{}, perKey: map[string][][]byte{}}
	cfg.Workers = 1
	truth, err := gen.Generate(cfg, func(key string, gzb []byte) error {
		if cloudtrail.IsDigest(key) {
			return nil
		}
		l.keys = append(l.keys, key)
		l.gz[key] = bytes.Clone(gzb)
		r, err := cloudtrail.NewReader(bytes.NewReader(gzb), cloudtrail.Options{})
		if err != nil {
			return err
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			l.records = append(l.records, bytes.Clone(raw))
			l.perKey[key] = append(l.perKey[key], l.records[len(l.records)-1])
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	l.truth = truth
	return l
}

func s3Event(key string) string {
	return `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"` + bucket + `"},"object":{"key":"` + url.QueryEscape(key) + `"}}}]}`
}

func awsEnv(t *testing.T) []string {
	env := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none")}
	return env
}

func setAWSEnv(t *testing.T) {
	for _, kv := range awsEnv(t) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func queued(t *testing.T, c *sqs.Client, q string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var x int
		fmt.Sscan(v, &x)
		n += x
	}
	return n
}

// gate slows object downloads while slow is true, and counts them, so a
// test can see from the S3 side that a read is in flight.
type gate struct {
	slow atomic.Bool
	// started and finished count slowed object downloads; sent counts
	// their bytes written so far.
	started, finished, sent atomic.Int64
}

func (g *gate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && g.slow.Load() && strings.Contains(r.URL.Path, "/AWSLogs/") {
			g.started.Add(1)
			h.ServeHTTP(&testutil.SlowWriter{ResponseWriter: counting{w, &g.sent}, Ctx: r.Context(), Chunk: 2048, Pause: 50 * time.Millisecond}, r)
			if r.Context().Err() == nil {
				g.finished.Add(1)
			}
			return
		}
		h.ServeHTTP(w, r)
	})
}

// counting counts the bytes written through it.
type counting struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counting) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func (c counting) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

type ingestProc struct {
	cmd    *exec.Cmd
	stderr *testutil.SyncBuffer
	done   chan error
}

func startIngest(t *testing.T, args ...string) *ingestProc {
	t.Helper()
	cmd := exec.Command(ingestBinary(t), args...)
	cmd.Env = append(os.Environ(), awsEnv(t)...)
	p := &ingestProc{cmd: cmd, stderr: &testutil.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("ingest stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

func (p *ingestProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(timeout):
		t.Fatalf("ingest did not exit within %v", timeout)
		return nil
	}
}

type stack struct {
	s3    *s3test.Server
	gate  *gate
	kcfg  kafka.Config
	sqs   *sqs.Client
	queue string
}

func newStack(t *testing.T, visibility int) *stack {
	t.Helper()
	sqstest.Need(t, fq)
	st := &stack{gate: &gate{}}
	st.s3 = s3test.Start(t, st.gate.wrap)
	st.s3.Bucket(t, bucket)
	_, st.kcfg = kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	st.sqs = fq.SQS()
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	st.queue = fq.CreateQueue(t, name, visibility)
	return st
}

func (st *stack) args(extra ...string) []string {
	return append([]string{
		"--source", "sqs://" + st.queue, "--sink", "kafka", "--brokers", strings.Join(st.kcfg.Brokers, ","),
		"--sqs-endpoint", fq.Endpoint, "--s3-endpoint", st.s3.URL, "--s3-path-style",
		"--wait-time", "1s", "--visibility-timeout", "2s", "--workers", "2", "--batch-timeout", "5ms",
	}, extra...)
}

func (st *stack) send(t *testing.T, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := st.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(st.queue), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

// distinct reads the records topic until it holds at least min records
// (duplicates included) or timeout, and returns how many of want are there.
func distinct(t *testing.T, cfg kafka.Config, want [][]byte, min int, timeout time.Duration) int {
	t.Helper()
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[string(w)] = true
	}
	seen := map[string]bool{}
	for _, r := range kafkatest.ReadAll(t, cfg, kafka.TopicRecords, min, timeout) {
		if !wantSet[string(r.Value)] {
			t.Errorf("unexpected record %.100s", r.Value)
		}
		seen[string(r.Value)] = true
	}
	return len(seen)
}

// An ingest process killed (SIGKILL) in the middle of an object loses
// nothing: the message was not deleted, comes back after its visibility
// timeout, and a new process delivers every record at least once.
func TestKilledMidObjectRedelivers(t *testing.T) {
	st := newStack(t, 2)
	all := generate(t, gen.Config{Seed: 11, Files: 6, RecordsPerFile: 1200})
	key := all.keys[0]
	for _, k := range all.keys {
		if len(all.perKey[k]) > len(all.perKey[key]) {
			key = k
		}
	}
	l := &logs{keys: []string{key}, gz: all.gz, records: all.perKey[key]}
	if len(l.records) < 1100 {
		t.Fatalf("largest file has %d records; need more than two write chunks", len(l.records))
	}
	st.s3.Put(t, bucket, key, l.gz[key])
	st.gate.slow.Store(true)
	st.send(t, s3Event(key))

	p1 := startIngest(t, st.args()...)
	testutil.WaitFor(t, 60*time.Second, "some records of the object in Kafka", func() bool {
		return kafkatest.Count(t, st.kcfg, kafka.TopicRecords) > 0
	})
	if err := p1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p1.wait(t, 10*time.Second)
	partial := kafkatest.Count(t, st.kcfg, kafka.TopicRecords)
	if partial >= int64(len(l.records)) {
		t.Fatalf("the object was complete (%d records) before the kill; the test proved nothing", partial)
	}
	if queued(t, st.sqs, st.queue) != 1 {
		t.Fatal("the message is gone after the kill")
	}

	st.gate.slow.Store(false)
	startIngest(t, st.args()...)
	// The first process's records are there too: wait for all of them plus a full copy.
	if n := distinct(t, st.kcfg, l.records, len(l.records)+int(partial), 60*time.Second); n != len(l.records) {
		t.Fatalf("%d of %d records reached Kafka after the restart", n, len(l.records))
	}
	testutil.WaitFor(t, 30*time.Second, "the message deleted", func() bool { return queued(t, st.sqs, st.queue) == 0 })
}

// SIGTERM while an object is being read: ingest releases the message
// (visible again at once, long before its 60s visibility timeout) and
// exits 0. The S3 side proves the read was in flight at the signal and was
// cut short, not finished.
func TestSIGTERMReleasesAndExitsZero(t *testing.T) {
	st := newStack(t, 60)
	l := generate(t, gen.Config{Seed: 12, Files: 1, RecordsPerFile: 800})
	st.s3.Put(t, bucket, l.keys[0], l.gz[l.keys[0]])
	st.gate.slow.Store(true)
	st.send(t, s3Event(l.keys[0]))
	p := startIngest(t, st.args("--visibility-timeout", "60s", "--shutdown-grace", "300ms")...)
	testutil.WaitFor(t, 30*time.Second, "the object's download in flight", func() bool {
		return st.gate.started.Load() >= 1 && st.gate.sent.Load() > 0
	})
	if st.gate.finished.Load() != 0 {
		t.Fatal("the object was read completely before SIGTERM; the test would prove nothing")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if n := st.gate.finished.Load(); n != 0 {
		t.Fatalf("%d download(s) finished: SIGTERM did not stop the read in flight", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := st.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(st.queue), WaitTimeSeconds: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("message not visible after SIGTERM: got %d", len(out.Messages))
	}
}

// A local folder to stdout is the offline scan: findings as JSON lines,
// exit 0; with an unreadable file, exit 1 after the rest, naming the file.
func TestLocalToStdout(t *testing.T) {
	l := generate(t, gen.Config{Seed: 13, Files: 4, RecordsPerFile: 100, RootShare: 0.05})
	dir := t.TempDir()
	for _, k := range l.keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, l.gz[k], 0o644)
	}
	want := l.truth.FindingIDs()
	if len(want) == 0 {
		t.Fatal("no root activity generated")
	}
	ids := func(out string) []string {
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line != "" {
				got = append(got, gjson.Get(line, "eventID").Str)
			}
		}
		sort.Strings(got)
		return got
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--source", dir, "--sink", "stdout"}, &stdout, &stderr, noEnv); code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	if got := ids(stdout.String()); !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}

	bad := filepath.Join(dir, "broken.json.gz")
	os.WriteFile(bad, []byte("\x1f\x8b\x08\x00garbage"), 0o644)
	stdout.Reset()
	stderr.Reset()
	if code := run(context.Background(), []string{"--source", dir, "--sink", "stdout"}, &stdout, &stderr, noEnv); code == 0 {
		t.Fatal("exit 0 with an unreadable file")
	}
	if !strings.Contains(stderr.String(), bad) {
		t.Errorf("stderr does not name %s: %s", bad, stderr.String())
	}
	if got := ids(stdout.String()); !slices.Equal(got, want) {
		t.Errorf("with a bad file, findings %v, want %v (the rest must still be read)", got, want)
	}
}

// A local folder into Kafka: every record, findings, and the unreadable file dead-lettered.
func TestLocalToKafka(t *testing.T) {
	l := generate(t, gen.Config{Seed: 14, Files: 3, RecordsPerFile: 50, RootShare: 0.05})
	dir := t.TempDir()
	for i, k := range l.keys {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.json.gz", i)), l.gz[k], 0o644)
	}
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(`{"Records":[{"eventID":"x"},`))
	zw.Close()
	os.WriteFile(filepath.Join(dir, "cut.json.gz"), b.Bytes(), 0o644)
	_, kcfg := kafkatest.Cluster(t, 1)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--source", dir, "--sink", "kafka", "--brokers", kcfg.Brokers[0], "--create-topics", "--replication-factor", "1", "--partitions", "2"}, &stdout, &stderr, noEnv)
	if code != 1 || !strings.Contains(stderr.String(), "cut.json.gz") {
		t.Errorf("exit %d, stderr %s; want 1 naming cut.json.gz", code, stderr.String())
	}
	want := append(slices.Clone(l.records), []byte(`{"eventID":"x"}`))
	if n := distinct(t, kcfg, want, len(want), 20*time.Second); n < len(l.records) {
		t.Errorf("%d of %d records in Kafka", n, len(l.records))
	}
	dlq := kafkatest.ReadAll(t, kcfg, kafka.TopicDLQ, 1, 10*time.Second)
	if len(dlq) != 1 || !strings.Contains(string(dlq[0].Value), "cut.json.gz") {
		t.Errorf("dlq %v", dlq)
	}
	if n, want := len(kafkatest.ReadAll(t, kcfg, kafka.TopicRootActivity, len(l.truth.FindingIDs()), 10*time.Second)), len(l.truth.FindingIDs()); n != want {
		t.Errorf("%d findings, want %d", n, want)
	}
}

// SQS into stdout: findings go through the pipeline to stdout.
func TestSQSToStdout(t *testing.T) {
	st := newStack(t, 30)
	setAWSEnv(t)
	l := generate(t, gen.Config{Seed: 15, Files: 2, RecordsPerFile: 100, RootShare: 0.05})
	for _, k := range l.keys {
		st.s3.Put(t, bucket, k, l.gz[k])
		st.send(t, s3Event(k))
	}
	args := st.args()
	args[3] = "stdout"
	out := &testutil.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, out, io.Discard, noEnv) }()
	want := len(l.truth.FindingIDs())
	testutil.WaitFor(t, 30*time.Second, "findings on stdout", func() bool { return strings.Count(out.String(), "\n") >= want })
	testutil.WaitFor(t, 20*time.Second, "queue drained", func() bool { return queued(t, st.sqs, st.queue) == 0 })
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return")
	}
	if n := strings.Count(out.String(), "\n"); n != want {
		t.Errorf("%d findings on stdout, want %d", n, want)
	}
}

func noEnv(string) (string, bool) { return "", false }

func TestFlagEnvConfigPrecedence(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ingest.yaml")
	os.WriteFile(cfg, []byte(`
source: s3://from-config/
sink: stdout
workers: 7
max_receives: 3
compression: lz4
kafka:
  brokers: [cfg:9092]
  sasl:
    mechanism: plain
    username: u
    password: ${TEST_KAFKA_PASSWORD}
`), 0o600)
	t.Setenv("TEST_KAFKA_PASSWORD", "p4ss")
	env := map[string]string{"ROOTWATCH_INGEST_WORKERS": "9", "ROOTWATCH_INGEST_SINK": "kafka", "ROOTWATCH_INGEST_CONFIG": cfg}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	s, err := parse([]string{"--sink", "stdout", "--brokers", "a:1,b:2"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sink != "stdout" { // flag beats env and file
		t.Errorf("sink %q", s.Sink)
	}
	if s.Workers != 9 { // env beats file
		t.Errorf("workers %d", s.Workers)
	}
	if s.MaxReceives != 3 || s.Compression != "lz4" || s.Source != "s3://from-config/" { // file beats default
		t.Errorf("from file: %+v", s)
	}
	if !slices.Equal(s.Kafka.Brokers, []string{"a:1", "b:2"}) {
		t.Errorf("brokers %v", s.Kafka.Brokers)
	}
	if s.Kafka.SASL.Password != "p4ss" || s.Visibility != source.DefaultVisibilityTimeout {
		t.Errorf("sasl/default: %+v", s)
	}
	if strings.Contains(fmt.Sprintf("%+v", s), "p4ss") {
		t.Error("printing the settings shows the password")
	}
	os.WriteFile(cfg, []byte("workerz: 3\n"), 0o600)
	if _, err := parse(nil, lookup); err == nil || !strings.Contains(err.Error(), "workerz") {
		t.Errorf("unknown config key: %v", err)
	}
}

// --help prints the usage and every flag to stdout, exit 0; usage errors go
// to stderr as "ingest: <message>" with a hint, exit 2.
func TestHelpAndUsageErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb, noEnv); code != 0 || errb.Len() != 0 {
		t.Errorf("--help: exit %d, stderr %q", code, errb.String())
	}
	for _, want := range []string{"sqs://", "s3://bucket/prefix?from=", "ROOTWATCH_INGEST_<FLAG>", "--max-receives int", "--sink kafka|stdout", "--log-format auto|json|text", "(default 4)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "ingest: --source is required"},
		{[]string{"--source", "x", "--sink", "nowhere"}, `ingest: --sink: want kafka or stdout, got "nowhere"`},
		{[]string{"--source", "x", "--sink", "kafka"}, "ingest: kafka: no brokers configured (set --brokers or kafka.brokers)"},
		{[]string{"--bogus"}, "ingest: unknown flag --bogus"},
		{[]string{"--source", "x", "--sink", "stdout", "--progress", "fancy"}, `ingest: --progress: want auto, bar, log or none, got "fancy"`},
		{[]string{"--source", "x", "--sink", "stdout", "--log-level", "loud"}, `ingest: --log-level: want debug, info, warn or error, got "loud"`},
	} {
		out.Reset()
		errb.Reset()
		code := run(context.Background(), c.args, &out, &errb, noEnv)
		if code != 2 || !strings.HasPrefix(errb.String(), c.want) || !strings.HasSuffix(errb.String(), "Run 'ingest --help' for usage.\n") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q then the hint", c.args, code, errb.String(), c.want)
		}
	}
}

// A config file with mistakes of every kind: each is named with its line,
// key and what was wanted, in the user's terms.
func TestConfigErrorsInUserTerms(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "ingest.yaml")
	os.WriteFile(cfg, []byte("source: sqs://q\nsink: kafak\nworkers: many\nwait_time: 20 seconds\nkafka:\n  brokers: k1:9092\n  tls: {enabled: maybe}\nshutdown_grase: 5s\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--config", cfg}, &out, &errb, noEnv); code != 2 {
		t.Fatalf("exit %d", code)
	}
	msg := errb.String()
	for _, want := range []string{
		`line 3: workers: want a whole number, got "many"`,
		`line 4: wait_time: want a duration such as 30s, 5m or 1h30m, got "20 seconds"`,
		`line 6: kafka.brokers: want a list such as [a, b], got "k1:9092"`,
		`line 7: kafka.tls.enabled: want true or false, got "maybe"`,
		`line 8: shutdown_grase: unknown key (did you mean shutdown_grace?)`,
	} {
		if !strings.Contains(msg, "ingest: config "+cfg+": "+want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	for _, bad := range []string{"!!", "main.settings", "time.Duration", "[]string", "2006-01-02", "unmarshal"} {
		if strings.Contains(msg, bad) {
			t.Errorf("error speaks Go/YAML (%q):\n%s", bad, msg)
		}
	}
	// Once the file decodes, an enum in it is checked, with its line.
	os.WriteFile(cfg, []byte("source: sqs://q\nsink: kafak\n"), 0o600)
	errb.Reset()
	run(context.Background(), []string{"--config", cfg}, &out, &errb, noEnv)
	if want := "ingest: config " + cfg + `: line 2: sink: want kafka or stdout, got "kafak"`; !strings.Contains(errb.String(), want) {
		t.Errorf("missing %q in:\n%s", want, errb.String())
	}
}

// The example config files parse strictly (no unknown keys).
func TestExampleConfigsParse(t *testing.T) {
	t.Setenv("KAFKA_PASSWORD", "x")
	for _, f := range []string{"ingest.yaml", "ingest-backfill.yaml"} {
		p := filepath.Join("..", "..", "examples", f)
		if _, err := parse([]string{"--config", p}, noEnv); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

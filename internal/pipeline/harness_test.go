package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/internal/backoff"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/source/sqstest"
	"rootwatch/internal/testutil"
)

var fq *sqstest.Server

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &fq)) }

const bucket = "trail-bucket"

// env is one test's real parts: gofakes3, kfake, a fauxqs queue.
type env struct {
	t        *testing.T
	s3       *s3test.Server
	cluster  *kfake.Cluster
	kcfg     kafka.Config
	sqs      *sqs.Client
	queueURL string
}

func newEnv(t *testing.T, visibility int, wrapS3 func(http.Handler) http.Handler) *env {
	t.Helper()
	sqstest.Need(t, fq)
	e := &env{t: t}
	e.s3 = s3test.Start(t, wrapS3)
	e.s3.Bucket(t, bucket)
	e.cluster, e.kcfg = kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	e.sqs = fq.SQS()
	e.queueURL = fq.CreateQueue(t, sanitize(t.Name()), visibility)
	return e
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '-'
		}
	}
	if len(b) > 70 {
		b = b[len(b)-70:]
	}
	return string(b)
}

// logs generates n CloudTrail files, uploads them, and returns their keys
// and the records each holds (raw bytes, as the reader returns them).
type logSet struct {
	keys    []string
	records map[string][][]byte // key -> records
	truth   gen.Truth
}

func (l *logSet) all() [][]byte {
	var out [][]byte
	for _, k := range l.keys {
		out = append(out, l.records[k]...)
	}
	return out
}

func (e *env) logs(seed uint64, files, perFile int, put bool) *logSet {
	e.t.Helper()
	ls := &logSet{records: map[string][][]byte{}}
	truth, err := gen.Generate(gen.Config{Seed: seed, Files: files, RecordsPerFile: perFile, RootShare: 0.05, Workers: 1}, func(key string, gz []byte) error {
		if cloudtrail.IsDigest(key) {
			return nil
		}
		ls.keys = append(ls.keys, key)
		r, err := cloudtrail.NewReader(bytes.NewReader(gz), cloudtrail.Options{})
		if err != nil {
			return err
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			ls.records[key] = append(ls.records[key], bytes.Clone(raw))
		}
		if put {
			e.s3.Put(e.t, bucket, key, gz)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("generate: %v", err)
	}
	ls.truth = truth
	return ls
}

func (e *env) send(body string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := e.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(e.queueURL), MessageBody: aws.String(body)}); err != nil {
		e.t.Fatalf("send: %v", err)
	}
}

// queued is the number of messages in the queue, visible or not.
func (e *env) queued() int {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		var x int
		for _, c := range v {
			x = x*10 + int(c-'0')
		}
		n += x
	}
	return n
}

type runOpts struct {
	maxReceives int
	visibility  time.Duration
	grace       time.Duration
	backoff     time.Duration
	workers     int
	writer      kafka.WriterOptions
}

// runner runs RunSQS in the background.
type runner struct {
	cancel  context.CancelFunc
	done    chan error
	sink    *kafka.Sink
	metrics *pipeline.Metrics
}

func (e *env) start(o runOpts) *runner {
	e.t.Helper()
	if o.visibility == 0 {
		o.visibility = 2 * time.Second
	}
	if o.grace == 0 {
		o.grace = 5 * time.Second
	}
	if o.backoff == 0 {
		o.backoff = time.Second
	}
	if o.workers == 0 {
		o.workers = 2
	}
	log := slog.New(slog.NewTextHandler(testWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	m := pipeline.NewMetrics(nil)
	if o.writer.BatchTimeout == 0 {
		o.writer.BatchTimeout = 5 * time.Millisecond
	}
	sink, err := kafka.NewSink(e.kcfg, kafka.SinkOptions{Logger: log, Observe: m.ObserveKafka, Writer: o.writer})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1), sink: sink, metrics: m}
	redeliver := o.backoff
	go func() {
		err := pipeline.RunSQS(ctx, pipeline.SQSRun{
			Common: pipeline.Common{Sink: sink, Metrics: m, Logger: log, Workers: o.workers, ShutdownGrace: o.grace,
				MissingRetries: 1, MissingBackoff: 50 * time.Millisecond},
			SQS: e.sqs, S3: e.s3.Client,
			Source:      source.SQSOptions{QueueURL: e.queueURL, WaitTime: time.Second, VisibilityTimeout: o.visibility},
			MaxReceives: o.maxReceives,
			Backoff:     backoff.Policy{Base: redeliver, Max: redeliver},
		})
		r.done <- err
	}()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

func (r *runner) stop(t *testing.T) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("RunSQS: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("RunSQS did not return within 30s of cancel")
	}
	r.sink.Close()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// waitFor waits for cond (testutil.WaitFor).
var waitFor = testutil.WaitFor

// checkRecords asserts the records topic holds every want record (bytes
// exactly), at least once, and nothing else; and that keys and headers
// are right.
func checkRecords(t *testing.T, cfg kafka.Config, want [][]byte, timeout time.Duration) []kafkatest.Record {
	t.Helper()
	got := kafkatest.ReadAll(t, cfg, kafka.TopicRecords, len(want), timeout)
	wantSet := map[string]int{}
	for _, w := range want {
		wantSet[string(w)]++
	}
	seen := map[string]bool{}
	for _, r := range got {
		if _, ok := wantSet[string(r.Value)]; !ok {
			t.Errorf("unexpected record in %s: %.120s", kafka.TopicRecords, r.Value)
			continue
		}
		seen[string(r.Value)] = true
		if acct := gjson.GetBytes(r.Value, "recipientAccountId").Str; string(r.Key) != acct {
			t.Errorf("record key %q, want recipientAccountId %q", r.Key, acct)
		}
		k, ok := cloudtrail.ParseKey(r.Headers["key"])
		if !ok || r.Headers["bucket"] != bucket || r.Headers["account"] != k.Account || r.Headers["region"] != k.Region {
			t.Errorf("record headers %v do not name the object", r.Headers)
		}
	}
	if len(seen) != len(wantSet) {
		t.Errorf("records topic has %d distinct of %d records (%d messages)", len(seen), len(wantSet), len(got))
	}
	return got
}

func findingIDs(t *testing.T, cfg kafka.Config, n int, timeout time.Duration) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	for _, r := range kafkatest.ReadAll(t, cfg, kafka.TopicRootActivity, n, timeout) {
		id := gjson.GetBytes(r.Value, "eventID").Str
		if string(r.Key) != gjson.GetBytes(r.Value, "accountId").Str {
			t.Errorf("finding key %q is not its accountId", r.Key)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// dlqEntries reads n DLQ entries.
func dlqEntries(t *testing.T, cfg kafka.Config, n int, timeout time.Duration) []pipeline.DLQEntry {
	t.Helper()
	var out []pipeline.DLQEntry
	for _, r := range kafkatest.ReadAll(t, cfg, kafka.TopicDLQ, n, timeout) {
		var e pipeline.DLQEntry
		if err := jsonUnmarshal(r.Value, &e); err != nil {
			t.Fatalf("dlq entry %s: %v", r.Value, err)
		}
		out = append(out, e)
	}
	return out
}

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/source/sqstest"
)

// Options configure one chaos run.
type Options struct {
	Seed uint64
	// Bin holds the ingest, alert and broker executables.
	Bin string
	// Dir receives the ledger and the process logs.
	Dir string
	// SQSEndpoint is a running fauxqs (http://127.0.0.1:N).
	SQSEndpoint string

	// Input: generated CloudTrail files (internal/gen).
	Files, RecordsPerFile int
	RootShare             float64

	// Faults is how long faults are injected; Drain bounds the wait, after
	// the last fault, for every root event to reach every channel.
	Faults, Drain time.Duration
	// How many of each fault (spread at seeded random times over Faults).
	KillIngest, KillAlert, PauseBroker, CutBroker, S3Faults, ChannelFaults int
	// DuplicateShare of notifications is sent twice; all are sent in a
	// shuffled order.
	DuplicateShare float64

	Log io.Writer // progress lines
}

// Channels are the two webhook channels every finding is routed to.
var Channels = []string{"hook-a", "hook-b"}

// Result is what the ledger says.
type Result struct {
	Seed          uint64
	Faults        int            // faults injected
	FaultsByKind  map[string]int // per kind
	RootEvents    int            // root events in the input
	Lost          int            // (event, channel) pairs neither delivered nor dead-lettered
	LostIDs       []string       // "channel/eventID"
	DeadLettered  int            // (event, channel) pairs found in a DLQ instead of the channel
	DLQReasons    map[string]int
	Duplicated    map[string]int // per channel: events delivered more than once
	Deliveries    int            // webhook requests answered 2xx
	Attempts      int            // webhook requests received
	Crashes       map[string]int // exits of ingest/alert the driver did not cause
	P50, P99, Max time.Duration  // notification sent -> first delivery, per (event, channel)
	Elapsed       time.Duration
}

// Line is the one-line summary.
func (r Result) Line(runs int) string {
	var dup []string
	for _, c := range Channels {
		dup = append(dup, fmt.Sprintf("%s=%d", c, r.Duplicated[c]))
	}
	return fmt.Sprintf("chaos: runs=%d faults=%d root_events=%d lost=%d dead_lettered=%d duplicated={%s} p99_time_to_alert=%s",
		runs, r.Faults, r.RootEvents, r.Lost, r.DeadLettered, strings.Join(dup, ","), r.P99.Round(10*time.Millisecond))
}

const (
	bucket       = "chaos-trail"
	topicRecords = "cloudtrail.records"
	topicFinds   = "cloudtrail.root-activity"
	topicDLQ     = "cloudtrail.dlq"
	topicAlertDL = "rootwatch.alerts.dlq"
)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Run performs one chaos run and returns what the ledger says. An error
// means the run itself could not be carried out (setup); lost events are
// in the Result, for the caller to judge.
func Run(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	res := Result{Seed: o.Seed, FaultsByKind: map[string]int{}, DLQReasons: map[string]int{}, Duplicated: map[string]int{}, Crashes: map[string]int{}}
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%s chaos: "+format+"\n", append([]any{time.Since(start).Round(time.Millisecond)}, a...)...)
		}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))

	// Kafka: the broker process behind our proxy.
	brokerPort, err := freePort()
	if err != nil {
		return res, err
	}
	proxy, err := ListenProxy("127.0.0.1:0", "127.0.0.1:"+strconv.Itoa(brokerPort))
	if err != nil {
		return res, err
	}
	defer proxy.Close()
	brokerAddr := proxy.Addr()
	_, pport, _ := net.SplitHostPort(brokerAddr)
	brokerLog, err := openLog(filepath.Join(o.Dir, "broker.log"))
	if err != nil {
		return res, err
	}
	defer brokerLog.Close()
	broker, err := startBroker(filepath.Join(o.Bin, "broker"), []string{"--listen-port", strconv.Itoa(brokerPort),
		"--advertise-port", pport, "--partitions", "3", "--topics", strings.Join([]string{topicRecords, topicFinds, topicDLQ}, ",")}, brokerLog)
	if err != nil {
		return res, err
	}
	defer func() {
		broker.Process.Signal(syscall.SIGCONT)
		broker.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { broker.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			broker.Process.Kill()
			<-done
		}
	}()
	logf("broker pid %d listening on :%d, reached through proxy %s", broker.Process.Pid, brokerPort, brokerAddr)

	// S3 with the generated logs.
	fs3 := NewFaultyS3()
	s3srv := httptest.NewServer(fs3)
	defer s3srv.Close()
	s3c := s3test.NewClient(s3srv.URL)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = s3c.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	cancel()
	if err != nil {
		return res, fmt.Errorf("create bucket: %w", err)
	}
	var keys []string
	truth, err := gen.Generate(gen.Config{Seed: o.Seed, Files: o.Files, RecordsPerFile: o.RecordsPerFile, RootShare: o.RootShare, Workers: 1, Bucket: bucket},
		func(key string, gz []byte) error {
			if cloudtrail.IsDigest(key) {
				return nil
			}
			keys = append(keys, key)
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			_, err := s3c.PutObject(pctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(gz)})
			return err
		})
	if err != nil {
		return res, fmt.Errorf("generate logs: %w", err)
	}
	res.RootEvents = len(truth.Root)
	keyOf := map[string]string{} // eventID -> object key
	for _, r := range truth.Root {
		keyOf[r.EventID] = r.Key
	}
	logf("%d files, %d records, %d root events uploaded", len(keys), truth.Records, len(truth.Root))

	// The fake channels.
	rec, err := NewRecorder(filepath.Join(o.Dir, "ledger.jsonl"))
	if err != nil {
		return res, err
	}
	defer rec.Close()
	recSrv := httptest.NewServer(rec)
	defer recSrv.Close()

	// SQS.
	sq := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: staticCreds{}, BaseEndpoint: aws.String(o.SQSEndpoint)})
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	q, err := sq.CreateQueue(qctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("chaos-%d-%d", o.Seed, time.Now().UnixNano())),
		Attributes: map[string]string{"VisibilityTimeout": "6"}})
	cancel()
	if err != nil {
		return res, fmt.Errorf("create queue: %w", err)
	}
	queueURL := aws.ToString(q.QueueUrl)

	// The pipeline processes.
	alertCfg := filepath.Join(o.Dir, "alert.yaml")
	if err := os.WriteFile(alertCfg, []byte(alertConfig(brokerAddr, recSrv.URL)), 0o644); err != nil {
		return res, err
	}
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "GOTRACEBACK=all")
	ingestLog, err := openLog(filepath.Join(o.Dir, "ingest.log"))
	if err != nil {
		return res, err
	}
	defer ingestLog.Close()
	alertLog, err := openLog(filepath.Join(o.Dir, "alert.log"))
	if err != nil {
		return res, err
	}
	defer alertLog.Close()
	ingest := &proc{name: "ingest", path: filepath.Join(o.Bin, "ingest"), env: env, log: ingestLog, args: []string{
		"--source", "sqs://" + queueURL, "--sink", "kafka", "--brokers", brokerAddr,
		"--sqs-endpoint", o.SQSEndpoint, "--s3-endpoint", s3srv.URL, "--s3-path-style", "--region", "us-east-1",
		"--workers", "2", "--wait-time", "1s", "--visibility-timeout", "6s", "--max-receives", "0",
		"--retry-backoff-max", "2s", "--missing-retries", "1", "--shutdown-grace", "3s",
		"--batch-timeout", "5ms", "--compression", "none", "--replication-factor", "1", "--log-level", "info",
	}}
	alert := &proc{name: "alert", path: filepath.Join(o.Bin, "alert"), env: env, log: alertLog,
		args: []string{"--source", "kafka", "--config", alertCfg, "--listen", "127.0.0.1:0"}}
	if err := ingest.start(); err != nil {
		return res, err
	}
	defer ingest.stop(10 * time.Second)
	if err := alert.start(); err != nil {
		return res, err
	}
	defer alert.stop(10 * time.Second)

	// Feed: one notification per file (several files per notification at
	// times), shuffled, some sent twice, spread over the first 60% of the
	// fault phase.
	sent := newSentLog()
	var batches [][]string
	for i := 0; i < len(keys); {
		n := 1 + rng.IntN(3)
		if i+n > len(keys) {
			n = len(keys) - i
		}
		batches = append(batches, keys[i:i+n])
		i += n
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	type send struct {
		at   time.Duration
		body string
		keys []string
	}
	var sends []send
	span := o.Faults * 6 / 10
	for _, b := range batches {
		at := time.Duration(rng.Int64N(int64(span) + 1))
		sends = append(sends, send{at, notification(rng, bucket, b), b})
		if rng.Float64() < o.DuplicateShare {
			// The duplicate may come before the original: out of order.
			sends = append(sends, send{time.Duration(rng.Int64N(int64(o.Faults) + 1)), notification(rng, bucket, b), b})
		}
	}
	sort.Slice(sends, func(i, j int) bool { return sends[i].at < sends[j].at })

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	t0 := time.Now()
	var bg sync.WaitGroup
	var sendErrs atomic.Int64
	bg.Add(1)
	go func() {
		defer bg.Done()
		for _, s := range sends {
			if !sleepUntil(runCtx, t0.Add(s.at)) {
				return
			}
			for attempt := 0; ; attempt++ {
				sctx, cancel := context.WithTimeout(runCtx, 10*time.Second)
				_, err := sq.SendMessage(sctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(s.body)})
				cancel()
				if err == nil {
					sent.mark(s.keys, time.Now())
					break
				}
				if runCtx.Err() != nil || attempt > 20 {
					sendErrs.Add(1)
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	}()

	// Faults at seeded random times in [5%, 90%] of the fault phase.
	type fault struct {
		at   time.Duration
		kind string
		dur  time.Duration
		arg  int
	}
	var faults []fault
	add := func(n int, kind string, minDur, maxDur time.Duration) {
		for range n {
			lo, hi := int64(o.Faults)/20, int64(o.Faults)*9/10
			at := time.Duration(lo + rng.Int64N(hi-lo+1))
			d := minDur + time.Duration(rng.Int64N(int64(maxDur-minDur)+1))
			faults = append(faults, fault{at, kind, d, rng.IntN(1 << 20)})
		}
	}
	add(o.KillIngest, "kill-ingest", 200*time.Millisecond, 2*time.Second)
	add(o.KillAlert, "kill-alert", 200*time.Millisecond, 2*time.Second)
	add(o.PauseBroker, "pause-broker", 1*time.Second, 5*time.Second)
	add(o.CutBroker, "cut-broker", 1*time.Second, 5*time.Second)
	add(o.S3Faults, "s3", 2*time.Second, 6*time.Second)
	add(o.ChannelFaults, "channel", 2*time.Second, 8*time.Second)
	sort.Slice(faults, func(i, j int) bool { return faults[i].at < faults[j].at })
	var (
		brokerMu sync.Mutex // one broker fault at a time: pause and cut do not nest
		s3Mu     sync.Mutex
		chanMu   [2]sync.Mutex
		killMu   sync.Mutex
	)
	for _, f := range faults {
		if !sleepUntil(runCtx, t0.Add(f.at)) {
			break
		}
		res.Faults++
		bg.Add(1)
		go func() {
			defer bg.Done()
			switch f.kind {
			case "kill-ingest", "kill-alert":
				p := ingest
				if f.kind == "kill-alert" {
					p = alert
				}
				killMu.Lock()
				logf("fault: SIGKILL %s, restart in %s", p.name, f.dur)
				p.kill()
				killMu.Unlock()
				sleepFor(runCtx, f.dur)
				if err := p.restart(); err != nil {
					logf("restart %s: %v", p.name, err)
				}
				addKind(&res, f.kind)
			case "pause-broker":
				brokerMu.Lock()
				defer brokerMu.Unlock()
				logf("fault: SIGSTOP broker for %s", f.dur)
				broker.Process.Signal(syscall.SIGSTOP)
				sleepFor(runCtx, f.dur)
				broker.Process.Signal(syscall.SIGCONT)
				addKind(&res, f.kind)
			case "cut-broker":
				brokerMu.Lock()
				defer brokerMu.Unlock()
				stall := f.arg%2 == 0
				logf("fault: broker unreachable (stall=%v) for %s", stall, f.dur)
				if stall {
					proxy.Stall()
				} else {
					proxy.Cut()
				}
				sleepFor(runCtx, f.dur)
				proxy.Restore()
				addKind(&res, f.kind)
			case "s3":
				s3Mu.Lock()
				defer s3Mu.Unlock()
				mode := S3Err500
				if f.arg%2 == 0 {
					mode = S3Hang
				}
				logf("fault: S3 GetObject answers %s for %s", mode, f.dur)
				fs3.Set(mode)
				sleepFor(runCtx, f.dur)
				fs3.Set(S3OK)
				addKind(&res, "s3-"+mode.String())
			case "channel":
				ci := f.arg % len(Channels)
				mode := ChannelFault(1 + (f.arg/len(Channels))%int(numChanFaults-1))
				chanMu[ci].Lock()
				defer chanMu[ci].Unlock()
				logf("fault: channel %s answers %s for %s", Channels[ci], mode, f.dur)
				rec.Set(Channels[ci], mode)
				sleepFor(runCtx, f.dur)
				rec.Set(Channels[ci], ChanOK)
				addKind(&res, "channel-"+mode.String())
			}
		}()
	}
	sleepUntil(runCtx, t0.Add(o.Faults))
	bg.Wait() // every fault has ended and every notification was sent
	if n := sendErrs.Load(); n > 0 {
		return res, fmt.Errorf("%d notifications could not be sent to SQS", n)
	}
	logf("fault phase over (%d faults); waiting up to %s for every root event to reach every channel", res.Faults, o.Drain)

	// Drain: until every (event, channel) is delivered or dead-lettered.
	dl := &dlqReader{brokers: []string{brokerAddr}}
	deadline := time.Now().Add(o.Drain)
	var missing []string
	for {
		missing = missingPairs(truth.Root, rec.Ledger(), dl.accounted(keyOf))
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleepFor(ctx, time.Second)
	}
	// A little longer, so late duplicates show up in the count.
	sleepFor(ctx, 2*time.Second)
	res.Crashes["ingest"], res.Crashes["alert"] = ingest.crashes, alert.crashes
	account(&res, truth.Root, rec.Ledger(), dl, keyOf, sent)
	res.Elapsed = time.Since(start)
	logf("done: %s", res.Line(1))
	return res, nil
}

func addKind(r *Result, kind string) {
	kindMu.Lock()
	r.FaultsByKind[kind]++
	kindMu.Unlock()
}

var kindMu sync.Mutex

func sleepUntil(ctx context.Context, t time.Time) bool { return sleepFor(ctx, time.Until(t)) }

func sleepFor(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// sentLog is when each object was first named in a notification sent to SQS.
type sentLog struct {
	mu sync.Mutex
	at map[string]time.Time
}

func newSentLog() *sentLog { return &sentLog{at: map[string]time.Time{}} }

func (s *sentLog) mark(keys []string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, ok := s.at[k]; !ok {
			s.at[k] = t
		}
	}
}

// alertConfig routes everything to both webhook channels, carries every
// finding in each notification, and retries long enough to outlast every
// injected channel fault.
func alertConfig(broker, recorder string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `source: kafka
log_level: info
kafka:
  brokers: [%q]
  group: chaos-alert
  heartbeat_interval: 1s
  session_timeout: 6s
grouping:
  group_interval: 1s
  repeat_interval: -1s
  max_findings: 1000000
delivery:
  max_attempts: 1000
  backoff: 200ms
  max_backoff: 2s
  max_elapsed: 10m
  timeout: 2s
channels:
`, broker)
	for _, c := range Channels {
		fmt.Fprintf(&b, "  - name: %s\n    type: webhook\n    url: %s/hook/%s\n", c, recorder, c)
	}
	fmt.Fprintf(&b, "routes:\n  - name: everything\n    channels: [%s]\n", strings.Join(Channels, ", "))
	return b.String()
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "chaos"}, nil
}

var _ = errors.New
var _ http.Handler = (*Recorder)(nil)
var _ = sqstest.SkipEnv

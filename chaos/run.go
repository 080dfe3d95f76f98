package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/source/s3test"
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

	// Input: generated CloudTrail files (internal/gen). Some are kept back
	// as probes: each fault that waits for pipeline activity sends one.
	Files, RecordsPerFile int
	RootShare             float64

	// Faults is how long faults are injected; Drain bounds the wait, after
	// the last fault, for everything to be settled.
	Faults, Drain time.Duration
	// How many of each fault (spread at seeded random times over Faults);
	// planFaults says the minimum of each.
	KillIngest, KillAlert, PauseBroker, CutBroker, S3Faults, ChannelFaults int
	// TriggerWait bounds how long a fault waits for the event it is armed
	// on before it counts as not having bitten (default 30s).
	TriggerWait time.Duration
	// DuplicateShare of notifications is sent twice; all are sent in a
	// shuffled order.
	DuplicateShare float64

	Log io.Writer // progress lines
}

// Channels are the two webhook channels every finding is routed to.
var Channels = []string{"hook-a", "hook-b"}

// Result is what one run (or several, summed) came to.
type Result struct {
	Seed     uint64
	Faults   int            // faults injected
	Injected map[string]int // per kind
	Bit      map[string]int // per kind: faults that hit something
	// RootEvents, Objects, Records: the input (readable objects only).
	RootEvents, Objects, Records int
	Hostile                      int // planted unreadable objects
	Verdict
	Crashes map[string]int // exits of ingest/alert the driver did not cause
	Elapsed time.Duration
}

func newResult(seed uint64) Result {
	return Result{Seed: seed, Injected: map[string]int{}, Bit: map[string]int{}, Crashes: map[string]int{},
		Verdict: Verdict{DLQReasons: map[string]int{}, Violations: map[string][]string{}, Checked: map[string]int{}, Duplicated: map[string]int{}}}
}

// Failures names what failed the run: each broken invariant, "lost", and
// each fault kind that was required but not injected or injected but never bit.
func (r Result) Failures() []string {
	out := slices.Sorted(maps.Keys(r.Violations))
	if r.Lost > 0 {
		out = append(out, "lost")
	}
	for _, k := range RequiredKinds {
		if r.Injected[k] == 0 {
			out = append(out, "fault-not-injected:"+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Injected)) {
		if r.Bit[k] == 0 {
			out = append(out, "fault-never-bit:"+k)
		}
	}
	return out
}

// OK reports whether the run passed.
func (r Result) OK() bool { return len(r.Failures()) == 0 }

// Add sums o into r (for several runs).
func (r *Result) Add(o Result) {
	r.Faults += o.Faults
	r.RootEvents += o.RootEvents
	r.Objects += o.Objects
	r.Records += o.Records
	r.Hostile += o.Hostile
	r.Lost += o.Lost
	r.LostIDs = append(r.LostIDs, o.LostIDs...)
	r.DeadLettered += o.DeadLettered
	r.HostileDLQ += o.HostileDLQ
	for _, m := range [][2]map[string]int{{r.Injected, o.Injected}, {r.Bit, o.Bit}, {r.DLQReasons, o.DLQReasons},
		{r.Checked, o.Checked}, {r.Duplicated, o.Duplicated}, {r.Crashes, o.Crashes}} {
		for k, v := range m[1] {
			m[0][k] += v
		}
	}
	for k, v := range o.Violations {
		r.Violations[k] = append(r.Violations[k], v...)
	}
	r.Deliveries += o.Deliveries
	r.Attempts += o.Attempts
	r.P50, r.P99, r.Max = max(r.P50, o.P50), max(r.P99, o.P99), max(r.Max, o.Max)
	r.Elapsed += o.Elapsed
}

// Line is the one-line summary: faults that bit per kind (bit/injected),
// the input, what the judge found, and time to alert.
func (r Result) Line(runs int) string {
	var bit, dup []string
	for _, k := range slices.Sorted(maps.Keys(r.Injected)) {
		bit = append(bit, fmt.Sprintf("%s=%d/%d", k, r.Bit[k], r.Injected[k]))
	}
	for _, c := range Channels {
		dup = append(dup, fmt.Sprintf("%s=%d", c, r.Duplicated[c]))
	}
	return fmt.Sprintf("chaos: runs=%d faults=%d bit={%s} root_events=%d lost=%d dead_lettered=%d violations=%d duplicated={%s} p99_time_to_alert=%s",
		runs, r.Faults, strings.Join(bit, ","), r.RootEvents, r.Lost, r.DeadLettered, r.NumViolations(), strings.Join(dup, ","), r.P99.Round(10*time.Millisecond))
}

// Details are the lines behind Line: what was checked per invariant, the
// failures, and a few examples of each violation.
func (r Result) Details() string {
	var b strings.Builder
	r.writeChecked(&b)
	fmt.Fprintf(&b, "input: %d objects, %d records, %d root events, %d planted unreadable (%d dead-lettered as expected); %d of %d webhook requests answered 2xx; time to alert p50 %s max %s; crashes %v\n",
		r.Objects, r.Records, r.RootEvents, r.Hostile, r.HostileDLQ, r.Deliveries, r.Attempts, r.P50.Round(time.Millisecond), r.Max.Round(time.Millisecond), r.Crashes)
	if len(r.DLQReasons) > 0 {
		fmt.Fprintf(&b, "dead letters: %v\n", r.DLQReasons)
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(&b, "chaos: FAILED %s\n", strings.Join(f, ","))
	}
	r.writeViolations(&b)
	if r.Lost > 0 {
		fmt.Fprintf(&b, "lost (%d): %s\n", r.Lost, strings.Join(r.LostIDs[:min(len(r.LostIDs), 20)], " "))
	}
	return b.String()
}

const (
	bucket       = "chaos-trail"
	topicRecords = "cloudtrail.records"
	topicFinds   = "cloudtrail.root-activity"
	topicDLQ     = "cloudtrail.dlq"
	topicAlertDL = "rootwatch.alerts.dlq"
	topicState   = "rootwatch.alert-state"
	alertGroup   = "chaos-alert"
)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Run performs one chaos run and returns what the judge found. An error
// means the run itself could not be carried out (setup); failures of the
// pipeline are in the Result (Failures), for the caller to judge.
func Run(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	res := newResult(o.Seed)
	var logMu sync.Mutex
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%s chaos: "+format+"\n", append([]any{time.Since(start).Round(time.Millisecond)}, a...)...)
		}
	}
	if o.TriggerWait <= 0 {
		o.TriggerWait = 30 * time.Second
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, err
	}
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	faults, err := planFaults(rng, o)
	if err != nil {
		return res, err
	}

	// Kafka: the broker process behind our proxy. It stamps every record
	// with its append time and reports every offset commit.
	brokerPort, err := freePort()
	if err != nil {
		return res, err
	}
	direct := "127.0.0.1:" + strconv.Itoa(brokerPort)
	proxy, err := ListenProxy("127.0.0.1:0", direct)
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
	commits := &commitLog{group: alertGroup, topic: topicFinds}
	broker, err := startBroker(filepath.Join(o.Bin, "broker"), []string{"--listen-port", strconv.Itoa(brokerPort),
		"--advertise-port", pport, "--partitions", "3", "--topics", strings.Join([]string{topicRecords, topicFinds, topicDLQ}, ","),
		"--log-append-time", "--log-commits"}, brokerLog, commits.line)
	if err != nil {
		return res, err
	}
	defer stopBroker(broker)
	logf("broker pid %d listening on :%d, reached through proxy %s", broker.Process.Pid, brokerPort, brokerAddr)

	// The judge's reader of every topic; it dials the broker directly, so
	// that faults do not hold it and its traffic is not taken for a client's.
	fol, stopFol, err := follow(ctx, direct, topicRecords, topicFinds, topicDLQ, topicAlertDL, topicState)
	if err != nil {
		return res, err
	}
	defer stopFol()

	// S3 with the generated logs and a few planted unreadable objects.
	fs3 := NewFaultyS3()
	s3srv := httptest.NewServer(fs3)
	defer s3srv.Close()
	s3c := s3test.NewClient(s3srv.URL)
	in, err := upload(ctx, s3c, o.Seed, o.Files, o.RecordsPerFile, o.RootShare)
	if err != nil {
		return res, err
	}
	exp := &expectation{Expected: Expected{Channels: Channels, Objects: in.objects, Hostile: map[string]bool{},
		Messages: map[string][]string{}, SentAt: map[string]time.Time{}}}
	keys, hostile, truth := in.keys, in.hostile, in.truth
	for _, h := range hostile {
		exp.Hostile[h] = true
	}
	exp.Root = truth.Root
	res.Records, res.RootEvents, res.Objects, res.Hostile = in.records, len(truth.Root), len(keys), len(hostile)
	logf("%d files, %d records, %d root events uploaded, %d unreadable objects planted", len(keys), truth.Records, len(truth.Root), len(hostile))

	// The fake channels.
	rec, err := NewRecorder(filepath.Join(o.Dir, "ledger.jsonl"))
	if err != nil {
		return res, err
	}
	defer rec.Close()
	recSrv := httptest.NewServer(rec)
	defer recSrv.Close()

	// SQS: fauxqs, reached by ingest through the recording proxy.
	sq := sqs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: staticCreds{}, BaseEndpoint: aws.String(o.SQSEndpoint)})
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	q, err := sq.CreateQueue(qctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("chaos-%d-%d", o.Seed, time.Now().UnixNano())),
		Attributes: map[string]string{"VisibilityTimeout": "6"}})
	cancel()
	if err != nil {
		return res, fmt.Errorf("create queue: %w", err)
	}
	queueURL := aws.ToString(q.QueueUrl)
	sqsRec := NewSQSRecorder(o.SQSEndpoint)
	sqsSrv := httptest.NewServer(sqsRec)
	defer sqsSrv.Close()

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
		"--sqs-endpoint", sqsSrv.URL, "--s3-endpoint", s3srv.URL, "--s3-path-style", "--region", "us-east-1",
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

	// Sending: every notification goes through send, which records what
	// each SQS message names.
	send := func(keys []string, body string) error {
		for attempt := 0; ; attempt++ {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err := sq.SendMessage(sctx, &sqs.SendMessageInput{QueueUrl: aws.String(queueURL), MessageBody: aws.String(body)})
			cancel()
			if err == nil {
				exp.sent(aws.ToString(out.MessageId), keys, time.Now())
				return nil
			}
			if ctx.Err() != nil || attempt > 20 {
				return fmt.Errorf("send notification: %w", err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Probes: one fresh file per fault that waits for pipeline activity,
	// holding root events when the fault needs alert to send something.
	rootsIn := map[string]int{}
	for _, r := range truth.Root {
		rootsIn[r.Key]++
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	probes := newProbes(rng, keys, rootsIn, faults)
	keys = probes.rest

	// Feed: one notification per 1-3 files (the planted objects among
	// them), shuffled, some sent twice, spread over the first 60% of the
	// fault phase.
	var batches [][]string
	for i := 0; i < len(keys); {
		n := min(1+rng.IntN(3), len(keys)-i)
		batches = append(batches, slices.Clone(keys[i:i+n]))
		i += n
	}
	for _, h := range hostile {
		i := rng.IntN(len(batches))
		batches[i] = append(batches[i], h)
	}
	rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
	type plannedSend struct {
		at   time.Duration
		body string
		keys []string
	}
	var sends []plannedSend
	span := o.Faults * 6 / 10
	for _, b := range batches {
		at := time.Duration(rng.Int64N(int64(span) + 1))
		sends = append(sends, plannedSend{at, notification(rng, bucket, b), b})
		if rng.Float64() < o.DuplicateShare {
			// The duplicate may come before the original: out of order.
			sends = append(sends, plannedSend{time.Duration(rng.Int64N(int64(o.Faults) + 1)), notification(rng, bucket, b), b})
		}
	}
	sort.Slice(sends, func(i, j int) bool { return sends[i].at < sends[j].at })

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	t0 := time.Now()
	var bg sync.WaitGroup
	var sendErr atomic.Value
	bg.Add(1)
	go func() {
		defer bg.Done()
		for _, s := range sends {
			if !sleepUntil(runCtx, t0.Add(s.at)) {
				return
			}
			if err := send(s.keys, s.body); err != nil {
				sendErr.Store(err)
				return
			}
		}
	}()

	// Faults at their planned times, each in its own goroutine.
	fe := &faultEnv{ctx: runCtx, ingest: ingest, alert: alert, broker: broker, proxy: proxy, s3: fs3, rec: rec,
		wait: o.TriggerWait, logf: logf, chanMu: map[string]*sync.Mutex{}}
	for _, c := range Channels {
		fe.chanMu[c] = &sync.Mutex{}
	}
	fe.probe = func(root bool) {
		if keys, body, ok := probes.next(root); ok {
			if err := send(keys, body); err != nil {
				sendErr.Store(err)
			}
		}
	}
	var resMu sync.Mutex
	for _, f := range faults {
		if !sleepUntil(runCtx, t0.Add(f.At)) {
			break
		}
		res.Faults++
		res.Injected[f.Kind]++
		bg.Add(1)
		go func() {
			defer bg.Done()
			if fe.inject(f) {
				resMu.Lock()
				res.Bit[f.Kind]++
				resMu.Unlock()
			}
		}()
	}
	sleepUntil(runCtx, t0.Add(o.Faults))
	bg.Wait() // every fault has ended and every notification was sent
	if err, _ := sendErr.Load().(error); err != nil {
		return res, err
	}
	logf("fault phase over (%d faults, bit %v of %v); waiting up to %s for everything to settle", res.Faults, res.Bit, res.Injected, o.Drain)

	// Drain: until everything is settled, or a violation already decides
	// the run, or the deadline.
	judgeNow := func(final bool) (Verdict, error) {
		obs := &Observed{Deletes: sqsRec.Deletes(), Ledger: rec.Ledger(), Commits: commits.all()}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := fol.catchUp(cctx); err != nil {
			return Verdict{}, err
		}
		obs.Kafka = fol.snapshot()
		e := exp.snapshot()
		return judge(&e, obs, final), nil
	}
	// Once an invariant is broken the run has failed: what is still on its
	// way gets a short grace, so the verdict names what really broke
	// without waiting the whole drain for what a broken stage never sends.
	deadline, broken := time.Now().Add(o.Drain), false
	for {
		v, err := judgeNow(false)
		if err != nil {
			logf("judge: %v", err)
		} else if v.Pending == 0 && v.Lost == 0 {
			logf("everything settled")
			break
		} else if v.NumViolations() > 0 && !broken {
			broken = true
			if grace := time.Now().Add(15 * time.Second); grace.Before(deadline) {
				deadline = grace
			}
			logf("a stage invariant is already broken: %v", slices.Sorted(maps.Keys(v.Violations)))
		}
		if time.Now().After(deadline) || !sleepFor(ctx, time.Second) {
			logf("drain over: %d pending, %d pairs not delivered", v.Pending, v.Lost)
			break
		}
	}
	// A little longer, so late duplicates show up in the count.
	sleepFor(ctx, 2*time.Second)
	v, err := judgeNow(true)
	if err != nil {
		return res, fmt.Errorf("final judgement: %w", err)
	}
	res.Verdict = v
	res.Crashes["ingest"], res.Crashes["alert"] = ingest.crashes, alert.crashes
	res.Elapsed = time.Since(start)
	logf("done: %s", res.Line(1))
	return res, nil
}

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

// expectation is the Expected of a run being built while it runs (the
// messages sent), safe for concurrent use.
type expectation struct {
	mu sync.Mutex
	Expected
}

func (e *expectation) sent(id string, keys []string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.Messages[id] = keys
	for _, k := range keys {
		if _, ok := e.SentAt[k]; !ok {
			e.SentAt[k] = at
		}
	}
}

func (e *expectation) snapshot() Expected {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.Expected
	x.Messages, x.SentAt = maps.Clone(e.Messages), maps.Clone(e.SentAt)
	return x
}

// commitLog collects one group's offset commits on one topic (alert's on
// the findings, the fleet workers' on the plan) from the broker's output.
type commitLog struct {
	group, topic string
	mu           sync.Mutex
	commits      []Commit
}

// line takes one broker output line: "commit <unix-µs> <group> <topic> <partition> <offset>".
func (c *commitLog) line(s string) {
	var us, off int64
	var group, topic string
	var part int32
	if n, _ := fmt.Sscanf(s, "commit %d %s %s %d %d", &us, &group, &topic, &part, &off); n != 5 || group != c.group || topic != c.topic {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits = append(c.commits, Commit{At: time.UnixMicro(us), Partition: part, Offset: off})
}

func (c *commitLog) all() []Commit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commits)
}

// probes are files kept back from the feed; faults send them one at a time.
type probes struct {
	mu        sync.Mutex
	root, any [][]string // each a notification's keys
	bodies    map[string]string
	rest      []string // the files left for the feed
	rng       *rand.Rand
}

// newProbes keeps back one file per fault that sends a probe: for kills of
// alert and channel faults, files holding root events.
func newProbes(rng *rand.Rand, keys []string, rootsIn map[string]int, faults []fault) *probes {
	p := &probes{bodies: map[string]string{}, rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
	wantRoot, wantAny := 0, 0
	for _, f := range faults {
		switch f.Kind {
		case KindKillAlert, KindChannel500, KindChannel429, KindChannelHang:
			wantRoot++
		default:
			wantAny++
		}
	}
	for _, k := range keys {
		switch {
		case len(p.root) < wantRoot && rootsIn[k] > 0:
			p.root = append(p.root, []string{k})
		case len(p.any) < wantAny && len(p.rest) >= len(keys)/2: // the feed keeps at least half
			p.any = append(p.any, []string{k})
		default:
			p.rest = append(p.rest, k)
		}
	}
	for _, l := range [][][]string{p.root, p.any} {
		for _, ks := range l {
			p.bodies[ks[0]] = notification(p.rng, bucket, ks)
		}
	}
	return p
}

// next returns the keys and body of the next probe (a root one when root
// is true and one is left), or a fresh notification of a feed file when
// none is left.
func (p *probes) next(root bool) ([]string, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range []*[][]string{&p.root, &p.any} {
		if !root && l == &p.root && len(p.any) > 0 {
			continue
		}
		if len(*l) > 0 {
			ks := (*l)[0]
			*l = (*l)[1:]
			return ks, p.bodies[ks[0]], true
		}
	}
	if len(p.rest) == 0 {
		return nil, "", false
	}
	ks := []string{p.rest[p.rng.IntN(len(p.rest))]}
	return ks, notification(p.rng, bucket, ks), true
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

// input is what a run puts in its bucket: generated logs, with the
// eventIDs of their records read back, and the planted unreadable objects.
type input struct {
	objects map[string][]string // readable object -> eventIDs of its records
	keys    []string            // the readable objects, as generated
	hostile []string            // the planted unreadable objects
	records int
	truth   gen.Truth
}

// upload creates the run's bucket and fills it (internal/gen with seed,
// files, records per file and root share; then hostileObjects).
func upload(ctx context.Context, s3c *s3.Client, seed uint64, files, perFile int, rootShare float64) (*input, error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := s3c.CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	put := func(key string, body []byte) error {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := s3c.PutObject(pctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
		return err
	}
	in := &input{objects: map[string][]string{}}
	in.truth, err = gen.Generate(gen.Config{Seed: seed, Files: files, RecordsPerFile: perFile, RootShare: rootShare, Workers: 1, Bucket: bucket},
		func(key string, gz []byte) error {
			if cloudtrail.IsDigest(key) {
				return nil
			}
			ids, err := eventIDs(gz)
			if err != nil {
				return fmt.Errorf("read back %s: %w", key, err)
			}
			in.keys = append(in.keys, key)
			in.objects[key] = ids
			in.records += len(ids)
			return put(key, gz)
		})
	if err != nil {
		return nil, fmt.Errorf("generate logs: %w", err)
	}
	for _, h := range hostileObjects() {
		if err := put(h.key, h.body); err != nil {
			return nil, fmt.Errorf("put %s: %w", h.key, err)
		}
		in.hostile = append(in.hostile, h.key)
	}
	return in, nil
}

// eventIDs reads back the eventID of every record of a generated file.
func eventIDs(gz []byte) ([]string, error) {
	r, err := cloudtrail.NewReader(bytes.NewReader(gz), cloudtrail.Options{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var ids []string
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		ids = append(ids, gjson.GetBytes(raw, "eventID").Str)
	}
}

// hostileObject is an object planted in the feed that no reader can take:
// ingest must dead-letter it for a permanent reason and go on.
type hostileObject struct {
	key  string
	body []byte
}

func hostileObjects() []hostileObject {
	key := func(n string) string {
		return "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0000Z_" + n + ".json.gz"
	}
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	rec := `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","accountId":"111122223333"},"eventTime":"2026-01-05T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","eventID":"`
	whole := gz([]byte(`{"Records":[` + rec + `hostile-1"},` + rec + `hostile-2"},` + rec + `hostile-3"}]}`))
	return []hostileObject{
		{key("TRUNCATEDGZIP000"), whole[:len(whole)*2/3]},                  // corrupt
		{key("NOTCLOUDTRAIL000"), gz([]byte(`{"hello":"world","n":[1]}`))}, // not-cloudtrail
	}
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "test", SecretAccessKey: "test", Source: "chaos"}, nil
}

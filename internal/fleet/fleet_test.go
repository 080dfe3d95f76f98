package fleet

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
	rwtest "rootwatch/internal/testutil"
)

// testLogger logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

const bucket = "fleet-trail"

// world is a bucket of generated logs and an in-process Kafka with a plan topic.
type world struct {
	s3     *s3test.Server
	kafka  kafka.Config
	keys   []string         // every log file, sorted
	sizes  map[string]int64 // stored sizes
	recsOf map[string]int64 // records per file
	spec   source.Backfill
	roots  int // findings the logs make: root events and sts:AssumeRoot calls
	recs   int64
}

func newWorld(t *testing.T, files, partitions int, wrap func(http.Handler) http.Handler) *world {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second),
		kfake.SeedTopics(3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	w := &world{kafka: kafka.Config{Brokers: c.ListenAddrs(), ClientID: "fleet-test"}, sizes: map[string]int64{}, recsOf: map[string]int64{}}
	w.s3 = s3test.Start(t, wrap)
	w.s3.Bucket(t, bucket)
	truth, err := gen.Generate(gen.Config{Seed: 3, Files: files, RecordsPerFile: 6, RootShare: 0.05, Workers: 1, Bucket: bucket},
		func(key string, gz []byte) error {
			if cloudtrail.IsDigest(key) {
				return nil
			}
			w.s3.Put(t, bucket, key, gz)
			w.keys = append(w.keys, key)
			w.sizes[key] = int64(len(gz))
			r, err := cloudtrail.NewReader(bytes.NewReader(gz), cloudtrail.Options{})
			if err != nil {
				return err
			}
			defer r.Close()
			for {
				if _, err := r.Next(); err != nil {
					return nil
				}
				w.recsOf[key]++
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(w.keys)
	w.roots, w.recs = len(truth.FindingIDs()), truth.Records
	w.spec, err = source.ParseBackfillURL("s3://"+bucket+"/?from=2026-01-01&to=2026-01-31", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := EnsureTopics(ctx, w.kafka, DefaultTopic, partitions, 1); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) plan(t *testing.T, ctx context.Context, o PlanOptions) (PlanSummary, error) {
	t.Helper()
	o.Kafka, o.S3, o.Spec = w.kafka, w.s3.Client, w.spec
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	return RunPlan(ctx, o)
}

// planned reads every item in the plan topic, with where it is.
type plannedMsg struct {
	Item
	partition int
	offset    int64
}

func (w *world) items(t *testing.T) []plannedMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	offs, err := kafka.TopicOffsets(ctx, w.kafka, DefaultTopic)
	if err != nil {
		t.Fatal(err)
	}
	var out []plannedMsg
	for p, o := range offs {
		err := kafka.ReadPartition(ctx, w.kafka, DefaultTopic, p, o.First, o.End, func(m kafka.Message) error {
			it, err := DecodeItem(m.Value)
			if err != nil {
				t.Errorf("partition %d offset %d: %v", p, m.Offset, err)
				return nil
			}
			out = append(out, plannedMsg{it, p, m.Offset})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// checkPlan checks that the items are numbered 0..n-1 once each, each on
// its partition, and that they name every log file exactly once.
func (w *world) checkPlan(t *testing.T, items []plannedMsg, partitions, itemObjects int) {
	t.Helper()
	sort.Slice(items, func(i, j int) bool { return items[i].Seq < items[j].Seq })
	for i, it := range items {
		if it.Seq != int64(i) {
			t.Fatalf("item seqs are not 0..%d once each: position %d holds seq %d", len(items)-1, i, it.Seq)
		}
		if it.partition != Partition(it.Seq, partitions) {
			t.Errorf("item %d on partition %d, want %d", it.Seq, it.partition, Partition(it.Seq, partitions))
		}
	}
	covered := map[string]int{}
	for _, it := range items {
		n := 0
		for _, k := range w.keys {
			if strings.HasPrefix(k, it.Prefix) && k > it.After && k <= it.Last {
				covered[k]++
				n++
			}
		}
		if n != it.Objects || n == 0 || n > itemObjects {
			t.Errorf("%s covers %d keys (want its count, 1..%d)", it, n, itemObjects)
		}
	}
	for _, k := range w.keys {
		if covered[k] != 1 {
			t.Errorf("%s is in %d items, want 1", k, covered[k])
		}
	}
}

// Re-running the planner after a stop neither loses nor duplicates items:
// killed after writing its record and part of a batch, after writing
// nothing of it, or stopped between batches, the next run completes the
// plan, and a run after completion adds nothing.
func TestPlanResumesWithoutLossOrDuplicates(t *testing.T) {
	const partitions = 5
	w := newWorld(t, 120, partitions, nil)
	realWrite := func(ctx context.Context, msgs []kafkago.Message) error {
		wr, err := kafka.NewWriter(w.kafka, DefaultTopic, kafka.WriterOptions{MaxAttempts: 1, BatchTimeout: time.Millisecond})
		if err != nil {
			return err
		}
		defer wr.Close()
		wr.Balancer = partitionBalancer{}
		return wr.WriteMessages(ctx, msgs...)
	}
	// A crash (at the at-th write of items): keep(n) of its n items written.
	runCrashing := func(name string, at int, keep func(n int) int) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		calls := 0
		sum, err := w.plan(t, ctx, PlanOptions{ItemObjects: 3, BatchItems: 4, writeItems: func(wctx context.Context, msgs []kafkago.Message) error {
			calls++
			if calls < at {
				return realWrite(wctx, msgs)
			}
			n := keep(len(msgs))
			if n > 0 {
				if err := realWrite(wctx, msgs[:n]); err != nil {
					return err
				}
			}
			cancel() // the process dies here
			return errors.New("killed")
		}})
		if err == nil || sum.Complete {
			t.Fatalf("%s: the crashed run reported %+v, %v", name, sum, err)
		}
	}
	runCrashing("fresh plan, crash in batch 3 after half its items", 3, func(n int) int { return n / 2 })

	// A stop (SIGTERM) after two writes (the recovery of the half batch,
	// and one more): the batch it was writing is left to the next run.
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	_, err := w.plan(t, ctx, PlanOptions{ItemObjects: 3, BatchItems: 4, writeItems: func(wctx context.Context, msgs []kafkago.Message) error {
		calls++
		err := realWrite(wctx, msgs)
		if calls == 2 {
			cancel()
		}
		return err
	}})
	cancel()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("stopped run: %v", err)
	}
	runCrashing("resumed, crash in its first batch before any item", 1, func(int) int { return 0 })
	runCrashing("resumed, crash in batch 2 after all but one item", 2, func(n int) int { return n - 1 })

	sum, err := w.plan(t, context.Background(), PlanOptions{ItemObjects: 3, BatchItems: 4})
	if err != nil || !sum.Complete || !sum.Resumed || sum.WasComplete {
		t.Fatalf("final run: %+v, %v", sum, err)
	}
	items := w.items(t)
	if int64(len(items)) != sum.Items || sum.Objects != int64(len(w.keys)) {
		t.Fatalf("plan says %d items, %d objects; the topic holds %d items, the bucket %d objects", sum.Items, sum.Objects, len(items), len(w.keys))
	}
	w.checkPlan(t, items, partitions, 3)

	again, err := w.plan(t, context.Background(), PlanOptions{ItemObjects: 3, BatchItems: 4})
	if err != nil || !again.WasComplete || again.Items != sum.Items {
		t.Fatalf("a run after completion: %+v, %v", again, err)
	}
	if n := len(w.items(t)); n != len(items) {
		t.Fatalf("a run after completion wrote %d items", n-len(items))
	}

	// Another spec against the same topic is refused.
	w.spec.Prefix = "elsewhere/"
	if _, err := w.plan(t, context.Background(), PlanOptions{}); err == nil || !strings.Contains(err.Error(), "holds the plan of s3://"+bucket+"/?from=") {
		t.Fatalf("another spec on the same plan topic: %v", err)
	}
}

// heldS3 holds every GET of one key until release is closed.
type heldS3 struct {
	key     string
	release chan struct{}
	held    atomic.Bool
}

func (h *heldS3) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/"+h.key) {
			h.held.Store(true)
			select {
			case <-h.release:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(rw, r)
	})
}

func (w *world) committed(t *testing.T, partitions int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := kafka.CommittedOffsets(ctx, w.kafka, DefaultGroup, DefaultTopic, partitions)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) worker(t *testing.T, ctx context.Context, m *Metrics) (chan WorkerSummary, chan error) {
	t.Helper()
	sink, err := kafka.NewSink(w.kafka, kafka.SinkOptions{Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	sums, errs := make(chan WorkerSummary, 1), make(chan error, 1)
	go func() {
		defer sink.Close()
		sum, err := RunWorker(ctx, WorkerOptions{
			Common: pipeline.Common{Sink: sink, Logger: testLogger(t), Workers: 2, ShutdownGrace: 5 * time.Second},
			Kafka:  w.kafka, S3: w.s3.Client, MaxInFlight: 8, SessionTimeout: 2 * time.Second,
			CommitEvery: 50 * time.Millisecond, StatsEvery: 100 * time.Millisecond, FleetMetrics: m,
		})
		sums <- sum
		errs <- err
	}()
	return sums, errs
}

// A worker commits, per partition, only up to the oldest item not done:
// with one object of an item held in S3, every later item of its partition
// is read and acknowledged, yet the commit stays at the held item; once it
// is released, everything is committed, and the worker leaves on its own
// because the backfill is complete. An item that is not an item, and an
// object that is not CloudTrail, are dead-lettered with the item and
// passed. The status, from Kafka alone, then says complete.
func TestWorkerCommitsOnlyDoneItems(t *testing.T) {
	const partitions = 3
	hold := &heldS3{release: make(chan struct{})}
	w := newWorld(t, 90, partitions, hold.wrap)
	w.s3.Put(t, bucket, "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0000Z_NOTCLOUDTRAIL.json.gz",
		gzipped(t, `{"hello":"world"}`))
	sum, err := w.plan(t, context.Background(), PlanOptions{ItemObjects: 4})
	if err != nil || !sum.Complete {
		t.Fatalf("plan: %+v, %v", sum, err)
	}
	items := w.items(t)
	// Hold the first object of the item at offset 2 of partition 0.
	var held plannedMsg
	for _, it := range items {
		if it.partition == 0 && it.offset == 2 {
			held = it
		}
	}
	for _, k := range w.keys {
		if strings.HasPrefix(k, held.Prefix) && k > held.After {
			hold.key = k
			break
		}
	}
	if hold.key == "" {
		t.Fatal("no item at partition 0 offset 2")
	}
	// And a message in the plan topic that is not an item (partition 1).
	bad, err := kafka.NewWriter(w.kafka, DefaultTopic, kafka.WriterOptions{BatchTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	bad.Balancer = partitionBalancer{}
	if err := bad.WriteMessages(context.Background(), kafkago.Message{Value: []byte(`{"not":"an item"}`), Partition: 1}); err != nil {
		t.Fatal(err)
	}
	bad.Close()
	total := int64(len(items) + 1)

	m := NewMetrics(nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sums, errs := w.worker(t, ctx, m)
	ends := func() []int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offs, err := kafka.TopicOffsets(ctx, w.kafka, DefaultTopic)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int64, len(offs))
		for i, o := range offs {
			out[i] = o.End
		}
		return out
	}()
	rwtest.WaitFor(t, 60*time.Second, "every object but the held one in Kafka, the other partitions committed, the held one up to its item", func() bool {
		c := w.committed(t, partitions)
		if c[0] > held.offset {
			t.Fatalf("partition 0 committed %d, past the held item at offset %d", c[0], held.offset)
		}
		return kafkatest.Count(t, w.kafka, kafka.TopicRecords) == w.recs-w.recsOf[hold.key] &&
			c[0] == held.offset && c[1] == ends[1] && c[2] == ends[2]
	})
	if later := len(items)/partitions - 1 - int(held.offset); later < 1 {
		t.Fatalf("no item after the held one on partition 0 (%d items)", len(items))
	}
	if !hold.held.Load() {
		t.Fatal("the held object was never asked for")
	}
	select {
	case s := <-sums:
		t.Fatalf("the worker stopped with an item in flight: %+v, %v", s, <-errs)
	default:
	}
	// The status, meanwhile: one worker in the group, one item in flight.
	onZero := int64(0)
	for _, it := range items {
		if it.partition == 0 {
			onZero++
		}
	}
	var st Status
	rwtest.WaitFor(t, 30*time.Second, "the status: all planned, done up to the held item, one in flight, one worker live", func() bool {
		st, err = ReadStatus(context.Background(), StatusOptions{Kafka: w.kafka})
		if err != nil {
			t.Fatal(err)
		}
		return st.Planned == total && st.Done == total-(onZero-held.offset) && st.InFlight == 1 && st.LiveWorkers == 1 && !st.Complete()
	})
	// Someone watches (log lines) until the backfill is complete.
	var watched rwtest.SyncBuffer
	watchErr := make(chan error, 1)
	go func() {
		_, err := Watch(context.Background(), StatusOptions{Kafka: w.kafka}, &watched, false, 50*time.Millisecond)
		watchErr <- err
	}()
	rwtest.WaitFor(t, 30*time.Second, "a progress line while the item is held", func() bool {
		return strings.Contains(watched.String(), "fleet progress: items="+itoa(st.Done)+"/"+itoa(total)+" in_flight=1 ")
	})
	close(hold.release)
	var ws WorkerSummary
	select {
	case ws = <-sums:
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not leave once the backfill was complete")
	}
	if err := <-errs; err != nil || !ws.Complete || ws.DeadLetteredItems != 1 || ws.DeadLettered != 1 {
		t.Fatalf("worker: %+v, %v", ws, err)
	}
	select {
	case err := <-watchErr:
		if err != nil || !strings.Contains(watched.String(), "complete=true") {
			t.Errorf("watch: %v\n%s", err, watched.String())
		}
	case <-time.After(30 * time.Second):
		t.Error("the watch did not end once the backfill was complete")
	}
	if c := w.committed(t, partitions); !slices.Equal(c, ends) {
		t.Fatalf("committed %v, want the ends %v", c, ends)
	}
	if n := kafkatest.Count(t, w.kafka, kafka.TopicRecords); n != w.recs {
		t.Errorf("%d records in Kafka, want %d", n, w.recs)
	}
	if n := kafkatest.Count(t, w.kafka, kafka.TopicRootActivity); n != int64(w.roots) {
		t.Errorf("%d findings in Kafka, want %d", n, w.roots)
	}
	var reasons []string
	for _, r := range kafkatest.ReadAll(t, w.kafka, kafka.TopicDLQ, 2, 10*time.Second) {
		var e pipeline.DLQEntry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatal(err)
		}
		if e.Item == "" {
			t.Errorf("dead letter without its item: %s", r.Value)
		}
		reasons = append(reasons, e.Reason)
	}
	slices.Sort(reasons)
	if want := []string{"not-cloudtrail", "unknown-format"}; !slices.Equal(reasons, want) {
		t.Errorf("dead letters %v, want %v", reasons, want)
	}

	st, err = ReadStatus(context.Background(), StatusOptions{Kafka: w.kafka})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() || st.Planned != total || st.Done != total || st.Records != w.recs || st.Findings != int64(w.roots) ||
		st.Workers != 1 || st.LiveWorkers != 0 || st.DeadLetteredItems != 1 || st.PlannedObjects != int64(len(w.keys)+1) {
		t.Errorf("status %+v", st)
	}
	rep := st.Report()
	for _, want := range []string{"backfill cloudtrail.backfill: s3://fleet-trail/?from=2026-01-01&to=2026-01-31, planned,",
		"group rootwatch-backfill: " + itoa(total) + " items done, 0 in flight, 0 to do", "complete=true",
		"fleet progress: items=" + itoa(total) + "/" + itoa(total) + " in_flight=0 objects="} {
		if !strings.Contains(rep, want) {
			t.Errorf("report lacks %q:\n%s", want, rep)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	z.Write([]byte(s))
	z.Close()
	return b.Bytes()
}

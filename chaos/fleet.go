package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"rootwatch/internal/source/s3test"
)

// The fleet case: a backfill planned into Kafka (ingest --plan) and read by
// several worker processes (ingest --source kafka://…) in one consumer
// group, one of them SIGKILLed in the middle.
const (
	topicPlan  = "cloudtrail.backfill"
	fleetGroup = "chaos-fleet"
)

// FleetOptions configure one fleet run.
type FleetOptions struct {
	Seed     uint64
	Bin, Dir string
	// Input: generated CloudTrail files and two planted unreadable objects.
	Files, RecordsPerFile int
	RootShare             float64
	// Workers are the worker processes (at least 3); Partitions those of
	// the plan topic; ItemObjects the planner's --item-objects.
	Workers, Partitions, ItemObjects int
	// KillAt is the share of the items committed before one worker is
	// SIGKILLed, right after S3 answered it a GET (default 1/3).
	KillAt float64
	// Timeout bounds the run once the workers started (default 3m).
	Timeout time.Duration
	Log     io.Writer
}

// FleetResult is what a fleet run came to.
type FleetResult struct {
	Seed                                  uint64
	Objects, Records, RootEvents, Hostile int
	Workers                               int
	// Killed names the worker SIGKILLed ("": none was).
	Killed string
	FleetVerdict
	Status  string // what ingest --status printed at the end
	Elapsed time.Duration
}

// Failures names what failed the run: each broken invariant, "lost", and a
// kill that hit nothing (no item in flight).
func (r FleetResult) Failures() []string {
	out := slices.Sorted(maps.Keys(r.Violations))
	if r.Lost > 0 {
		out = append(out, "lost")
	}
	if r.Killed == "" {
		out = append(out, "fault-not-injected:kill-worker")
	} else if r.InFlightAtKill == 0 {
		out = append(out, "fault-never-bit:kill-worker")
	}
	return out
}

// OK reports whether the run passed.
func (r FleetResult) OK() bool { return len(r.Failures()) == 0 }

// Line is the one-line summary.
func (r FleetResult) Line() string {
	return fmt.Sprintf("chaos fleet: workers=%d killed=%s items=%d in_flight_at_kill=%d objects=%d records=%d root_events=%d lost=%d dead_lettered=%d duplicated_records=%d duplicated_items=%d violations=%d elapsed=%s",
		r.Workers, r.Killed, r.Items, r.InFlightAtKill, r.Objects, r.Records, r.RootEvents, r.Lost, r.DeadLettered,
		r.DuplicatedRecords, r.DuplicatedItems, r.NumViolations(), r.Elapsed.Round(100*time.Millisecond))
}

// Details are the lines behind Line.
func (r FleetResult) Details() string {
	var b strings.Builder
	r.writeChecked(&b)
	fmt.Fprintf(&b, "input: %d objects, %d records, %d root events, %d planted unreadable (%d dead-lettered as expected); dead letters %v\n",
		r.Objects, r.Records, r.RootEvents, r.Hostile, r.HostileDLQ, r.DLQReasons)
	if r.Status != "" {
		fmt.Fprintf(&b, "status:\n%s", r.Status)
	}
	if f := r.Failures(); len(f) > 0 {
		fmt.Fprintf(&b, "chaos fleet: FAILED %s\n", strings.Join(f, ","))
	}
	r.writeViolations(&b)
	return b.String()
}

// workerS3 is one worker's S3 endpoint in front of the shared bucket: it
// notes which objects that worker asked for, and tells onGet after each GET
// it answered (flushed), with the worker's name.
type workerS3 struct {
	name  string
	inner http.Handler
	onGet *oneShot[string]
	mu    sync.Mutex
	gets  map[string]bool
}

func (s *workerS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := objectKey(r.URL.Path)
	if r.Method != http.MethodGet || key == "" || r.URL.Query().Has("list-type") {
		s.inner.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	s.gets[key] = true
	s.mu.Unlock()
	s.inner.ServeHTTP(w, r)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	s.onGet.Fire(s.name)
}

func (s *workerS3) got() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.gets)
}

// RunFleet runs the fleet case: generated logs in gofakes3, the broker in
// its own process, the planner run (and run again, which must find the plan
// complete and add nothing), then Workers worker processes, one of them
// SIGKILLed right after S3 answered it a GET once KillAt of the items were
// committed; the others must finish the backfill and leave by themselves.
// Then the judge (judgeFleet) and ingest --status. An error means the run
// could not be carried out; the pipeline's failures are in the result.
func RunFleet(ctx context.Context, o FleetOptions) (FleetResult, error) {
	start := time.Now()
	res := FleetResult{Seed: o.Seed, Workers: o.Workers}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "%s chaos fleet: "+format+"\n", append([]any{time.Since(start).Round(time.Millisecond)}, a...)...)
		}
	}
	switch {
	case o.Workers < 3:
		return res, fmt.Errorf("fleet: %d workers; at least 3 (one is killed, the others share its work)", o.Workers)
	case o.Partitions < o.Workers:
		return res, fmt.Errorf("fleet: %d partitions for %d workers", o.Partitions, o.Workers)
	}
	if o.KillAt <= 0 {
		o.KillAt = 1.0 / 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return res, err
	}

	// The broker, reached directly; it reports every offset commit.
	port, err := freePort()
	if err != nil {
		return res, err
	}
	brokerAddr := "127.0.0.1:" + strconv.Itoa(port)
	brokerLog, err := openLog(filepath.Join(o.Dir, "broker.log"))
	if err != nil {
		return res, err
	}
	defer brokerLog.Close()
	commits := &commitLog{group: fleetGroup, topic: topicPlan}
	broker, err := startBroker(filepath.Join(o.Bin, "broker"), []string{"--listen-port", strconv.Itoa(port), "--partitions", "3",
		"--topics", strings.Join([]string{topicRecords, topicFinds, topicDLQ}, ","), "--log-append-time", "--log-commits"}, brokerLog, commits.line)
	if err != nil {
		return res, err
	}
	defer stopBroker(broker)
	fol, stopFol, err := follow(ctx, brokerAddr, topicRecords, topicFinds, topicDLQ, topicPlan)
	if err != nil {
		return res, err
	}
	defer stopFol()

	// The bucket, and an S3 endpoint for the planner and one per worker.
	backend := gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning()).Server()
	plannerS3 := httptest.NewServer(backend)
	defer plannerS3.Close()
	s3c := s3test.NewClient(plannerS3.URL)
	in, err := upload(ctx, s3c, o.Seed, o.Files, o.RecordsPerFile, o.RootShare)
	if err != nil {
		return res, err
	}
	exp := &FleetExpected{Objects: in.objects, Hostile: map[string]bool{}, Partitions: o.Partitions}
	for _, h := range in.hostile {
		exp.Hostile[h] = true
	}
	truth := in.truth
	res.Records = in.records
	exp.Root = truth.Root
	res.Objects, res.RootEvents, res.Hostile = len(exp.Objects), len(truth.Root), len(exp.Hostile)
	logf("%d files, %d records, %d root events uploaded, %d unreadable objects planted; broker pid %d on %s",
		res.Objects, res.Records, res.RootEvents, res.Hostile, broker.Process.Pid, brokerAddr)

	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1",
		"AWS_EC2_METADATA_DISABLED=true", "GOTRACEBACK=all")
	ingest := filepath.Join(o.Bin, "ingest")
	common := []string{"--brokers", brokerAddr, "--s3-path-style", "--region", "us-east-1", "--log-level", "info", "--kafka-wait", "30s"}
	var settled []string

	// The planner, then the planner again: the plan is complete, nothing is added.
	plannerLog, err := openLog(filepath.Join(o.Dir, "planner.log"))
	if err != nil {
		return res, err
	}
	defer plannerLog.Close()
	plan := func() error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(pctx, ingest, append([]string{"--source", "s3://" + bucket + "/?from=2026-01-05&to=2026-01-12",
			"--sink", "kafka", "--plan", "--create-topics", "--replication-factor", "1",
			"--backfill-partitions", strconv.Itoa(o.Partitions), "--item-objects", strconv.Itoa(o.ItemObjects),
			"--s3-endpoint", plannerS3.URL}, common...)...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, plannerLog, plannerLog
		return cmd.Run()
	}
	if err := plan(); err != nil {
		return res, fmt.Errorf("planner: %w (see %s)", err, filepath.Join(o.Dir, "planner.log"))
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = fol.catchUp(pctx)
	cancel()
	if err != nil {
		return res, err
	}
	planned := len(fol.snapshot().Items)
	if err := plan(); err != nil {
		settled = append(settled, fmt.Sprintf("the planner run again on a complete plan failed: %v", err))
	}
	pctx, cancel = context.WithTimeout(ctx, 30*time.Second)
	err = fol.catchUp(pctx)
	cancel()
	if err != nil {
		return res, err
	}
	if again := len(fol.snapshot().Items); again != planned {
		settled = append(settled, fmt.Sprintf("the planner run again on a complete plan added %d items", again-planned))
	}
	logf("planned %d items (the planner run again added none: %v)", planned, len(fol.snapshot().Items) == planned)

	// The workers, each with its own S3 endpoint.
	var onGet oneShot[string]
	fronts := map[string]*workerS3{}
	workers := map[string]*proc{}
	var names []string
	for i := range o.Workers {
		name := fmt.Sprintf("worker-%d", i+1)
		names = append(names, name)
		f := &workerS3{name: name, inner: backend, onGet: &onGet, gets: map[string]bool{}}
		srv := httptest.NewServer(f)
		defer srv.Close()
		fronts[name] = f
		lf, err := openLog(filepath.Join(o.Dir, name+".log"))
		if err != nil {
			return res, err
		}
		defer lf.Close()
		workers[name] = &proc{name: name, path: ingest, env: env, log: lf, once: true, args: append([]string{
			"--source", "kafka://" + topicPlan, "--sink", "kafka", "--group", fleetGroup, "--s3-endpoint", srv.URL,
			"--workers", "2", "--max-inflight", "4", "--session-timeout", "3s", "--shutdown-grace", "15s",
			"--batch-timeout", "5ms", "--compression", "none"}, common...)}
	}
	runCtx, stopRun := context.WithTimeout(ctx, o.Timeout)
	defer stopRun()
	for _, name := range names {
		if err := workers[name].start(); err != nil {
			return res, err
		}
		defer workers[name].stop(5 * time.Second)
	}
	logf("%d workers started", len(names))

	// The kill: once KillAt of the items are committed, the worker S3
	// answers next is SIGKILLed right after that GET.
	var kill time.Time
	var killed string
	killedCh := make(chan struct{})
	for committedItems(commits.all()) < int64(o.KillAt*float64(planned)) {
		if !sleepFor(runCtx, 50*time.Millisecond) {
			return res, fmt.Errorf("fleet: %d of %d items committed within %s: the workers make no progress", committedItems(commits.all()), planned, o.Timeout)
		}
	}
	onGet.Arm(func(name string) {
		workers[name].kill()
		kill, killed = time.Now(), name
		close(killedCh)
	})
	select {
	case <-killedCh:
		res.Killed = killed
		logf("%s SIGKILLed after a GET, %d of %d items committed", killed, committedItems(commits.all()), planned)
	case <-time.After(30 * time.Second):
		onGet.Disarm()
		logf("no GET within 30s of arming the kill: nobody was killed")
	}

	// The others finish and leave by themselves.
	for _, name := range names {
		if name == killed {
			continue
		}
		select {
		case <-workers[name].exited:
			if err := workers[name].exitErr; err != nil {
				settled = append(settled, fmt.Sprintf("%s exited with %v", name, err))
			}
		case <-runCtx.Done():
			settled = append(settled, fmt.Sprintf("%s did not leave within %s: the backfill did not complete", name, o.Timeout))
		}
	}
	logf("the surviving workers left")

	// The status, from Kafka alone.
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	cmd := exec.CommandContext(sctx, ingest, "--source", "kafka://"+topicPlan, "--status", "--group", fleetGroup, "--progress", "none",
		"--brokers", brokerAddr, "--log-level", "warn")
	var out, errOut bytes.Buffer
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &out, &errOut
	err = cmd.Run()
	cancel()
	res.Status = out.String()
	if err != nil || !strings.Contains(res.Status, "complete=true") || !strings.Contains(res.Status, fmt.Sprintf("items=%d/%d ", planned, planned)) {
		settled = append(settled, fmt.Sprintf("ingest --status (%v) does not say %d/%d items, complete: %q %s", err, planned, planned, res.Status, errOut.String()))
	}

	// The judge.
	jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := fol.catchUp(jctx); err != nil {
		return res, err
	}
	ends, err := fol.endOffsets(jctx)
	if err != nil {
		return res, err
	}
	obs := &FleetObserved{Kafka: fol.snapshot(), Commits: commits.all(), Ends: map[int32]int64{}, Kill: kill, Settled: settled}
	for tp, end := range ends {
		if tp.topic == topicPlan {
			obs.Ends[tp.partition] = end
		}
	}
	if killed != "" {
		obs.KilledGets = fronts[killed].got()
	}
	res.FleetVerdict = judgeFleet(exp, obs)
	res.Elapsed = time.Since(start)
	logf("done: %s", res.Line())
	return res, nil
}

// committedItems is how many items the group has committed: the sum over
// partitions of the highest offset committed.
func committedItems(cs []Commit) int64 {
	last := map[int32]int64{}
	for _, c := range cs {
		last[c.Partition] = max(last[c.Partition], c.Offset)
	}
	var n int64
	for _, o := range last {
		n += o
	}
	return n
}

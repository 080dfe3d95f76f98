package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"

	"rootwatch/internal/backoff"
	"rootwatch/internal/failure"
	"rootwatch/internal/kafka"
	"rootwatch/internal/periodic"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
)

// Defaults of WorkerOptions.
const (
	// DefaultMaxInFlight is how many items one worker reads at once.
	DefaultMaxInFlight = 32
	// DefaultSessionTimeout is how long the group waits for a silent worker
	// before its partitions move to the others.
	DefaultSessionTimeout = 10 * time.Second
	// DefaultCommitEvery is how often done items are committed.
	DefaultCommitEvery = time.Second
	// DefaultStatsEvery is how often a worker publishes its counters and
	// looks whether the whole backfill is done.
	DefaultStatsEvery = 5 * time.Second
)

// WorkerOptions configure RunWorker.
type WorkerOptions struct {
	// Common: the sink (Kafka), workers, grace...; objects are read and
	// settled as in a single-process backfill (pipeline.Settler).
	pipeline.Common
	Kafka kafka.Config
	// Topic is the plan topic (DefaultTopic), Group the consumer group (DefaultGroup).
	Topic, Group string
	S3           source.S3Client
	// MaxInFlight is the most items read at once (DefaultMaxInFlight); it
	// also bounds how far a partition's reading runs ahead of its oldest
	// unfinished item. Items start only while the objects they hold fit in
	// twice what the stages read at once (2 × Common.InFlightObjects:
	// S3Inflight + Workers + Queue), so a
	// worker never takes more items than it is about to read: the rest stay
	// in Kafka for the others, and a rebalance or a kill finds few in flight.
	MaxInFlight int
	// Retries, RetryBackoff: a transient failure (an object, an item's
	// listing) is tried again this often before the worker stops with an
	// error, its item left for another worker (pipeline.SettlerOptions).
	Retries      int
	RetryBackoff time.Duration
	// Rate caps the objects this worker starts per second (0: no cap).
	Rate float64
	// SessionTimeout: see DefaultSessionTimeout.
	SessionTimeout time.Duration
	// CommitEvery, StatsEvery: see the defaults.
	CommitEvery, StatsEvery time.Duration
	// ProgressEvery is how often a log line says what this worker did and
	// how far the fleet is (default 30s).
	ProgressEvery time.Duration
	// KeepRunning keeps the worker in the group once the backfill is done;
	// by default it leaves and RunWorker returns with Complete set.
	KeepRunning bool
	// FleetMetrics, when set, are kept up to date.
	FleetMetrics *Metrics
	// ID names this worker in the state topic and is its Kafka client id,
	// so the status knows which workers are in the group (default
	// <client id>-<host>-<pid>-<start time>).
	ID string
}

// WorkerSummary is what one worker did.
type WorkerSummary struct {
	Items, DeadLetteredItems                        int64
	Objects, DeadLettered, Records, Findings, Bytes int64
	// Complete: the worker stopped because every planned item is done.
	Complete bool
}

// errFleetDone ends a worker whose backfill is done.
var errFleetDone = errors.New("the backfill is complete")

// RunWorker reads the plan topic's items as one member of the consumer
// group until ctx ends, the backfill is complete (the plan is complete and
// every item committed), or a failure that must stop it (a transient
// failure past its retries). An item is done once every object it names
// is settled (acknowledged by Kafka, or dead-lettered); per partition, the
// offset committed is the one of the oldest item not done, so a worker
// killed at any moment loses nothing: its partitions move to the others,
// which read again only its items that were not done. On a rebalance or a
// stop, items in flight get ShutdownGrace to finish before what is done is
// committed and the rest is left to the next owner.
func RunWorker(ctx context.Context, o WorkerOptions) (WorkerSummary, error) {
	w, err := newWorker(o)
	if err != nil {
		return WorkerSummary{}, err
	}
	defer w.state.Close()
	return w.run(ctx)
}

type worker struct {
	o      WorkerOptions
	log    *slog.Logger
	dialer *kafkago.Dialer
	state  *stateWriter
	slots  *semaphore.Weighted // items in flight
	budget int64               // objects the items in flight may hold
	objs   *semaphore.Weighted // of budget
	lim    *rate.Limiter
	retry  backoff.Policy

	set     *pipeline.Settler
	stop    context.CancelCauseFunc
	started time.Time

	items, deadItems, inflight, partitions atomic.Int64
	fleet                                  atomic.Pointer[Status]

	mu        sync.Mutex
	committed Counts // what the items this worker committed (or is committing) produced
}

func newWorker(o WorkerOptions) (*worker, error) {
	o.Topic = cmp.Or(o.Topic, DefaultTopic)
	o.Group = cmp.Or(o.Group, DefaultGroup)
	o.MaxInFlight = positive(o.MaxInFlight, DefaultMaxInFlight)
	o.Retries = positive(o.Retries, pipeline.DefaultBackfillRetries)
	o.RetryBackoff = positive(o.RetryBackoff, pipeline.DefaultBackfillRetryBackoff)
	o.SessionTimeout = positive(o.SessionTimeout, DefaultSessionTimeout)
	o.CommitEvery = positive(o.CommitEvery, DefaultCommitEvery)
	o.StatsEvery = positive(o.StatsEvery, DefaultStatsEvery)
	o.ProgressEvery = positive(o.ProgressEvery, 30*time.Second)
	o.ShutdownGrace = positive(o.ShutdownGrace, pipeline.DefaultShutdownGrace)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = strings.Join([]string{cmp.Or(o.Kafka.ClientID, "rootwatch"), host, strconv.Itoa(os.Getpid()), strconv.FormatInt(time.Now().UnixMilli(), 36)}, "-")
	}
	dialer, err := o.Kafka.Dialer()
	if err != nil {
		return nil, err
	}
	dialer.ClientID = o.ID
	state, err := newStateWriter(o.Kafka, o.Topic)
	if err != nil {
		return nil, err
	}
	budget := int64(2 * o.InFlightObjects())
	w := &worker{o: o, log: o.Logger.With("worker", o.ID), dialer: dialer, state: state,
		slots: semaphore.NewWeighted(int64(o.MaxInFlight)), budget: budget, objs: semaphore.NewWeighted(budget),
		retry: backoff.Policy{Base: o.RetryBackoff, Max: o.RetryBackoff << 6}, started: time.Now()}
	if o.Rate > 0 {
		w.lim = rate.NewLimiter(rate.Limit(o.Rate), 1)
	}
	return w, nil
}

func (w *worker) run(ctx context.Context) (WorkerSummary, error) {
	o := w.o
	runCtx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	w.stop = stop
	w.set = pipeline.NewSettler(runCtx, o.Common, pipeline.SettlerOptions{S3: o.S3, Retries: o.Retries, RetryBackoff: o.RetryBackoff,
		OnFatal: func(err error) { stop(err) }})
	w.publish(ctx, false) // seen from the start (and the writer connected)
	stopStats := periodic.Start(o.StatsEvery, func(final bool) { w.tick(ctx, final) })
	stopLog := periodic.Start(o.ProgressEvery, func(bool) { w.logProgress() })

	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID: o.Group, Brokers: o.Kafka.Brokers, Dialer: w.dialer, Topics: []string{o.Topic},
		// A rebalance (a worker joins or leaves) reaches the members with
		// their next heartbeat: keep it short.
		HeartbeatInterval: max(min(o.SessionTimeout/10, time.Second), 100*time.Millisecond),
		SessionTimeout:    o.SessionTimeout,
		// Room for the members to finish their items in flight on a rebalance.
		RebalanceTimeout: o.SessionTimeout + o.ShutdownGrace,
		JoinGroupBackoff: time.Second,
		StartOffset:      kafkago.FirstOffset,
		Timeout:          10 * time.Second,
	})
	if err != nil {
		w.set.Close()
		stopLog()
		stopStats()
		return WorkerSummary{}, fmt.Errorf("consumer group %s: %w", o.Group, err)
	}
	w.log.Info("joining consumer group", "group", o.Group, "topic", o.Topic, "max_inflight", o.MaxInFlight)
	for {
		gen, err := cg.Next(runCtx)
		if err != nil {
			if runCtx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				break
			}
			w.log.Warn("consumer group", "group", o.Group, "err", err)
			continue
		}
		gen.Start(func(gctx context.Context) { w.generation(gctx, gen) })
	}
	// Closing the group ends the generation: items in flight finish (within
	// ShutdownGrace), what is done is committed, and the member leaves.
	cg.Close()
	w.set.Close()
	stopLog()
	stopStats()

	c := w.set.Counters()
	sum := WorkerSummary{Items: w.items.Load(), DeadLetteredItems: w.deadItems.Load(), Objects: c.Objects.Load(),
		DeadLettered: c.DeadLettered.Load(), Records: c.Records.Load(), Findings: c.Findings.Load(), Bytes: c.Bytes.Load()}
	switch cause := context.Cause(runCtx); {
	case errors.Is(cause, errFleetDone):
		sum.Complete = true
		return sum, nil
	case ctx.Err() != nil:
		return sum, ctx.Err()
	default:
		return sum, cause
	}
}

// partition is one assigned partition in one generation.
type partition struct {
	id        int
	start     int64 // offset committed when assigned (< 0: none)
	committed int64
	win       *pipeline.Window[int64] // positions are next offsets: what to commit

	mu   sync.Mutex
	done map[int64]Counts // items done and not yet committed, by next offset
}

// finish notes what the item before offset next produced, and lets the
// commit pass it.
func (p *partition) finish(seq, next int64, c Counts) {
	p.mu.Lock()
	p.done[next] = c
	p.mu.Unlock()
	p.win.Complete(seq)
}

// take removes and sums the Counts of the items below next (committed).
func (p *partition) take(next int64) Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	var sum Counts
	for off, c := range p.done {
		if off <= next {
			sum.add(c)
			delete(p.done, off)
		}
	}
	return sum
}

// generation reads the partitions assigned in gen until it ends, then lets
// the items in flight finish (ShutdownGrace), commits what is done, and
// returns (kafka-go then moves on to the next generation).
func (w *worker) generation(gctx context.Context, gen *kafkago.Generation) {
	parts := map[int]*partition{}
	ids := []int{}
	for _, pa := range gen.Assignments[w.o.Topic] {
		parts[pa.ID] = &partition{id: pa.ID, start: pa.Offset, committed: pa.Offset, win: pipeline.NewWindow(w.o.MaxInFlight, pa.Offset),
			done: map[int64]Counts{}}
		ids = append(ids, pa.ID)
	}
	w.setPartitions(len(parts))
	w.log.Info("partitions assigned", "generation", gen.ID, "partitions", ids)

	itemCtx, abandon := context.WithCancel(w.set.Context())
	defer abandon()
	readCtx, stopReading := context.WithCancel(gctx)
	defer stopReading()
	var readers, items sync.WaitGroup
	for _, p := range parts {
		readers.Add(1)
		go func() {
			defer readers.Done()
			w.read(readCtx, itemCtx, p, &items)
		}()
	}
	stopCommits := periodic.Start(w.o.CommitEvery, func(bool) { w.commit(gctx, gen, parts) })
	<-gctx.Done()
	stopReading()
	readers.Wait()
	finished := make(chan struct{})
	go func() { items.Wait(); close(finished) }()
	t := time.NewTimer(w.o.ShutdownGrace)
	select {
	case <-finished:
	case <-t.C:
		w.log.Warn("items in flight did not finish within the grace period; left to the partitions' next owners",
			"in_flight", w.inflight.Load(), "grace", w.o.ShutdownGrace)
		abandon()
	}
	t.Stop()
	stopCommits() // the last commit: only what is done
	w.setPartitions(0)
	w.log.Info("partitions released", "generation", gen.ID, "partitions", ids)
}

func (w *worker) setPartitions(n int) {
	w.partitions.Store(int64(n))
	if m := w.o.FleetMetrics; m != nil {
		m.Partitions.Set(float64(n))
	}
}

// read fetches one partition's items and starts each, waiting while the
// partition's window or the worker's item slots are full.
func (w *worker) read(readCtx, itemCtx context.Context, p *partition, items *sync.WaitGroup) {
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: w.o.Kafka.Brokers, Topic: w.o.Topic, Partition: p.id, Dialer: w.dialer,
		MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond, QueueCapacity: w.o.MaxInFlight})
	defer r.Close()
	off := p.start
	if off < 0 {
		off = kafkago.FirstOffset
	}
	if err := r.SetOffset(off); err != nil {
		w.log.Error("plan partition not read", "partition", p.id, "offset", off, "err", err)
		return
	}
	for attempt := 0; ; {
		m, err := r.FetchMessage(readCtx)
		if err != nil {
			if readCtx.Err() != nil {
				return
			}
			w.log.Warn("reading the plan", "partition", p.id, "attempt", attempt+1, "err", err)
			if backoff.Sleep(readCtx, retryPolicy.Delay(attempt)) != nil {
				return
			}
			attempt++
			continue
		}
		attempt = 0
		seq, err := p.win.Add(readCtx, m.Offset+1)
		if err != nil {
			return
		}
		if err := w.slots.Acquire(readCtx, 1); err != nil {
			return
		}
		weight := w.weight(m.Value)
		if err := w.objs.Acquire(readCtx, weight); err != nil {
			w.slots.Release(1)
			return
		}
		items.Add(1)
		w.inflight.Add(1)
		w.gaugeInFlight()
		go func() {
			defer items.Done()
			if c, ok := w.item(itemCtx, p.id, m); ok {
				p.finish(seq, m.Offset+1, c)
			}
			w.inflight.Add(-1)
			w.gaugeInFlight()
			w.objs.Release(weight)
			w.slots.Release(1)
		}()
	}
}

// weight is the share of the object budget an item takes while in flight:
// the objects the planner listed in it (one for what is not an item), at
// most half the budget, so that the next item is listed while the last
// objects of the one before are read.
func (w *worker) weight(value []byte) int64 {
	it, err := DecodeItem(value)
	if err != nil {
		return 1
	}
	return min(max(int64(it.Objects), 1), max(w.budget/2, 1))
}

func (w *worker) gaugeInFlight() {
	if m := w.o.FleetMetrics; m != nil {
		m.InFlight.Set(float64(w.inflight.Load()))
	}
}

// item reads one work item's objects; true once every one is settled,
// with what they produced.
func (w *worker) item(ctx context.Context, part int, m kafkago.Message) (Counts, bool) {
	raw := string(m.Value)
	id := fmt.Sprintf("%s/%d/%d", w.o.Topic, part, m.Offset)
	it, err := DecodeItem(m.Value)
	if err != nil {
		return w.deadLetterItem(id, raw, failure.ReasonUnknownFormat, err)
	}
	objs, err := w.list(ctx, it)
	if err != nil {
		reason, permanent := failure.Classify(err)
		switch {
		case permanent:
			return w.deadLetterItem(id, raw, reason, err)
		case ctx.Err() == nil:
			w.stop(fmt.Errorf("backfill worker stopped: %s: %w", it, err))
		}
		return Counts{}, false
	}
	if len(objs) != it.Objects {
		w.log.Info("item lists differently than when it was planned", "item", id, "planned", it.Objects, "listed", len(objs))
	}
	c, ok := w.readAll(ctx, objs, raw)
	if ok {
		c.Items = 1
		w.items.Add(1)
		if mm := w.o.FleetMetrics; mm != nil {
			mm.Items.WithLabelValues("done").Inc()
		}
	}
	return c, ok
}

// list lists an item's objects, trying a transient failure again.
func (w *worker) list(ctx context.Context, it Item) ([]source.Object, error) {
	var objs []source.Object
	err := w.retry.Retry(ctx, func(attempt int) (bool, error) {
		objs = objs[:0]
		err := source.ListRange(ctx, w.o.S3, it.Bucket, it.Prefix, it.After, it.Last, func(o source.Object) error {
			objs = append(objs, o)
			return nil
		})
		if err == nil {
			return false, nil
		}
		_, permanent := failure.Classify(err)
		again := !permanent && ctx.Err() == nil && attempt < w.o.Retries
		if again {
			w.log.Warn("item listing failed; retrying", "item", it.String(), "attempt", attempt+1, "err", err)
		}
		return again, err
	})
	return objs, err
}

// readAll reads objs through the settler; true when every one was
// settled, with what they produced.
func (w *worker) readAll(ctx context.Context, objs []source.Object, item string) (Counts, bool) {
	var c Counts
	if len(objs) == 0 {
		return c, true
	}
	var mu sync.Mutex
	left, failed := len(objs), false
	done := make(chan struct{})
	finish := func(n int, r pipeline.ReadResult) {
		mu.Lock()
		defer mu.Unlock()
		failed = failed || !r.Settled
		if r.Settled {
			c.Objects++
		}
		if r.DeadLettered {
			c.DeadLettered++
		}
		c.Records += r.Records
		c.Findings += r.Findings
		c.Bytes += r.Bytes
		c.Stored += r.Stored
		if left -= n; left == 0 {
			close(done)
		}
	}
	for i, obj := range objs {
		if w.lim != nil && w.lim.Wait(ctx) != nil {
			finish(len(objs)-i, pipeline.ReadResult{})
			break
		}
		w.set.Read(ctx, obj, item, func(r pipeline.ReadResult) { finish(1, r) })
	}
	<-done
	return c, !failed
}

// deadLetterItem writes a DLQ entry for an item that cannot be read at
// all (not an item, or its listing is denied); true once it is durable.
func (w *worker) deadLetterItem(id, raw, reason string, err error) (Counts, bool) {
	e := pipeline.DLQEntry{Reason: reason, Error: fmt.Sprintf("backfill item %s: %v", id, err), Source: "s3", MessageID: id, Item: raw}
	if werr := pipeline.WriteDLQ(w.set.Context(), w.o.Sink, w.o.Metrics, e); werr != nil {
		w.stop(fmt.Errorf("backfill worker stopped: %w", werr))
		return Counts{}, false
	}
	w.log.Warn("item dead-lettered", "item", id, "reason", reason, "err", err)
	w.items.Add(1)
	w.deadItems.Add(1)
	if m := w.o.FleetMetrics; m != nil {
		m.Items.WithLabelValues("dead-lettered").Inc()
	}
	return Counts{Items: 1, DeadLetteredItems: 1}, true
}

// commit commits, per partition, the offset of the oldest item not done,
// when it moved. Just before, it publishes this worker's counters with
// what those items produced, so that every item committed is counted; an
// item read again (after a kill, or a commit that failed) is counted again,
// as its output is in Kafka twice.
func (w *worker) commit(ctx context.Context, gen *kafkago.Generation, parts map[int]*partition) {
	offs := map[int]int64{}
	var sum Counts
	for id, p := range parts {
		if pos := p.win.Position(); pos > p.committed {
			offs[id] = pos
			sum.add(p.take(pos))
		}
	}
	if len(offs) == 0 {
		return
	}
	w.mu.Lock()
	w.committed.add(sum)
	w.mu.Unlock()
	w.publish(ctx, false)
	if err := gen.CommitOffsets(map[string]map[int]int64{w.o.Topic: offs}); err != nil {
		w.log.Warn("commit failed; items done since the last commit will be committed later or read again", "err", err)
		if m := w.o.FleetMetrics; m != nil {
			m.Commits.WithLabelValues("error").Inc()
		}
		return
	}
	for id, off := range offs {
		parts[id].committed = off
	}
	if m := w.o.FleetMetrics; m != nil {
		m.Commits.WithLabelValues("ok").Inc()
	}
}

// publish writes this worker's counters to the state topic.
func (w *worker) publish(ctx context.Context, stopped bool) {
	w.mu.Lock()
	c := w.committed
	w.mu.Unlock()
	st := workerStats{ID: w.o.ID, StartedAt: w.started.UTC(), UpdatedAt: time.Now().UTC(), Stopped: stopped,
		Partitions: int(w.partitions.Load()), InFlight: w.inflight.Load(), Counts: c}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := w.state.write(pctx, workerPartition, "worker/"+w.o.ID, st); err != nil {
		w.log.Warn("worker counters not published", "err", err)
	}
}

// tick publishes this worker's counters and reads how far the fleet is;
// once the backfill is complete it stops the worker.
func (w *worker) tick(ctx context.Context, final bool) {
	w.publish(ctx, final)
	if final {
		return
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s, err := ReadStatus(tctx, StatusOptions{Kafka: w.o.Kafka, Topic: w.o.Topic, Group: w.o.Group, SkipWorkers: true})
	if err != nil {
		w.log.Warn("fleet status not read", "err", err)
		return
	}
	w.fleet.Store(&s)
	if m := w.o.FleetMetrics; m != nil {
		m.observe(s)
	}
	if s.Complete() && !w.o.KeepRunning && w.inflight.Load() == 0 {
		w.log.Info("the backfill is complete: every planned item is done; leaving the group", "items", s.Planned)
		w.stop(errFleetDone)
	}
}

// logProgress logs what this worker did and how far the fleet is.
func (w *worker) logProgress() {
	c := w.set.Counters()
	args := []any{"items", w.items.Load(), "in_flight", w.inflight.Load(), "partitions", w.partitions.Load(),
		"objects", c.Objects.Load(), "records", c.Records.Load(), "findings", c.Findings.Load(), "dead_lettered", c.DeadLettered.Load()}
	if s := w.fleet.Load(); s != nil {
		args = append(args, "fleet_items_done", s.Done, "fleet_items_planned", s.Planned, "plan_complete", s.PlanComplete)
	}
	w.log.Info("worker progress", args...)
}

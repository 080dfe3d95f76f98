package fleet

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/backoff"
	"rootwatch/internal/kafka"
	"rootwatch/internal/periodic"
	"rootwatch/internal/source"
)

// Defaults of PlanOptions.
const (
	// DefaultBatchItems is the most items written between two planner
	// records.
	DefaultBatchItems = 500
	// DefaultBatchEvery is the longest the planner holds listed items before
	// writing them, so workers start on a slow listing too.
	DefaultBatchEvery = time.Second
	// maxBatchBytes bounds a batch's encoded items: the planner record
	// carries them, and must stay well under Kafka's 1 MB message limit.
	maxBatchBytes = 256 << 10
)

// PlanOptions configure RunPlan.
type PlanOptions struct {
	Kafka kafka.Config
	// Topic is the plan topic (DefaultTopic); it and its StateTopic must exist.
	Topic string
	S3    source.S3Lister
	Spec  source.Backfill
	// ListConcurrency is how many day folders are listed at once
	// (source.DefaultListConcurrency), as in a single-process backfill.
	ListConcurrency int
	// ItemObjects is the most objects in one item (DefaultItemObjects).
	ItemObjects int
	// BatchItems and BatchEvery: see DefaultBatchItems, DefaultBatchEvery.
	BatchItems int
	BatchEvery time.Duration
	// Writer tunes the plan topic's writer (compression); it is always
	// synchronous, acks=all, one attempt (a failed write is checked against
	// the topic and completed, never blindly repeated).
	Writer kafka.WriterOptions
	Logger *slog.Logger
	// ProgressEvery is how often a log line says how far the plan is
	// (default 30s).
	ProgressEvery time.Duration
	Now           func() time.Time

	// writeItems, when set, replaces the plan topic write (tests).
	writeItems func(ctx context.Context, msgs []kafkago.Message) error
}

// PlanSummary is what the plan holds after RunPlan.
type PlanSummary struct {
	// Items, Objects and Bytes count the whole plan so far (earlier runs too).
	Items, Objects, Bytes int64
	// Resumed: an earlier run had started this plan; Recovered items of its
	// last batch were not in the topic and were written by this run.
	Resumed   bool
	Recovered int
	// Complete: every object of the spec is in an item. WasComplete: it
	// already was when this run started.
	Complete, WasComplete bool
	Source                string
}

// retryPolicy spaces the planner's and workers' attempts at Kafka and S3;
// maxAttempts of them (about three minutes) and the planner gives up.
var retryPolicy = backoff.Policy{Base: 500 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.2}

const maxAttempts = 24

// RunPlan lists the spec (Backfill.Walk: ListConcurrency folders at once,
// taken in Position order) and writes it as work items to the plan topic,
// until the whole spec is planned. Items go out in batches: first a planner record naming the batch (and where the
// plan will then stand), then the batch's items, each on partition Seq mod
// partitions. Started again after a stop or a crash, it reads its last
// record, writes whatever of that batch is not in the topic, and lists on
// after it: an item is never lost and never planned twice. Run one planner
// per plan topic at a time.
func RunPlan(ctx context.Context, o PlanOptions) (PlanSummary, error) {
	p, err := newPlanner(o)
	if err != nil {
		return PlanSummary{}, err
	}
	defer p.close()
	return p.run(ctx)
}

type planner struct {
	o      PlanOptions
	items  *kafkago.Writer
	state  *stateWriter
	parts  int
	rec    planRecord // the plan as it stands in Kafka
	batch  []*planned
	bytes  int       // encoded size of batch
	flushd time.Time // when the last batch was written
}

func newPlanner(o PlanOptions) (*planner, error) {
	o.Topic = cmp.Or(o.Topic, DefaultTopic)
	o.ItemObjects = positive(o.ItemObjects, DefaultItemObjects)
	o.BatchItems = positive(o.BatchItems, DefaultBatchItems)
	o.BatchEvery = positive(o.BatchEvery, DefaultBatchEvery)
	o.ProgressEvery = positive(o.ProgressEvery, 30*time.Second)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	wo := o.Writer
	wo.Async, wo.MaxAttempts, wo.RequiredAcks, wo.BatchTimeout = false, 1, "all", 5*time.Millisecond
	items, err := kafka.NewWriter(o.Kafka, o.Topic, wo)
	if err != nil {
		return nil, err
	}
	items.Balancer = partitionBalancer{}
	state, err := newStateWriter(o.Kafka, o.Topic)
	if err != nil {
		items.Close()
		return nil, err
	}
	p := &planner{o: o, items: items, state: state}
	if p.o.writeItems == nil {
		p.o.writeItems = func(ctx context.Context, msgs []kafkago.Message) error { return items.WriteMessages(ctx, msgs...) }
	}
	return p, nil
}

func (p *planner) close() {
	p.items.Close()
	p.state.Close()
}

func (p *planner) run(ctx context.Context) (PlanSummary, error) {
	o := p.o
	offs, err := kafka.TopicOffsets(ctx, o.Kafka, o.Topic)
	if err != nil {
		return PlanSummary{}, err
	}
	p.parts = len(offs)
	rec, found, err := readPlanRecord(ctx, o.Kafka, o.Topic)
	if err != nil {
		return PlanSummary{}, fmt.Errorf("read the plan's state: %w", err)
	}
	sum := PlanSummary{}
	switch {
	case !found:
		if end := sumEnds(offs); end > 0 {
			return sum, fmt.Errorf("plan topic %s holds %d messages but %s has no planner record: it is not a plan this planner can resume; give another --topic-backfill",
				o.Topic, end, StateTopic(o.Topic))
		}
		now := o.Now().UTC()
		p.rec = planRecord{V: 1, Spec: o.Spec, Source: describe(o.Spec), Partitions: p.parts, StartedAt: now, UpdatedAt: now}
		o.Logger.Info("planning backfill", "source", p.rec.Source, "topic", o.Topic, "partitions", p.parts, "item_objects", o.ItemObjects)
	case !samePlan(rec.Spec, o.Spec):
		return sum, fmt.Errorf("plan topic %s holds the plan of %s, not of %s: give another --topic-backfill (or delete both %s and %s)",
			o.Topic, rec.Source, describe(o.Spec), o.Topic, StateTopic(o.Topic))
	case rec.Partitions != p.parts:
		return sum, fmt.Errorf("plan topic %s has %d partitions, %d when the plan started: partitions must not be added during a plan (item seq is on partition seq mod partitions)",
			o.Topic, p.parts, rec.Partitions)
	default:
		p.rec, sum.Resumed = rec, true
		if !rec.Spec.To.Equal(o.Spec.To) {
			o.Logger.Info("the plan keeps the end day it was started with", "to", rec.Spec.To.Format(time.DateOnly), "asked", o.Spec.To.Format(time.DateOnly))
		}
		if rec.Complete {
			o.Logger.Info("the plan is already complete; nothing to do", "topic", o.Topic, "items", rec.Items, "objects", rec.Objects)
			sum.WasComplete = true
			return p.summary(sum), nil
		}
		o.Logger.Info("resuming plan", "source", rec.Source, "after_day", rec.Position.Day, "after", rec.Position.Key, "items", rec.Items)
		if len(rec.Pending) > 0 {
			n, err := p.writeBatch(ctx, rec.Pending, true)
			sum.Recovered = n
			if err != nil {
				return p.summary(sum), err
			}
			o.Logger.Info("last batch of the stopped planner checked", "items", len(rec.Pending), "written_again", n)
		}
	}
	spec := p.rec.Spec
	b := newBuilder(spec, o.ItemObjects, p.rec.Position)
	p.flushd = time.Now()
	stopLog := periodic.Start(o.ProgressEvery, func(bool) {
		o.Logger.Info("plan progress", "items", p.rec.Items, "objects", p.rec.Objects, "bytes", p.rec.Bytes, "day", p.rec.Position.Day)
	})
	err = spec.Walk(ctx, o.S3, p.rec.Position, o.ListConcurrency, func(l source.Listed) error {
		if it := b.add(l); it != nil {
			if err := p.add(ctx, it); err != nil {
				return err
			}
		}
		if len(p.batch) > 0 && time.Since(p.flushd) >= o.BatchEvery {
			return p.flush(ctx)
		}
		return nil
	})
	if err == nil {
		if it := b.flush(); it != nil {
			err = p.add(ctx, it)
		}
	}
	if err == nil {
		err = p.flush(ctx)
	}
	if err == nil {
		p.rec.Complete, p.rec.Pending, p.rec.UpdatedAt = true, nil, o.Now().UTC()
		err = p.writeRecord(ctx)
	}
	stopLog()
	if err != nil {
		return p.summary(sum), err
	}
	o.Logger.Info("plan complete", "items", p.rec.Items, "objects", p.rec.Objects, "bytes", p.rec.Bytes)
	return p.summary(sum), nil
}

func (p *planner) summary(s PlanSummary) PlanSummary {
	s.Items, s.Objects, s.Bytes, s.Complete, s.Source = p.rec.Items, p.rec.Objects, p.rec.Bytes, p.rec.Complete, p.rec.Source
	return s
}

func sumEnds(offs []kafka.PartitionOffsets) int64 {
	var n int64
	for _, o := range offs {
		n += o.End
	}
	return n
}

// add numbers an item and puts it in the batch, writing the batch when full.
func (p *planner) add(ctx context.Context, it *planned) error {
	it.Seq = p.rec.Items + int64(len(p.batch))
	p.batch = append(p.batch, it)
	p.bytes += len(it.Prefix) + len(it.After) + len(it.Last) + 100
	if len(p.batch) >= p.o.BatchItems || p.bytes >= maxBatchBytes {
		return p.flush(ctx)
	}
	return nil
}

// flush writes the batch: the planner record first (naming the batch and
// where the plan then stands), then the items.
func (p *planner) flush(ctx context.Context) error {
	if len(p.batch) == 0 {
		return nil
	}
	items := make([]Item, len(p.batch))
	for i, it := range p.batch {
		items[i] = it.Item
		p.rec.Objects += int64(it.Objects)
		p.rec.Bytes += it.Bytes
	}
	p.rec.Items += int64(len(items))
	p.rec.Position = p.batch[len(p.batch)-1].pos
	p.rec.Pending, p.rec.UpdatedAt = items, p.o.Now().UTC()
	if err := p.writeRecord(ctx); err != nil {
		return err
	}
	if _, err := p.writeBatch(ctx, items, false); err != nil {
		return err
	}
	p.batch, p.bytes, p.flushd = p.batch[:0], 0, time.Now()
	return nil
}

// writeRecord writes the planner record, trying again until it is durable
// or ctx ends.
func (p *planner) writeRecord(ctx context.Context) error {
	return retryPolicy.Retry(ctx, func(attempt int) (bool, error) {
		err := p.state.write(ctx, planPartition, "plan", p.rec)
		if err != nil && ctx.Err() == nil {
			p.o.Logger.Warn("planner record not written; retrying", "attempt", attempt+1, "err", err)
		}
		return ctx.Err() == nil && attempt+1 < maxAttempts, err
	})
}

// writeBatch writes the items of a batch that are not in the plan topic yet
// (check: look first; else write all first), and after a failed write looks
// again, until every one is in. It returns how many it wrote.
func (p *planner) writeBatch(ctx context.Context, items []Item, check bool) (int, error) {
	todo := items
	written := 0
	err := retryPolicy.Retry(ctx, func(attempt int) (bool, error) {
		if check || attempt > 0 {
			missing, err := p.missing(ctx, items)
			if err != nil {
				p.o.Logger.Warn("cannot read back the plan topic; retrying", "attempt", attempt+1, "err", err)
				return ctx.Err() == nil && attempt+1 < maxAttempts, err
			}
			todo = missing
		}
		if len(todo) == 0 {
			return false, nil
		}
		msgs := make([]kafkago.Message, len(todo))
		for i, it := range todo {
			v, err := json.Marshal(it)
			if err != nil {
				return false, err
			}
			msgs[i] = kafkago.Message{Key: it.Key(), Value: v, Partition: Partition(it.Seq, p.parts)}
		}
		if err := p.o.writeItems(ctx, msgs); err != nil {
			if ctx.Err() == nil {
				p.o.Logger.Warn("items not all written; checking the topic and retrying", "items", len(msgs), "attempt", attempt+1, "err", err)
			}
			return ctx.Err() == nil && attempt+1 < maxAttempts, fmt.Errorf("write items to %s: %w", p.o.Topic, err)
		}
		written += len(todo)
		return false, nil
	})
	return written, err
}

// missing returns the items of a batch that are not in the plan topic.
// Only the planner writes there, and a batch's items follow its record, so
// the ones that made it are among the last messages of their partitions.
func (p *planner) missing(ctx context.Context, items []Item) ([]Item, error) {
	offs, err := kafka.TopicOffsets(ctx, p.o.Kafka, p.o.Topic)
	if err != nil {
		return nil, err
	}
	if len(offs) != p.parts {
		return nil, fmt.Errorf("plan topic %s has %d partitions now, %d when the plan started: partitions must not be added during a plan", p.o.Topic, len(offs), p.parts)
	}
	per := map[int]int64{}
	want := map[int64]bool{}
	for _, it := range items {
		per[Partition(it.Seq, p.parts)]++
		want[it.Seq] = true
	}
	found := map[int64]bool{}
	for part, n := range per {
		o := offs[part]
		from := max(o.First, o.End-2*n-8)
		err := kafka.ReadPartition(ctx, p.o.Kafka, p.o.Topic, part, from, o.End, func(m kafka.Message) error {
			var it Item
			if json.Unmarshal(m.Value, &it) == nil && want[it.Seq] {
				found[it.Seq] = true
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var out []Item
	for _, it := range items {
		if !found[it.Seq] {
			out = append(out, it)
		}
	}
	return out, nil
}

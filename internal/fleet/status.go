package fleet

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"rootwatch/internal/kafka"
	"rootwatch/internal/progress"
)

// Status is how far a fleet backfill is, read from Kafka alone: the plan
// from the planner's record and the plan topic's end offsets, what is done
// from the group's committed offsets, and the rest from the counters every
// worker publishes.
type Status struct {
	Topic, Group string
	// Plan is the planner's latest record; HasPlan is false before the
	// planner wrote one.
	HasPlan      bool
	Source       string
	PlanComplete bool
	// PlannedObjects and PlannedBytes: what the items planned so far hold.
	PlannedObjects, PlannedBytes int64
	PlanStarted                  time.Time

	Partitions int
	// Planned items are in the plan topic; Done are below the group's
	// committed offsets (every one was read and acknowledged); InFlight are
	// being read by live workers.
	Planned, Done, InFlight int64
	// Workers ever seen, and those in the consumer group now.
	Workers, LiveWorkers int
	// Counts sum every worker's (re-reads after a kill included).
	Counts
	// Started is when the first worker started; At when this was read.
	Started, At time.Time
}

// Complete reports whether the plan is complete and every item done.
func (s Status) Complete() bool { return s.HasPlan && s.PlanComplete && s.Done >= s.Planned }

// StatusOptions name what ReadStatus reads.
type StatusOptions struct {
	Kafka kafka.Config
	Topic string
	Group string
	// SkipWorkers leaves the workers' counters out (a worker looking
	// whether the backfill is done needs only the offsets and the plan).
	SkipWorkers bool
	Now         func() time.Time
}

// ReadStatus reads the fleet's status from Kafka.
func ReadStatus(ctx context.Context, o StatusOptions) (Status, error) {
	o.Topic = cmp.Or(o.Topic, DefaultTopic)
	o.Group = cmp.Or(o.Group, DefaultGroup)
	if o.Now == nil {
		o.Now = time.Now
	}
	s := Status{Topic: o.Topic, Group: o.Group, At: o.Now()}
	offs, err := kafka.TopicOffsets(ctx, o.Kafka, o.Topic)
	if err != nil {
		return s, err
	}
	s.Partitions = len(offs)
	committed, err := kafka.CommittedOffsets(ctx, o.Kafka, o.Group, o.Topic, len(offs))
	if err != nil {
		return s, err
	}
	for p, po := range offs {
		s.Planned += po.End - po.First
		s.Done += min(max(committed[p], po.First), po.End) - po.First
	}
	rec, found, err := readPlanRecord(ctx, o.Kafka, o.Topic)
	if err != nil {
		return s, err
	}
	if found {
		s.HasPlan, s.Source, s.PlanComplete, s.PlanStarted = true, rec.Source, rec.Complete, rec.StartedAt
		s.PlannedObjects, s.PlannedBytes = rec.Objects, rec.Bytes
	}
	if o.SkipWorkers {
		return s, nil
	}
	workers, err := readWorkerStats(ctx, o.Kafka, o.Topic)
	if err != nil {
		return s, err
	}
	members, err := kafka.GroupMembers(ctx, o.Kafka, o.Group)
	if err != nil {
		return s, err
	}
	live := map[string]bool{}
	for _, m := range members {
		live[m] = true
	}
	s.LiveWorkers = len(members)
	for _, w := range workers {
		s.Workers++
		if live[w.ID] && !w.Stopped {
			s.InFlight += w.InFlight
		}
		s.Counts.add(w.Counts)
		if s.Started.IsZero() || w.StartedAt.Before(s.Started) {
			s.Started = w.StartedAt
		}
	}
	// A worker's last count may be seconds old: never more than is left.
	s.InFlight = min(s.InFlight, s.Planned-s.Done)
	return s, nil
}

// Snapshot is the status as progress counts: objects and bytes against
// what the plan holds (known once it is complete), work items done of those
// planned, the rates since the first worker started.
func (s Status) Snapshot() progress.Snapshot {
	p := progress.Snapshot{Objects: s.Objects, DeadLettered: s.DeadLettered, Records: s.Records, Findings: s.Findings,
		Bytes: s.Bytes, Stored: s.Stored, TotalObjects: s.PlannedObjects, TotalStored: s.PlannedBytes, TotalsKnown: s.PlanComplete,
		Items: s.Done, TotalItems: s.Planned, ItemsInFlight: s.InFlight}
	if !s.Started.IsZero() {
		p.Elapsed = s.At.Sub(s.Started)
	}
	if s.Complete() {
		p.Stored = max(p.Stored, p.TotalStored) // re-reads aside, all is done: the ETA is 0
	}
	return p
}

// Report is the status for a person: what the plan is, how far the group
// is, and the progress line.
func (s Status) Report() string {
	var b strings.Builder
	switch {
	case !s.HasPlan:
		fmt.Fprintf(&b, "backfill %s: no plan yet (run ingest --source 's3://…' --sink kafka --plan)\n", s.Topic)
	default:
		state := "being planned"
		if s.PlanComplete {
			state = "planned"
		}
		fmt.Fprintf(&b, "backfill %s: %s, %s, %d items of %d objects (%s), since %s\n", s.Topic, s.Source, state,
			s.Planned, s.PlannedObjects, progress.HumanBytes(s.PlannedBytes), s.PlanStarted.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, "group %s: %d items done, %d in flight, %d to do; %d workers live, %d seen; %d items and %d objects dead-lettered; complete=%v\n",
		s.Group, s.Done, s.InFlight, s.Planned-s.Done, s.LiveWorkers, s.Workers, s.DeadLetteredItems, s.DeadLettered, s.Complete())
	b.WriteString(s.Snapshot().Line("fleet"))
	return b.String()
}

// Watch shows the status until the backfill is complete or ctx ends — a
// bar redrawn on a terminal, else a line every `every` (default 30s),
// read again from Kafka every few seconds — then the final report.
func Watch(ctx context.Context, o StatusOptions, out io.Writer, terminal bool, every time.Duration) (Status, error) {
	s, err := ReadStatus(ctx, o)
	if err != nil {
		return s, err
	}
	// The reporter reads a snapshot while this loop reads the next one:
	// each read is a new Status, never one the reporter may be reading.
	var last atomic.Pointer[Status]
	first := s
	last.Store(&first)
	stop := progress.Reporter{W: out, Terminal: terminal, Every: every, What: "fleet"}.Start(func() progress.Snapshot {
		return last.Load().Snapshot()
	})
	poll := time.NewTicker(2 * time.Second)
	defer poll.Stop()
	for !s.Complete() {
		select {
		case <-ctx.Done():
			stop()
			return s, ctx.Err()
		case <-poll.C:
		}
		n, err := ReadStatus(ctx, o)
		if err != nil {
			continue // the next read may work; the last one stays shown
		}
		s = n
		last.Store(&n)
	}
	stop()
	fmt.Fprint(out, s.Report())
	return s, nil
}

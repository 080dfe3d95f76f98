package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"rootwatch/internal/gen"
)

// The invariants of the fleet case (RunFleet): what a planner and a group
// of backfill workers promise, one of them killed in the middle.
const (
	// InvFleetPlan: the plan's items are numbered 0..n-1 once each, item
	// Seq on partition Seq mod partitions, and name every object of the
	// bucket exactly once.
	InvFleetPlan = "fleet-plan"
	// InvFleetCommit: the group committed an offset only when every object
	// of every item below it had all its records and root findings appended
	// to Kafka (a planted object: its dead letter).
	InvFleetCommit = "fleet-commit"
	// InvFleetDuplicates: a record appended more than once belongs to an
	// item the killed worker had in flight (started, not committed).
	InvFleetDuplicates = "fleet-duplicates"
	// InvFleetDLQ: cloudtrail.dlq holds each planted object, for a
	// permanent reason and with its work item, and nothing else.
	InvFleetDLQ = "fleet-dlq"
	// InvFleetSettled: every partition is committed to its end, the plan
	// is complete, every surviving worker left by itself, status says so.
	InvFleetSettled = "fleet-settled"
)

// FleetExpected is what went into a fleet run.
type FleetExpected struct {
	// Objects maps each readable object to the eventIDs of its records.
	Objects map[string][]string
	Root    []gen.RootEvent
	// Hostile are planted unreadable objects.
	Hostile    map[string]bool
	Partitions int
}

// FleetObserved is what a fleet run saw.
type FleetObserved struct {
	Kafka   kafkaView
	Commits []Commit // the workers' group, on the plan topic
	Ends    map[int32]int64
	// Kill is when a worker was SIGKILLed (zero: none); KilledGets are the
	// objects it asked S3 for before.
	Kill       time.Time
	KilledGets map[string]bool
	// Settled lists what did not end as it should (a worker's exit status,
	// the planner's second run, the status report); empty when all did.
	Settled []string
}

// FleetVerdict is what the judge found, beside a Verdict's violations and losses.
type FleetVerdict struct {
	Verdict
	Items int
	// InFlightAtKill are the items the killed worker had started and that
	// were not committed when it died: the only ones that may be read twice.
	InFlightAtKill int
	// DuplicatedRecords were appended more than once, in DuplicatedItems items.
	DuplicatedRecords, DuplicatedItems int
}

// judgeFleet checks o against e, once the run is over.
func judgeFleet(e *FleetExpected, o *FleetObserved) FleetVerdict {
	v := FleetVerdict{Verdict: Verdict{DLQReasons: map[string]int{}, Violations: map[string][]string{}, Checked: map[string]int{}, Duplicated: map[string]int{}}}
	fail := func(inv, format string, a ...any) {
		v.Violations[inv] = append(v.Violations[inv], fmt.Sprintf(format, a...))
	}
	k := &o.Kafka
	for _, b := range k.Bad {
		fail(InvUnreadable, "%s", b)
	}
	if len(e.Root) == 0 || len(e.Objects) == 0 {
		fail(InvExpected, "the input holds %d root events in %d objects: the run would prove nothing", len(e.Root), len(e.Objects))
	}
	rootsOf := map[string][]string{}
	isRoot := map[string]bool{}
	for _, r := range e.Root {
		rootsOf[r.Key] = append(rootsOf[r.Key], r.EventID)
		isRoot[r.EventID] = true
	}
	keys := slices.Sorted(maps.Keys(e.Objects))
	for h := range e.Hostile {
		keys = append(keys, h)
	}
	slices.Sort(keys)

	// The plan: items 0..n-1 once, on their partitions, each object once.
	items := slices.Clone(k.Items)
	slices.SortFunc(items, func(a, b planItem) int { return int(a.Seq - b.Seq) })
	v.Items = len(items)
	objectsOf := make([][]string, len(items))
	itemOf := map[string]int{}
	for i, it := range items {
		v.Checked[InvFleetPlan]++
		if it.Seq != int64(i) {
			fail(InvFleetPlan, "position %d of the plan holds item seq %d (partition %d offset %d): items are not 0..n-1 once each", i, it.Seq, it.Partition, it.Offset)
		}
		if e.Partitions > 0 && int64(it.Partition) != it.Seq%int64(e.Partitions) {
			fail(InvFleetPlan, "item %d on partition %d, want %d", it.Seq, it.Partition, it.Seq%int64(e.Partitions))
		}
		for _, key := range keys {
			if strings.HasPrefix(key, it.Prefix) && key > it.After && key <= it.Last {
				if j, ok := itemOf[key]; ok {
					fail(InvFleetPlan, "object %s is in items %d and %d", key, items[j].Seq, it.Seq)
				}
				itemOf[key] = i
				objectsOf[i] = append(objectsOf[i], key)
			}
		}
		if len(objectsOf[i]) != it.Objects {
			fail(InvFleetPlan, "item %d says %d objects and names %d", it.Seq, it.Objects, len(objectsOf[i]))
		}
	}
	for _, key := range keys {
		if _, ok := itemOf[key]; !ok {
			fail(InvFleetPlan, "object %s is in no item", key)
		}
	}
	byPlace := map[int32]map[int64]int{} // partition -> offset -> item index
	for i, it := range items {
		if byPlace[it.Partition] == nil {
			byPlace[it.Partition] = map[int64]int{}
		}
		byPlace[it.Partition][it.Offset] = i
	}

	// Each commit: everything below it was in Kafka first.
	dlqAt := map[string]int64{}
	for _, d := range k.ObjDLQ {
		if permanentReasons[d.Reason] {
			if t, ok := dlqAt[d.Key]; !ok || d.At < t {
				dlqAt[d.Key] = d.At
			}
		}
	}
	checked := map[[2]int64]bool{} // (partition, offset) checked at an earlier commit
	commits := slices.Clone(o.Commits)
	slices.SortFunc(commits, func(a, b Commit) int { return a.At.Compare(b.At) })
	for _, c := range commits {
		v.Checked[InvFleetCommit]++
		at := c.At.UnixMilli()
		for off := int64(0); off < c.Offset; off++ {
			i, ok := byPlace[c.Partition][off]
			if !ok {
				fail(InvFleetCommit, "commit of %d on partition %d at %s passes offset %d, which holds no item", c.Offset, c.Partition, clock(c.At), off)
				continue
			}
			if checked[[2]int64{int64(c.Partition), off}] {
				continue // an earlier commit covered it, and was checked then
			}
			checked[[2]int64{int64(c.Partition), off}] = true
			for _, key := range objectsOf[i] {
				if e.Hostile[key] {
					if t, ok := dlqAt[key]; !ok || t > at {
						fail(InvFleetCommit, "item %d committed at %s before planted object %s was dead-lettered", items[i].Seq, clock(c.At), key)
					}
					continue
				}
				recs, finds := late(k.Records, e.Objects[key], at), late(k.Findings, rootsOf[key], at)
				if recs+finds > 0 {
					fail(InvFleetCommit, "item %d (partition %d offset %d) committed at %s before object %s was in Kafka: %d of %d records and %d of %d findings appended later or never",
						items[i].Seq, c.Partition, off, clock(c.At), key, recs, len(e.Objects[key]), finds, len(rootsOf[key]))
				}
			}
		}
	}

	// The kill: the killed worker's items not committed when it died.
	inFlight := map[int]bool{}
	if !o.Kill.IsZero() {
		committedAt := map[int32]int64{}
		for _, c := range commits {
			if !c.At.After(o.Kill) && c.Offset > committedAt[c.Partition] {
				committedAt[c.Partition] = c.Offset
			}
		}
		for i, it := range items {
			if it.Offset < committedAt[it.Partition] {
				continue
			}
			for _, key := range objectsOf[i] {
				if o.KilledGets[key] {
					inFlight[i] = true
				}
			}
		}
	}
	v.InFlightAtKill = len(inFlight)

	// Every record and root event in Kafka; duplicates only of items in
	// flight at the kill.
	dupItems := map[int]bool{}
	for _, key := range slices.Sorted(maps.Keys(e.Objects)) {
		v.Checked[InvRecords]++
		if n := late(k.Records, e.Objects[key], 1<<62); n > 0 {
			fail(InvRecords, "object %s: %d of %d records never reached %s", key, n, len(e.Objects[key]), topicRecords)
			v.Lost += n
		}
		dups := 0
		for _, id := range e.Objects[key] {
			dups += max(k.Copies[id]-1, 0)
		}
		if dups == 0 {
			continue
		}
		i := itemOf[key]
		v.DuplicatedRecords += dups
		dupItems[i] = true
		v.Checked[InvFleetDuplicates]++
		if !inFlight[i] {
			fail(InvFleetDuplicates, "object %s (item %d, partition %d offset %d): %d records appended twice, and the killed worker did not have its item in flight",
				key, items[i].Seq, items[i].Partition, items[i].Offset, dups)
		}
	}
	v.DuplicatedItems = len(dupItems)
	for _, r := range e.Root {
		v.Checked[InvFindings]++
		if _, ok := k.Findings[r.EventID]; !ok {
			fail(InvFindings, "root event %s (object %s) never reached %s", r.EventID, r.Key, topicFinds)
			v.Lost++
			v.LostIDs = append(v.LostIDs, r.EventID)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(k.Findings)) {
		if !isRoot[id] {
			fail(InvFalsePositive, "finding %s is not root activity by the truth set", id)
		}
	}

	// Dead letters: the planted objects, each with its item; nothing else.
	for _, d := range k.ObjDLQ {
		v.DLQReasons[d.Reason]++
		switch {
		case e.Hostile[d.Key] && permanentReasons[d.Reason] && d.Item != "":
		case e.Hostile[d.Key] && d.Item == "":
			fail(InvFleetDLQ, "planted object %s dead-lettered without its work item", d.Key)
		case e.Hostile[d.Key]:
			fail(InvFleetDLQ, "planted object %s dead-lettered as %q, not a permanent reason", d.Key, d.Reason)
		default:
			fail(InvFleetDLQ, "object %s dead-lettered (%s: %s)", d.Key, d.Reason, d.Error)
			v.DeadLettered++
		}
	}
	for _, d := range k.MsgDLQ {
		fail(InvFleetDLQ, "a dead letter naming no object (%s, %s)", d.Reason, d.MessageID)
		v.DeadLettered++
	}
	for _, key := range slices.Sorted(maps.Keys(e.Hostile)) {
		v.Checked[InvFleetDLQ]++
		if _, ok := dlqAt[key]; ok {
			v.HostileDLQ++
		} else {
			fail(InvFleetDLQ, "planted object %s was never dead-lettered", key)
		}
	}

	// Settled: every partition committed to its end.
	last := map[int32]int64{}
	for _, c := range commits {
		last[c.Partition] = max(last[c.Partition], c.Offset)
	}
	for _, p := range slices.Sorted(maps.Keys(o.Ends)) {
		v.Checked[InvFleetSettled]++
		if last[p] != o.Ends[p] {
			fail(InvFleetSettled, "partition %d committed to %d, its end is %d", p, last[p], o.Ends[p])
		}
	}
	for _, s := range o.Settled {
		fail(InvFleetSettled, "%s", s)
	}
	return v
}

package chaos

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/failure"
	"rootwatch/internal/gen"
	"rootwatch/internal/match"
)

// The invariants the judge checks. Each is a promise one stage makes
// (docs/chaos.md, "The judge"); a run passes only if none is broken.
const (
	// InvExpected: the input holds records and root events; an empty
	// expected set would prove nothing.
	InvExpected = "expected"
	// InvSQSDelete: ingest deleted an SQS message only after every record
	// and finding of every object it names had been appended to Kafka (or,
	// for a planted unreadable object, its dead letter).
	InvSQSDelete = "sqs-delete"
	// InvSQSSettled: every notification sent was eventually deleted.
	InvSQSSettled = "sqs-settled"
	// InvIngestDLQ: cloudtrail.dlq holds the planted unreadable objects,
	// each for a permanent reason, and nothing else.
	InvIngestDLQ = "ingest-dlq"
	// InvRecords: every record of every readable object reached cloudtrail.records.
	InvRecords = "records"
	// InvFindings: every root event reached cloudtrail.root-activity.
	InvFindings = "findings"
	// InvFalsePositive: every finding is root activity by the truth set.
	InvFalsePositive = "false-positive"
	// InvCommit: alert committed an offset of the findings topic only when
	// every root event below it was delivered (2xx) to every channel,
	// parked, or written to its state as still owed.
	InvCommit = "alert-commit"
	// InvNotification: every notification alert attempted (one
	// Idempotency-Key on one channel) was eventually answered 2xx or parked.
	InvNotification = "notification"
	// InvAlertDLQ: alert parked nothing; the channels only ever fail
	// transiently in a chaos run, and retries outlast every fault.
	InvAlertDLQ = "alert-dlq"
	// InvIncident: each root event belongs to one incident.
	InvIncident = "incident"
	// InvUnreadable: the judge could read everything the pipeline wrote.
	InvUnreadable = "unreadable"
)

// permanentReasons are the cloudtrail.dlq reasons that are permanent by
// definition (the bytes of the object cannot change). Only planted
// unreadable objects may carry them; a readable object in the DLQ, for any
// reason, is a failure.
var permanentReasons = map[string]bool{
	failure.ReasonCorrupt: true, failure.ReasonTruncated: true, failure.ReasonSyntax: true,
	failure.ReasonNotCloudTrail: true, failure.ReasonRecordTooLarge: true, failure.ReasonObjectTooLarge: true,
}

// Expected is what went into a run: the judge's truth.
type Expected struct {
	Channels []string
	// Objects maps each readable object the run uploaded to the eventIDs of all its records.
	Objects map[string][]string
	// Root is every root event in them (the truth set).
	Root []gen.RootEvent
	// Hostile are planted unreadable objects: each must be dead-lettered
	// for a permanent reason.
	Hostile map[string]bool
	// Messages maps each SQS message the run sent to the object keys it names.
	Messages map[string][]string
	// SentAt is when each object was first named in a message sent.
	SentAt map[string]time.Time
}

// Commit is one offset commit of alert's consumer group, as the broker saw it.
type Commit struct {
	At        time.Time
	Partition int32
	Offset    int64 // the next offset to read: everything below is claimed done
}

// Observed is what a run saw happen.
type Observed struct {
	Deletes []SQSDelete
	Ledger  []Delivery
	Kafka   kafkaView
	Commits []Commit
}

// Verdict is what the judge found.
type Verdict struct {
	// Lost is the (root event, channel) pairs not delivered (2xx, in a
	// notification of the event's own incident) and not parked for a
	// permanent reason.
	Lost    int
	LostIDs []string // "channel/eventID"
	// DeadLettered counts DLQ entries other than the planted objects'
	// (ingest and alert); each is also a violation.
	DeadLettered int
	DLQReasons   map[string]int
	HostileDLQ   int // planted objects dead-lettered for a permanent reason
	// Violations holds, per invariant, what broke it.
	Violations map[string][]string
	// Checked counts, per invariant, the cases checked.
	Checked map[string]int
	// Pending counts what is not done yet (messages not deleted,
	// notifications not acknowledged, ...): violations once the run is over.
	Pending    int
	Duplicated map[string]int // per channel: notifications acknowledged more than once
	Deliveries int            // webhook requests answered 2xx
	Attempts   int            // webhook requests received
	// P50, P99, Max: from the first notification naming an event's object
	// to its first delivery, per (event, channel).
	P50, P99, Max time.Duration
}

// NumViolations is the number of violations over all invariants.
func (v Verdict) NumViolations() int {
	n := 0
	for _, l := range v.Violations {
		n += len(l)
	}
	return n
}

// writeChecked writes the cases checked per invariant, one line.
func (v Verdict) writeChecked(b *strings.Builder) {
	var checked []string
	for _, k := range slices.Sorted(maps.Keys(v.Checked)) {
		checked = append(checked, fmt.Sprintf("%s=%d", k, v.Checked[k]))
	}
	fmt.Fprintf(b, "checked: %s\n", strings.Join(checked, " "))
}

// writeViolations writes each broken invariant with up to five examples.
func (v Verdict) writeViolations(b *strings.Builder) {
	for _, k := range slices.Sorted(maps.Keys(v.Violations)) {
		l := v.Violations[k]
		fmt.Fprintf(b, "violated %s (%d):\n", k, len(l))
		for _, x := range l[:min(len(l), 5)] {
			fmt.Fprintf(b, "  %s\n", x)
		}
	}
}

func pairKey(ch, id string) string { return ch + "/" + id }

// judge checks o against e. With final false (the run may still be
// draining) what is merely not done yet counts as pending; with final true
// it is a violation.
func judge(e *Expected, o *Observed, final bool) Verdict {
	v := Verdict{DLQReasons: map[string]int{}, Violations: map[string][]string{}, Checked: map[string]int{}, Duplicated: map[string]int{}}
	fail := func(inv, format string, a ...any) {
		v.Violations[inv] = append(v.Violations[inv], fmt.Sprintf(format, a...))
	}
	notYet := func(inv, format string, a ...any) {
		if final {
			fail(inv, format, a...)
		} else {
			v.Pending++
		}
	}
	k := &o.Kafka
	if len(e.Root) == 0 || len(e.Objects) == 0 {
		fail(InvExpected, "the input holds %d root events in %d objects: the run would prove nothing", len(e.Root), len(e.Objects))
	}
	isRoot := map[string]bool{}
	rootsOf := map[string][]string{} // object key -> its root eventIDs
	for _, r := range e.Root {
		isRoot[r.EventID] = true
		rootsOf[r.Key] = append(rootsOf[r.Key], r.EventID)
	}
	for _, b := range k.Bad {
		fail(InvUnreadable, "%s", b)
	}

	// Ingest, per SQS message deleted: everything it names was in Kafka first.
	// A duplicate notification deleted later never excuses an early delete.
	deleted := map[string]bool{}
	for _, d := range o.Deletes {
		v.Checked[InvSQSDelete]++
		keys, ok := e.Messages[d.MessageID]
		if !ok {
			fail(InvSQSDelete, "deleted a message the run did not send or never saw received (id %q)", d.MessageID)
			continue
		}
		deleted[d.MessageID] = true
		at := d.At.UnixMilli()
		for _, key := range keys {
			if e.Hostile[key] {
				if !slices.ContainsFunc(k.ObjDLQ, func(x objectDLQ) bool { return x.Key == key && x.At <= at && permanentReasons[x.Reason] }) {
					fail(InvSQSDelete, "message %s deleted at %s before planted object %s was dead-lettered", d.MessageID, clock(d.At), key)
				}
				continue
			}
			recs, finds := late(k.Records, e.Objects[key], at), late(k.Findings, rootsOf[key], at)
			if recs+finds > 0 {
				fail(InvSQSDelete, "message %s deleted at %s before object %s was in Kafka: %d of %d records and %d of %d findings appended later or never",
					d.MessageID, clock(d.At), key, recs, len(e.Objects[key]), finds, len(rootsOf[key]))
			}
		}
	}
	for _, id := range slices.Sorted(maps.Keys(e.Messages)) {
		v.Checked[InvSQSSettled]++
		if !deleted[id] {
			notYet(InvSQSSettled, "message %s (objects %s) was never deleted", id, strings.Join(e.Messages[id], " "))
		}
	}

	// Ingest's dead letters: the planted objects, for a permanent reason; nothing else.
	hostileOK := map[string]bool{}
	for _, d := range k.ObjDLQ {
		v.DLQReasons["ingest: "+d.Reason]++
		switch {
		case e.Hostile[d.Key] && permanentReasons[d.Reason]:
			hostileOK[d.Key] = true
			continue
		case e.Hostile[d.Key]:
			fail(InvIngestDLQ, "planted object %s dead-lettered as %q, not a permanent reason: %s", d.Key, d.Reason, d.Error)
		case e.Objects[d.Key] != nil:
			fail(InvIngestDLQ, "readable object %s dead-lettered (%s: %s)", d.Key, d.Reason, d.Error)
		default:
			fail(InvIngestDLQ, "object %s the run never uploaded dead-lettered (%s)", d.Key, d.Reason)
		}
		v.DeadLettered++
	}
	for _, d := range k.MsgDLQ {
		v.DLQReasons["ingest: "+d.Reason]++
		v.DeadLettered++
		fail(InvIngestDLQ, "message %s dead-lettered without an object (%s)", d.MessageID, d.Reason)
	}
	for _, key := range slices.Sorted(maps.Keys(e.Hostile)) {
		v.Checked[InvIngestDLQ]++
		if hostileOK[key] {
			v.HostileDLQ++
		} else {
			notYet(InvIngestDLQ, "planted object %s was never dead-lettered for a permanent reason", key)
		}
	}

	// Ingest, end to end: every record and root event reached Kafka; no false finding.
	for _, key := range slices.Sorted(maps.Keys(e.Objects)) {
		v.Checked[InvRecords]++
		if n := late(k.Records, e.Objects[key], 1<<62); n > 0 {
			notYet(InvRecords, "object %s: %d of %d records never reached %s", key, n, len(e.Objects[key]), topicRecords)
		}
	}
	for _, r := range e.Root {
		v.Checked[InvFindings]++
		if _, ok := k.Findings[r.EventID]; !ok {
			notYet(InvFindings, "root event %s (object %s) never reached %s", r.EventID, r.Key, topicFinds)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(k.Findings)) {
		if !isRoot[id] {
			fail(InvFalsePositive, "finding %s is not root activity by the truth set", id)
		}
	}

	// Alert, per notification (Idempotency-Key and channel): acknowledged or
	// parked. The event's own incident is the one of the first (non-
	// compliance) notification naming it.
	type notif struct {
		channel, key, incident string
		ok                     int
		answers                map[int]int
	}
	notifs := map[string]*notif{}
	var order []string
	incidentOf := map[string]string{}
	for _, d := range o.Ledger {
		v.Attempts++
		if d.Delivered() {
			v.Deliveries++
		}
		id := d.Channel + " " + d.IdempotencyKey
		n := notifs[id]
		if n == nil {
			n = &notif{channel: d.Channel, key: d.IdempotencyKey, incident: d.Incident, answers: map[int]int{}}
			notifs[id] = n
			order = append(order, id)
		}
		n.answers[d.Status]++
		if d.Delivered() {
			n.ok++
		}
		if isNotice(d.Category) {
			continue
		}
		for _, ev := range d.EventIDs {
			if inc, ok := incidentOf[ev]; !ok {
				incidentOf[ev] = d.Incident
			} else if inc != d.Incident {
				fail(InvIncident, "root event %s is in two incidents (%s, %s)", ev, inc, d.Incident)
				incidentOf[ev] = inc // keep the first; only its notifications count as delivering the event
			}
		}
	}
	parkedIncident := map[string]bool{}
	parkedAt := map[string]int64{} // channel/eventID -> first park
	for _, p := range k.Parks {
		v.DeadLettered++
		v.DLQReasons["alert: "+p.Channel]++
		parkedIncident[p.Channel+" "+p.Incident] = true
		for _, ev := range p.EventIDs {
			first(parkedAt, pairKey(p.Channel, ev), p.At)
		}
		fail(InvAlertDLQ, "notification of incident %s to %s parked for a transient failure (%s)", p.Incident, p.Channel, p.Reason)
	}
	for _, id := range order {
		n := notifs[id]
		v.Checked[InvNotification]++
		if n.ok > 1 {
			v.Duplicated[n.channel]++
		}
		if n.ok == 0 && !parkedIncident[n.channel+" "+n.incident] {
			notYet(InvNotification, "notification %s to %s was never acknowledged nor parked (answers %s)", n.key, n.channel, answers(n.answers))
		}
	}

	// Delivered pairs: a 2xx on the channel, in a notification of the event's own incident.
	got := map[string][]time.Time{}
	for _, d := range o.Ledger {
		if !d.Delivered() || isNotice(d.Category) {
			continue
		}
		for _, ev := range d.EventIDs {
			if incidentOf[ev] == d.Incident {
				got[pairKey(d.Channel, ev)] = append(got[pairKey(d.Channel, ev)], d.At)
			}
		}
	}

	// Alert, per commit: every root event below the committed offset was
	// delivered, parked or owed in the state written before the commit.
	v.checkCommits(e, o, got, parkedAt, isRoot, fail)

	// End to end, per (root event, channel).
	var lat []time.Duration
	for _, r := range e.Root {
		for _, c := range e.Channels {
			pk := pairKey(c, r.EventID)
			ts := got[pk]
			if len(ts) == 0 {
				v.Lost++
				v.LostIDs = append(v.LostIDs, pk)
				continue
			}
			if s, ok := e.SentAt[r.Key]; ok {
				lat = append(lat, max(slices.MinFunc(ts, time.Time.Compare).Sub(s), 0))
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		v.P50, v.P99, v.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return v
}

func (v *Verdict) checkCommits(e *Expected, o *Observed, got map[string][]time.Time, parkedAt map[string]int64,
	isRoot map[string]bool, fail func(string, string, ...any)) {
	k := &o.Kafka
	incidentsOf := map[string][]string{} // eventID -> incidents (not notices) whose state names it
	for _, id := range slices.Sorted(maps.Keys(k.Incidents)) {
		for _, iv := range k.Incidents[id] {
			if isNotice(iv.Category) {
				continue
			}
			for ev := range iv.Seq {
				if !slices.Contains(incidentsOf[ev], id) {
					incidentsOf[ev] = append(incidentsOf[ev], id)
				}
			}
		}
	}
	owed := func(ev, ch string, at int64) bool {
		for _, id := range incidentsOf[ev] {
			var last *incidentVersion
			for i := range k.Incidents[id] {
				if k.Incidents[id][i].At <= at {
					last = &k.Incidents[id][i]
				}
			}
			if last != nil && last.owed(ev, ch) {
				return true
			}
		}
		return false
	}
	commits := slices.Clone(o.Commits)
	slices.SortStableFunc(commits, func(a, b Commit) int { return a.At.Compare(b.At) })
	checked := map[int32]int64{} // partition -> offsets below were checked at an earlier commit
	for _, c := range commits {
		from := checked[c.Partition]
		if c.Offset <= from {
			continue
		}
		checked[c.Partition] = c.Offset
		at := c.At.UnixMilli()
		for _, f := range k.ByOffset[c.Partition] {
			if f.Offset < from || f.Offset >= c.Offset || !isRoot[f.EventID] {
				continue
			}
			for _, ch := range e.Channels {
				v.Checked[InvCommit]++
				pk := pairKey(ch, f.EventID)
				if slices.ContainsFunc(got[pk], func(t time.Time) bool { return !t.After(c.At) }) {
					continue
				}
				if t, ok := parkedAt[pk]; ok && t <= at {
					continue
				}
				if owed(f.EventID, ch, at) {
					continue
				}
				fail(InvCommit, "offset %d of partition %d committed at %s: root event %s (offset %d) was neither delivered to %s, parked, nor owed in alert's state",
					c.Offset, c.Partition, clock(c.At), f.EventID, f.Offset, ch)
			}
		}
	}
}

// late counts the ids with no append time in m at or before at.
func late(m map[string]int64, ids []string, at int64) int {
	n := 0
	for _, id := range ids {
		if t, ok := m[id]; !ok || t > at {
			n++
		}
	}
	return n
}

func answers(m map[int]int) string {
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(m)) {
		name := fmt.Sprint(s)
		if s == 0 {
			name = "hung"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[s]))
	}
	return strings.Join(parts, ",")
}

func clock(t time.Time) string { return t.Format("15:04:05.000") }

// isNotice reports whether an incident of this category is a notice about
// events that also have their own incident (alert.IsNoticeCategory): the
// judge checks each root event against its own incident, never a notice's.
func isNotice(category string) bool { return alert.IsNoticeCategory(match.Category(category)) }

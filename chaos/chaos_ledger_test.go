package chaos

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/gen"
)

// scene is a small run, as the judge sees it: object k1 holds records r1,
// e1, e2 (e1 and e2 root), object k2 holds r2 and e3 (root), object bad is
// planted unreadable; message m1 names k1, m2 names k2 and bad, m3 is a
// duplicate of m1. Everything below is settled and correct at t0+10s; each
// subtest breaks one thing and expects the judge to see it.
type scene struct {
	e  Expected
	o  Observed
	t0 time.Time
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func newScene() *scene {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	s := &scene{t0: t0}
	s.e = Expected{
		Channels: []string{"hook-a", "hook-b"},
		Objects:  map[string][]string{"k1": {"r1", "e1", "e2"}, "k2": {"r2", "e3"}},
		Root:     []gen.RootEvent{{EventID: "e1", Key: "k1"}, {EventID: "e2", Key: "k1"}, {EventID: "e3", Key: "k2"}},
		Hostile:  map[string]bool{"bad": true},
		Messages: map[string][]string{"m1": {"k1"}, "m2": {"k2", "bad"}, "m3": {"k1"}},
		SentAt:   map[string]time.Time{"k1": t0, "k2": t0, "bad": t0},
	}
	s.o = Observed{
		Deletes: []SQSDelete{{At: at(2), MessageID: "m1"}, {At: at(3), MessageID: "m2"}, {At: at(4), MessageID: "m3"}},
		Kafka: kafkaView{
			Records:  map[string]int64{"r1": ms(at(1)), "e1": ms(at(1)), "e2": ms(at(1)), "r2": ms(at(1)), "e3": ms(at(1))},
			Findings: map[string]int64{"e1": ms(at(1)), "e2": ms(at(1)), "e3": ms(at(1))},
			ByOffset: map[int32][]offEvent{0: {{0, "e1"}, {1, "e2"}}, 1: {{0, "e3"}}},
			ObjDLQ:   []objectDLQ{{At: ms(at(1)), Key: "bad", Reason: "corrupt"}},
			Incidents: map[string][]incidentVersion{
				"inc-1": {{At: ms(at(1.5)), Seq: map[string]int{"e1": 1, "e2": 2}, Sent: map[string]int{}, Parked: map[string]int{}}},
				"inc-2": {{At: ms(at(1.5)), Seq: map[string]int{"e3": 1}, Sent: map[string]int{}, Parked: map[string]int{}}},
				"n-1":   {{At: ms(at(1.6)), Category: "session-ip-mismatch", Seq: map[string]int{"e3": 1}, Sent: map[string]int{}, Parked: map[string]int{}}},
			},
		},
		Ledger: []Delivery{
			{At: at(5), Channel: "hook-a", Status: 200, IdempotencyKey: "inc-1/hook-a/1", Incident: "inc-1", EventIDs: []string{"e1", "e2"}},
			{At: at(5), Channel: "hook-b", Status: 500, IdempotencyKey: "inc-1/hook-b/1", Incident: "inc-1", EventIDs: []string{"e1", "e2"}},
			{At: at(6), Channel: "hook-b", Status: 200, IdempotencyKey: "inc-1/hook-b/1", Incident: "inc-1", EventIDs: []string{"e1", "e2"}},
			{At: at(6), Channel: "hook-a", Status: 200, IdempotencyKey: "inc-2/hook-a/1", Incident: "inc-2", EventIDs: []string{"e3"}},
			{At: at(6), Channel: "hook-b", Status: 0, IdempotencyKey: "inc-2/hook-b/1", Incident: "inc-2", EventIDs: []string{"e3"}},
			{At: at(7), Channel: "hook-b", Status: 200, IdempotencyKey: "inc-2/hook-b/1", Incident: "inc-2", EventIDs: []string{"e3"}},
			// alert killed between the send and its delivery log: the same notification again
			{At: at(8), Channel: "hook-b", Status: 200, IdempotencyKey: "inc-2/hook-b/1", Incident: "inc-2", EventIDs: []string{"e3"}},
			// a compliance notification names e1 too, in its own incident
			{At: at(8), Channel: "hook-a", Status: 200, IdempotencyKey: "c-1/hook-a/1", Incident: "c-1", Category: "compliance", EventIDs: []string{"e1"}},
			// and a session notice (used from another address) names e3 in its own
			{At: at(8), Channel: "hook-a", Status: 200, IdempotencyKey: "n-1/hook-a/1", Incident: "n-1", Category: "session-ip-mismatch", EventIDs: []string{"e3"}},
		},
		Commits: []Commit{{At: at(9), Partition: 0, Offset: 2}, {At: at(9), Partition: 1, Offset: 1}},
	}
	return s
}

func (s *scene) at(sec float64) time.Time { return s.t0.Add(time.Duration(sec * float64(time.Second))) }

func violated(v Verdict) []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range v.Violations {
			if !yield(k) {
				return
			}
		}
	})
}

// TestJudge checks the judge itself: the correct scene passes, and each
// way the guarantee can break, including the ones an end-to-end ledger
// alone was fooled by, fails the invariant that owns it.
func TestJudge(t *testing.T) {
	s := newScene()
	v := judge(&s.e, &s.o, true)
	if len(v.Violations) > 0 || v.Lost != 0 || v.Pending != 0 {
		t.Fatalf("the correct scene: violations %v, lost %v, pending %d", v.Violations, v.LostIDs, v.Pending)
	}
	if v.Duplicated["hook-b"] != 1 || v.Duplicated["hook-a"] != 0 || v.HostileDLQ != 1 || v.DeadLettered != 0 {
		t.Errorf("duplicated %v, hostile dead-lettered %d, dead-lettered %d; want hook-b=1, 1, 0", v.Duplicated, v.HostileDLQ, v.DeadLettered)
	}
	// e1, e2 on hook-a at 5s, on hook-b at 6s; e3 at 6s and 7s: p50 is 6s, max 7s.
	if v.P50 != 6*time.Second || v.Max != 7*time.Second {
		t.Errorf("time to alert p50 %s max %s, want 6s and 7s", v.P50, v.Max)
	}
	if v.Checked[InvSQSDelete] != 3 || v.Checked[InvCommit] != 6 || v.Checked[InvNotification] != 6 { // 4 of the incidents, the compliance and the session notice
		t.Errorf("checked %v", v.Checked)
	}

	cases := []struct {
		name   string
		break_ func(s *scene)
		want   []string // invariants
		lost   int
	}{
		{"empty expected set", func(s *scene) { s.e.Root, s.e.Objects = nil, map[string][]string{} }, []string{InvExpected, InvFalsePositive}, 0},
		{"message deleted on receive, records written after", func(s *scene) {
			s.o.Kafka.Records["r1"] = ms(s.at(2.5)) // after m1's delete at 2s (m3, the duplicate, came later)
		}, []string{InvSQSDelete}, 0},
		{"object dropped, a duplicate notification re-delivers it", func(s *scene) {
			for _, id := range []string{"r1", "e1", "e2"} {
				s.o.Kafka.Records[id] = ms(s.at(3.5)) // only the duplicate m3 (deleted at 4s) carried k1 through
			}
			for _, id := range []string{"e1", "e2"} {
				s.o.Kafka.Findings[id] = ms(s.at(3.5))
			}
		}, []string{InvSQSDelete}, 0},
		{"a record never reaches Kafka", func(s *scene) { delete(s.o.Kafka.Records, "r2") }, []string{InvRecords, InvSQSDelete}, 0},
		{"matcher misses a root event", func(s *scene) {
			delete(s.o.Kafka.Findings, "e3")
			s.o.Kafka.ByOffset[1] = nil
			s.o.Ledger = slices.DeleteFunc(s.o.Ledger, func(d Delivery) bool { return d.Incident == "inc-2" })
		}, []string{InvFindings, InvSQSDelete}, 2},
		{"false positive", func(s *scene) { s.o.Kafka.Findings["r2"] = ms(s.at(1)) }, []string{InvFalsePositive}, 0},
		{"message never deleted", func(s *scene) { s.o.Deletes = s.o.Deletes[:2] }, []string{InvSQSSettled}, 0},
		{"readable object dead-lettered for a permanent-sounding reason", func(s *scene) {
			s.o.Kafka.ObjDLQ = append(s.o.Kafka.ObjDLQ, objectDLQ{At: ms(s.at(1)), Key: "k2", Reason: "corrupt"})
		}, []string{InvIngestDLQ}, 0},
		{"planted object dead-lettered for a transient reason", func(s *scene) {
			s.o.Kafka.ObjDLQ[0].Reason = "transient"
		}, []string{InvIngestDLQ, InvSQSDelete}, 0},
		{"planted object never dead-lettered", func(s *scene) { s.o.Kafka.ObjDLQ = nil }, []string{InvIngestDLQ, InvSQSDelete}, 0},
		{"a channel's 500 counted as delivered", func(s *scene) {
			// hook-b only ever answered 500 to inc-1; alert moved on and committed.
			s.o.Ledger = slices.DeleteFunc(s.o.Ledger, func(d Delivery) bool { return d.IdempotencyKey == "inc-1/hook-b/1" && d.Status == 200 })
			s.o.Kafka.Incidents["inc-1"] = append(s.o.Kafka.Incidents["inc-1"],
				incidentVersion{At: ms(s.at(5.5)), Seq: map[string]int{"e1": 1, "e2": 2}, Sent: map[string]int{"hook-a": 2, "hook-b": 2}, Parked: map[string]int{}})
		}, []string{InvNotification, InvCommit}, 2},
		{"a later notification must not rescue a dropped one", func(s *scene) {
			s.o.Ledger = slices.DeleteFunc(s.o.Ledger, func(d Delivery) bool { return d.IdempotencyKey == "inc-1/hook-b/1" && d.Status == 200 })
			s.o.Ledger = append(s.o.Ledger, Delivery{At: s.at(8.5), Channel: "hook-b", Status: 200, IdempotencyKey: "inc-1/hook-b/2", Incident: "inc-1", EventIDs: []string{"e1", "e2"}})
		}, []string{InvNotification}, 0},
		{"delivered only in another incident's notification", func(s *scene) {
			for i := range s.o.Ledger {
				if s.o.Ledger[i].IdempotencyKey == "inc-2/hook-a/1" {
					s.o.Ledger[i].EventIDs = nil
				}
			}
			s.o.Ledger = append(s.o.Ledger, Delivery{At: s.at(6.5), Channel: "hook-a", Status: 200, IdempotencyKey: "inc-1/hook-a/2", Incident: "inc-1", EventIDs: []string{"e3"}})
		}, []string{InvIncident}, 1},
		{"commit before delivery, nothing owed in the state", func(s *scene) {
			s.o.Commits[0].At = s.at(5.5) // hook-b got e1, e2 only at 6s
			s.o.Kafka.Incidents["inc-1"][0].Sent = map[string]int{"hook-b": 2}
		}, []string{InvCommit}, 0},
		{"parked for a transient failure", func(s *scene) {
			s.o.Kafka.Parks = []park{{At: ms(s.at(4)), Channel: "hook-b", Incident: "inc-1", Reason: "deliver: HTTP 500", EventIDs: []string{"e1", "e2"}}}
		}, []string{InvAlertDLQ}, 0},
		{"a notification hung and never answered 2xx", func(s *scene) {
			s.o.Ledger = slices.DeleteFunc(s.o.Ledger, func(d Delivery) bool { return d.IdempotencyKey == "inc-2/hook-b/1" && d.Status == 200 })
		}, []string{InvNotification}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newScene()
			c.break_(s)
			v := judge(&s.e, &s.o, true)
			if got := violated(v); !slices.Equal(got, slices.Sorted(slices.Values(c.want))) {
				t.Errorf("violated %v, want %v\n%v", got, c.want, v.Violations)
			}
			if v.Lost != c.lost {
				t.Errorf("lost %d (%v), want %d", v.Lost, v.LostIDs, c.lost)
			}
		})
	}

	t.Run("commit while the state says owed", func(t *testing.T) {
		// A handover commit: the sends for inc-1 are still owed, and the
		// state written before the commit says so.
		s := newScene()
		s.o.Commits[0].At = s.at(4.5)
		if v := judge(&s.e, &s.o, true); len(v.Violations) > 0 {
			t.Errorf("violations %v", v.Violations)
		}
	})
	t.Run("not done yet is pending, not a violation, before the end", func(t *testing.T) {
		s := newScene()
		s.o.Deletes = s.o.Deletes[:2]
		s.o.Ledger = s.o.Ledger[:5]
		v := judge(&s.e, &s.o, false)
		if len(v.Violations) > 0 || v.Pending != 2 {
			t.Errorf("violations %v, pending %d; want none and 2 (m3 not deleted, inc-2/hook-b/1 hung)", v.Violations, v.Pending)
		}
		if strings.Join(v.LostIDs, " ") != "hook-b/e3" {
			t.Errorf("not delivered yet: %v, want hook-b/e3", v.LostIDs)
		}
	})
}

// TestPlanFaults: every seed plans every required kind, channel faults
// name a channel, and too few faults of a family is an error.
func TestPlanFaults(t *testing.T) {
	for _, o := range []Options{
		{Faults: time.Minute, KillIngest: 1, KillAlert: 1, PauseBroker: 1, CutBroker: 1, S3Faults: 2, ChannelFaults: 2},
		{Faults: 8 * time.Minute, KillIngest: 8, KillAlert: 8, PauseBroker: 5, CutBroker: 5, S3Faults: 8, ChannelFaults: 12},
	} {
		for seed := range uint64(200) {
			fs, err := planFaults(rand.New(rand.NewPCG(seed, seed)), o)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for i, f := range fs {
				kinds[f.Kind]++
				if f.At < o.Faults/20 || f.At > o.Faults*9/10 || (i > 0 && f.At < fs[i-1].At) {
					t.Fatalf("seed %d: fault %v out of the window or order", seed, f)
				}
				if strings.HasPrefix(f.Kind, "channel-") != (f.Channel != "") {
					t.Fatalf("seed %d: fault %v: channel", seed, f)
				}
			}
			for _, k := range RequiredKinds {
				if kinds[k] == 0 {
					t.Fatalf("seed %d: no %s in %v", seed, k, kinds)
				}
			}
			if n := o.KillIngest + o.KillAlert + o.PauseBroker + o.CutBroker + o.S3Faults + o.ChannelFaults; len(fs) != n {
				t.Fatalf("seed %d: %d faults, want %d", seed, len(fs), n)
			}
		}
	}
	if _, err := planFaults(rand.New(rand.NewPCG(1, 1)), Options{Faults: time.Minute, KillIngest: 1, KillAlert: 1, PauseBroker: 1, CutBroker: 1, S3Faults: 1, ChannelFaults: 2}); err == nil {
		t.Error("one S3 fault cannot be both a 500 period and a hang: want an error")
	}
}

// TestResultFailures: a run fails on a violation, a loss, a required kind
// not injected, and a kind injected that never bit.
func TestResultFailures(t *testing.T) {
	ok := newResult(1)
	for _, k := range RequiredKinds {
		ok.Injected[k], ok.Bit[k] = 1, 1
	}
	if f := ok.Failures(); len(f) != 0 {
		t.Fatalf("failures %v", f)
	}
	r := newResult(1)
	for _, k := range RequiredKinds[1:] {
		r.Injected[k], r.Bit[k] = 2, 1
	}
	r.Injected[KindChannelHang] = 1
	r.Lost = 1
	r.Violations[InvSQSDelete] = []string{"x"}
	want := []string{InvSQSDelete, "lost", "fault-not-injected:" + RequiredKinds[0], "fault-never-bit:" + KindChannelHang}
	if got := r.Failures(); !slices.Equal(got, want) {
		t.Errorf("failures %v, want %v", got, want)
	}
	if line := r.Line(1); !strings.Contains(line, "channel-hang=0/1") || !strings.Contains(line, "violations=1") {
		t.Errorf("line %q", line)
	}
}

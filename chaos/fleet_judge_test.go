package chaos

import (
	"slices"
	"testing"
	"time"

	"rootwatch/internal/gen"
)

// fleetScene is a small fleet run as the judge sees it: folder p/ holds
// objects p/a (records r1, e1; e1 root), p/b (r2) and p/c (r3, e2; e2
// root) and the planted p/x; items 0 (p/a, p/b) on partition 0 offset 0,
// 1 (p/c, p/x) on partition 1 offset 0, 2 (nothing more: p/y, r4) on
// partition 0 offset 1. A worker that had read p/c was killed at 5s with
// item 1 uncommitted; it was read again (r3 twice). Everything is correct.
type fleetScene struct {
	e  FleetExpected
	o  FleetObserved
	t0 time.Time
}

func newFleetScene() *fleetScene {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	s := &fleetScene{t0: t0}
	s.e = FleetExpected{
		Objects:    map[string][]string{"p/a": {"r1", "e1"}, "p/b": {"r2"}, "p/c": {"r3", "e2"}, "p/y": {"r4"}},
		Root:       []gen.RootEvent{{EventID: "e1", Key: "p/a"}, {EventID: "e2", Key: "p/c"}},
		Hostile:    map[string]bool{"p/x": true},
		Partitions: 2,
	}
	s.o = FleetObserved{
		Kafka: kafkaView{
			Records:  map[string]int64{"r1": ms(at(1)), "e1": ms(at(1)), "r2": ms(at(1)), "r3": ms(at(4)), "e2": ms(at(4)), "r4": ms(at(2))},
			Copies:   map[string]int{"r1": 1, "e1": 1, "r2": 1, "r3": 2, "e2": 1, "r4": 1},
			Findings: map[string]int64{"e1": ms(at(1)), "e2": ms(at(4))},
			ObjDLQ:   []objectDLQ{{At: ms(at(6)), Key: "p/x", Reason: "not-cloudtrail", Item: `{"seq":1}`}},
			Items: []planItem{
				{Partition: 0, Offset: 0, Seq: 0, Prefix: "p/", Last: "p/b", Objects: 2},
				{Partition: 1, Offset: 0, Seq: 1, Prefix: "p/", After: "p/b", Last: "p/x", Objects: 2},
				{Partition: 0, Offset: 1, Seq: 2, Prefix: "p/", After: "p/x", Last: "p/y", Objects: 1},
			},
		},
		Commits:    []Commit{{At: at(2), Partition: 0, Offset: 1}, {At: at(3), Partition: 0, Offset: 2}, {At: at(7), Partition: 1, Offset: 1}},
		Ends:       map[int32]int64{0: 2, 1: 1},
		Kill:       at(5),
		KilledGets: map[string]bool{"p/c": true},
	}
	return s
}

// TestFleetJudge checks the fleet judge: the correct scene passes, and each
// way a fleet backfill can break fails the invariant that owns it.
func TestFleetJudge(t *testing.T) {
	v := judgeFleet(&newFleetScene().e, &newFleetScene().o)
	if len(v.Violations) > 0 || v.Lost != 0 {
		t.Fatalf("the correct scene: violations %v, lost %d", v.Violations, v.Lost)
	}
	if v.Items != 3 || v.InFlightAtKill != 1 || v.DuplicatedRecords != 1 || v.DuplicatedItems != 1 || v.HostileDLQ != 1 {
		t.Errorf("items %d, in flight at the kill %d, duplicated %d records in %d items, planted dead-lettered %d; want 3, 1, 1, 1, 1",
			v.Items, v.InFlightAtKill, v.DuplicatedRecords, v.DuplicatedItems, v.HostileDLQ)
	}
	cases := []struct {
		name   string
		break_ func(s *fleetScene)
		want   []string
		lost   int
	}{
		{"empty input", func(s *fleetScene) { s.e.Objects, s.e.Root = map[string][]string{}, nil }, []string{InvExpected, InvFalsePositive, InvFleetPlan}, 0},
		{"an object in no item", func(s *fleetScene) { s.o.Kafka.Items[2].Last = "p/x0" }, []string{InvFleetPlan}, 0},
		{"an item planned twice", func(s *fleetScene) {
			s.o.Kafka.Items = append(s.o.Kafka.Items, planItem{Partition: 1, Offset: 1, Seq: 2, Prefix: "p/", After: "p/x", Last: "p/y", Objects: 1})
		}, []string{InvFleetPlan}, 0},
		{"an item on the wrong partition", func(s *fleetScene) { s.o.Kafka.Items[2].Partition = 1 }, []string{InvFleetCommit, InvFleetPlan}, 0},
		{"committed before its records were in Kafka", func(s *fleetScene) { s.o.Kafka.Records["r2"] = ms(s.t0.Add(2500 * time.Millisecond)) }, []string{InvFleetCommit}, 0},
		{"committed before the planted object was dead-lettered", func(s *fleetScene) { s.o.Kafka.ObjDLQ[0].At = ms(s.t0.Add(8 * time.Second)) }, []string{InvFleetCommit}, 0},
		{"a record never reaches Kafka", func(s *fleetScene) { delete(s.o.Kafka.Records, "r4") }, []string{InvFleetCommit, InvRecords}, 1},
		{"a root event never reaches Kafka", func(s *fleetScene) { delete(s.o.Kafka.Findings, "e2") }, []string{InvFindings, InvFleetCommit}, 1},
		{"duplicates outside the killed worker's items", func(s *fleetScene) { s.o.Kafka.Copies["r2"] = 2 }, []string{InvFleetDuplicates}, 0},
		{"duplicates of an item committed before the kill", func(s *fleetScene) {
			s.o.Commits = append(s.o.Commits, Commit{At: s.t0.Add(4500 * time.Millisecond), Partition: 1, Offset: 1})
			s.o.Kafka.ObjDLQ[0].At = ms(s.t0.Add(4 * time.Second))
		}, []string{InvFleetDuplicates}, 0},
		{"a readable object dead-lettered", func(s *fleetScene) {
			s.o.Kafka.ObjDLQ = append(s.o.Kafka.ObjDLQ, objectDLQ{At: ms(s.t0), Key: "p/b", Reason: "access-denied", Item: "{}"})
		}, []string{InvFleetDLQ}, 0},
		{"the planted object dead-lettered without its item", func(s *fleetScene) { s.o.Kafka.ObjDLQ[0].Item = "" }, []string{InvFleetDLQ}, 0},
		{"a partition not committed to its end", func(s *fleetScene) { s.o.Ends[0] = 3 }, []string{InvFleetSettled}, 0},
		{"a worker that did not leave", func(s *fleetScene) { s.o.Settled = []string{"worker-2 did not leave"} }, []string{InvFleetSettled}, 0},
	}
	for _, c := range cases {
		s := newFleetScene()
		c.break_(s)
		v := judgeFleet(&s.e, &s.o)
		got := violated(v.Verdict)
		if !slices.Equal(got, c.want) || v.Lost != c.lost {
			t.Errorf("%s: violated %v, lost %d; want %v, lost %d\n%v", c.name, got, v.Lost, c.want, c.lost, v.Violations)
		}
	}
	// A kill that found nothing in flight proves nothing.
	s := newFleetScene()
	s.o.KilledGets = map[string]bool{"p/a": true}
	res := FleetResult{Killed: "worker-1", FleetVerdict: judgeFleet(&s.e, &s.o)}
	if f := res.Failures(); !slices.Contains(f, "fault-never-bit:kill-worker") {
		t.Errorf("a kill with nothing in flight: failures %v", f)
	}
}

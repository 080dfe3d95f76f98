package chaos

import (
	"testing"
	"time"

	"rootwatch/internal/gen"
)

// TestLedgerAccounting checks the judge itself: a pair never delivered is
// lost, a pair answered only with errors or a hang is lost, a pair in a DLQ
// is dead-lettered (not lost), a pair delivered twice is a duplicate, and
// the latency is from the notification to the first 2xx delivery.
func TestLedgerAccounting(t *testing.T) {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	root := []gen.RootEvent{{EventID: "e1", Key: "k1"}, {EventID: "e2", Key: "k1"}, {EventID: "e3", Key: "k2"}, {EventID: "e4", Key: "k2"}}
	ledger := []Delivery{
		{At: t0.Add(1 * time.Second), Channel: "hook-a", Status: 200, EventIDs: []string{"e1", "e2"}},
		{At: t0.Add(2 * time.Second), Channel: "hook-b", Status: 500, EventIDs: []string{"e1", "e2"}},
		{At: t0.Add(3 * time.Second), Channel: "hook-b", Status: 200, EventIDs: []string{"e1"}},
		{At: t0.Add(4 * time.Second), Channel: "hook-b", Status: 0, EventIDs: []string{"e2"}}, // hung
		{At: t0.Add(5 * time.Second), Channel: "hook-a", Status: 200, EventIDs: []string{"e1", "e3"}},
		{At: t0.Add(6 * time.Second), Channel: "hook-b", Status: 429, EventIDs: []string{"e3"}},
	}
	dlq := map[string]string{pairKey("hook-b", "e3"): "alert: 429", pairKey("hook-a", "e4"): "ingest: corrupt", pairKey("hook-b", "e4"): "ingest: corrupt"}
	missing := missingPairs(root, ledger, dlq)
	want := map[string]bool{"hook-b/e2": true}
	if len(missing) != len(want) {
		t.Fatalf("missing %v, want %v", missing, want)
	}
	for _, m := range missing {
		if !want[m] {
			t.Errorf("missing %s, want only %v", m, want)
		}
	}
	got := delivered(ledger)
	if n := len(got["hook-a/e1"]); n != 2 {
		t.Errorf("hook-a/e1 delivered %d times, want 2", n)
	}
	if n := len(got["hook-b/e2"]); n != 0 {
		t.Errorf("a hung or failed request counted as delivered (%d)", n)
	}

	sent := newSentLog()
	sent.mark([]string{"k1", "k2"}, t0)
	var r Result
	r.DLQReasons, r.Duplicated = map[string]int{}, map[string]int{}
	accountWith(&r, root, ledger, map[string]string{pairKey("hook-b", "e3"): "alert: 429"}, sent)
	if r.Lost != 3 { // hook-b/e2, hook-a/e4, hook-b/e4
		t.Errorf("lost %d (%v), want 3", r.Lost, r.LostIDs)
	}
	if r.DeadLettered != 1 || r.Duplicated["hook-a"] != 1 || r.Duplicated["hook-b"] != 0 {
		t.Errorf("dead-lettered %d, duplicated %v; want 1 and hook-a=1", r.DeadLettered, r.Duplicated)
	}
	if r.Max != 5*time.Second || r.P50 != 3*time.Second {
		t.Errorf("latency p50 %s max %s, want 3s and 5s", r.P50, r.Max)
	}
}

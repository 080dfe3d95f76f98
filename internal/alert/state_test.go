package alert

import (
	"reflect"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// The schedule of one (incident, channel): open at once, updates at most
// every group_interval, a repeat after repeat_interval while the incident
// is ongoing, nothing once it has gone quiet for a window.
func TestDueSchedule(t *testing.T) {
	const gi, ri, win = 30 * time.Second, 4 * time.Hour, 5 * time.Hour
	now := baseTime
	f := finding("111122223333", "192.0.2.1", match.CategoryMutating, 0)
	inc := newIncident("k", &f, now)
	inc.add(&f, now, 20)
	d := &delivery{}
	if k, ok, _ := inc.due(d, now, gi, ri, win); !ok || k != channel.KindOpen {
		t.Fatalf("new incident: %s %v", k, ok)
	}
	d.Sent, d.N, d.LastSent = 1, 1, now
	if _, ok, _ := inc.due(d, now, gi, ri, win); ok {
		t.Fatal("nothing new, yet due")
	}
	f2 := finding("111122223333", "192.0.2.1", match.CategoryMutating, 1)
	inc.add(&f2, now.Add(time.Second), 20)
	if _, ok, at := inc.due(d, now.Add(time.Second), gi, ri, win); ok || !at.Equal(now.Add(gi)) {
		t.Fatalf("update due before group_interval (next %s)", at)
	}
	if k, ok, _ := inc.due(d, now.Add(gi), gi, ri, win); !ok || k != channel.KindUpdate {
		t.Fatalf("update not due after group_interval: %s %v", k, ok)
	}
	n := inc.notification("c", d, channel.KindUpdate)
	if len(n.Findings) != 1 || n.Findings[0].EventID != f2.EventID || n.IdempotencyKey != inc.ID+"/c/2" {
		t.Fatalf("update carries %d findings, key %s", len(n.Findings), n.IdempotencyKey)
	}
	d.Sent, d.N, d.LastSent = 2, 2, now.Add(gi)
	inc.UpdatedAt = now.Add(3 * time.Hour) // still active
	if k, ok, _ := inc.due(d, now.Add(gi+ri), gi, ri, win); !ok || k != channel.KindRepeat {
		t.Fatalf("repeat not due: %s %v", k, ok)
	}
	if _, ok, _ := inc.due(d, inc.UpdatedAt.Add(win+time.Minute), gi, ri, win); ok {
		t.Fatal("repeat of an incident quiet for a whole window")
	}
	d.Parked = 2
	inc.add(&f, now, 20)
	if k, ok, _ := inc.due(d, now.Add(time.Hour), gi, ri, win); !ok || k != channel.KindUpdate {
		t.Fatalf("a parked channel must try again on new findings: %s %v", k, ok)
	}
}

// State written as records and read back is the same state.
func TestRecordsRoundTrip(t *testing.T) {
	cfg := testConfig(t, benchConfig)
	s, err := New(cfg, Options{Logger: testLogger(t), Channels: map[string]channel.Channel{"noop": noop{}}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	st := newPartState(3)
	for i := range 30 {
		f := finding("111122223333", "192.0.2.1", match.CategoryMutating, i)
		st.ingest(s.rules, &s.params, &f, now, nil)
	}
	for _, inc := range st.incidents {
		for _, d := range inc.Out {
			d.Sent, d.N, d.LastSent, d.State = inc.Count, 2, now, map[string]string{"thread_ts": "1.2"}
		}
		st.mark(prefixIncident + inc.ID)
	}
	recs, err := st.records()
	if err != nil {
		t.Fatal(err)
	}
	back := newPartState(3)
	for _, r := range recs {
		if err := back.apply(r, now); err != nil {
			t.Fatal(err)
		}
	}
	back.finishRestore()
	if !reflect.DeepEqual(st.dedup, back.dedup) || !reflect.DeepEqual(st.rootUse, back.rootUse) || !reflect.DeepEqual(st.current, back.current) {
		t.Fatalf("differ after restore: dedup %v root %v current %v", reflect.DeepEqual(st.dedup, back.dedup), reflect.DeepEqual(st.rootUse, back.rootUse), reflect.DeepEqual(st.current, back.current))
	}
	if len(back.incidents) != len(st.incidents) {
		t.Fatalf("incidents %d vs %d", len(back.incidents), len(st.incidents))
	}
	for id, inc := range st.incidents {
		b := back.incidents[id]
		if b == nil || b.Count != inc.Count || len(b.Recent) != len(inc.Recent) || b.Recent[0].Seq != 1 ||
			!reflect.DeepEqual(b.Out["noop"].State, inc.Out["noop"].State) || b.Out["noop"].Sent != inc.Count {
			t.Fatalf("incident %s differs after restore", id)
		}
	}
	// An incident that still owes a notification does not expire.
	inc := back.incidents[back.current["111122223333|api-mutating|192.0.2.1"]]
	inc.Out["noop"].Sent--
	if _, n := back.expire(now.Add(9*24*time.Hour), time.Hour); n != 1 || len(back.incidents) != 1 {
		t.Fatalf("expired %d incidents, %d left; want the owing one kept", n, len(back.incidents))
	}
	inc.Out["noop"].Sent++
	// Expiry writes tombstones, and a tombstone deletes on restore.
	st.expire(now.Add(9*24*time.Hour), time.Hour)
	recs, _ = st.records()
	for _, r := range recs {
		if r.Value != nil {
			t.Fatalf("expiry wrote a value for %s", r.Key)
		}
		back.apply(r, now)
	}
	if len(back.dedup) != 0 || len(back.incidents) != 0 {
		t.Fatalf("tombstones not applied: %d dedup, %d incidents", len(back.dedup), len(back.incidents))
	}
}

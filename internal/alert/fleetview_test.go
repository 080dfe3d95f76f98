package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// startTwo starts two replicas of one group and waits until each owns a
// partition (of 2).
func (e *kafkaEnv) startTwo(cfg *Config, chans ...*recorder) (a, b *running) {
	e.t.Helper()
	a = e.start(cfg, chans...)
	a.waitReady(e.t)
	b = e.start(cfg, chans...)
	testutil.WaitFor(e.t, 20*time.Second, "both replicas own a partition", func() bool {
		return a.s.ready.Load() && b.s.ready.Load() && a.s.owned.Load() > 0 && b.s.owned.Load() > 0
	})
	return a, b
}

// stateEnds are the end offsets of every partition of the state topic, as
// the view reports them (partition number as a string).
func stateEnds(t testing.TB, e *kafkaEnv, n int) map[string]int64 {
	t.Helper()
	ends := map[string]int64{}
	for p := range n {
		_, last, err := partitionOffsets(context.Background(), &kafkago.Dialer{Timeout: 5 * time.Second}, e.cfg.Brokers, DefaultStateTopic, p)
		if err != nil {
			t.Fatal(err)
		}
		if last > 0 {
			ends[fmt.Sprint(p)] = last
		}
	}
	return ends
}

// fleetBody is GET url's JSON body with its generatedAt (the answering
// replica's clock) taken out.
func fleetBody(t testing.TB, url string) []byte {
	t.Helper()
	var m map[string]any
	if err := getJSON(url, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "generatedAt")
	out, _ := json.Marshal(m)
	return out
}

// Issue 13: two replicas of one consumer group, each owning part of the
// findings, answer the status API and GET /api/root-last-used identically
// (the fleet's truth, not what the answering replica owns), once both have
// read the state topic to its end.
func TestFleetViewTwoReplicasAnswerAlike(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(pagerOnly)
	pager := newRecorder("pager")
	a, b := env.startTwo(cfg, pager)
	env.produce(sessions(8, 3, 0)...) // 8 accounts over both partitions
	testutil.WaitFor(t, 20*time.Second, "8 incidents and 8 compliance notices paged", func() bool { return len(byIncident(pager.notes())) == 16 })

	sa, sb := httptest.NewServer(a.s.Handler()), httptest.NewServer(b.s.Handler())
	defer sa.Close()
	defer sb.Close()
	var status, lastUsed []byte
	testutil.WaitFor(t, 20*time.Second, "both views at the end of the state topic, answering alike", func() bool {
		ends := stateEnds(t, env, 2)
		for _, r := range []*running{a, b} {
			got := r.s.Status().StateOffsets
			if len(got) != len(ends) {
				return false
			}
			for p, o := range ends {
				if got[p] != o {
					return false
				}
			}
		}
		status = fleetBody(t, sa.URL+"/api/status")
		lastUsed = fleetBody(t, sa.URL+"/api/root-last-used")
		return bytes.Equal(status, fleetBody(t, sb.URL+"/api/status")) && bytes.Equal(lastUsed, fleetBody(t, sb.URL+"/api/root-last-used"))
	})
	var st StatusResponse
	if err := json.Unmarshal(status, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.RootLastUsed) != 8 || len(st.Incidents) != 16 {
		t.Fatalf("the fleet answer lists %d accounts and %d incidents, want 8 and 16: %s", len(st.RootLastUsed), len(st.Incidents), status)
	}
	for _, inc := range st.Incidents {
		if inc.Notifications < 1 || strings.Join(inc.Channels, ",") != "pager" || inc.Title == "" {
			t.Errorf("incident %+v", inc)
		}
	}
	// Each replica owns only part of the findings, yet exports every account's gauge.
	for _, r := range []*running{a, b} {
		srv := httptest.NewServer(r.s.Handler())
		body := getText(t, srv.URL+"/metrics")
		srv.Close()
		if n := strings.Count(body, "rootwatch_root_last_used_timestamp_seconds{account="); n != 8 {
			t.Errorf("a replica exports %d accounts' last use, want 8", n)
		}
	}
	// The page shows the same fleet sections.
	pa, _ := getPage(t, sa.URL+"/")
	pb, _ := getPage(t, sb.URL+"/")
	for _, acct := range []string{"100000000000", "100000000007"} {
		if !strings.Contains(pa, acct) || !strings.Contains(pb, acct) {
			t.Errorf("account %s missing from a replica's page", acct)
		}
	}
}

// The view folds records the same whatever the order partitions are read
// in, and forgets what a tombstone deletes.
func TestFleetViewFoldIsOrderFree(t *testing.T) {
	mk := func() *Service {
		return newService(t, testConfig(t, statusConfig), newRecorder("pager"), newRecorder("chat"))
	}
	ru := func(acct, id string, at time.Time) Record {
		b, _ := json.Marshal(RootUse{AccountID: acct, Time: at, EventID: id})
		return Record{Key: prefixRootUse + acct, Value: b}
	}
	p0 := []Record{ru("111122223333", "old", baseTime), ru("111122223333", "new", baseTime.Add(time.Hour))}
	p1 := []Record{ru("111122223333", "other-partition", baseTime.Add(30*time.Minute)), {Key: prefixIncident + "inc-x", Value: nil}}
	a, b := mk(), mk()
	for i, r := range p0 {
		a.view.apply(0, int64(i), r)
	}
	for i, r := range p1 {
		a.view.apply(1, int64(i), r)
	}
	for i := len(p1) - 1; i >= 0; i-- {
		b.view.apply(1, int64(i), p1[i])
	}
	for i := len(p0) - 1; i >= 0; i-- {
		b.view.apply(0, int64(i), p0[i])
	}
	ja, _ := json.Marshal(a.Status().RootLastUsed)
	jb, _ := json.Marshal(b.Status().RootLastUsed)
	if !bytes.Equal(ja, jb) || a.RootUses()[0].EventID != "new" {
		t.Fatalf("folds differ:\n%s\n%s", ja, jb)
	}
	// A session and its tombstone.
	f := match.Finding{EventID: "e", Session: &match.Session{AccessKeyID: "ASIAX"}}
	v, _ := sessionRecord(issuedSession{Expires: 1, Finding: &f})
	wake := a.view.sessionsChanged()
	a.view.apply(0, 5, Record{Key: prefixSession + "ASIAX", Value: v})
	select {
	case <-wake:
	default:
		t.Fatal("a new session did not wake the workers")
	}
	if a.view.session("ASIAX") == nil {
		t.Fatal("session not in the view")
	}
	a.view.apply(0, 6, Record{Key: prefixSession + "ASIAX"})
	if a.view.session("ASIAX") != nil || a.Status().StateOffsets["0"] != 7 {
		t.Fatalf("tombstone not applied, offsets %v", a.Status().StateOffsets)
	}
	if err := a.view.apply(0, 7, Record{Key: prefixSession + "ASIAY", Value: v}); err == nil {
		t.Error("a session record under another key was accepted")
	}
}

package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

const pagerOnly = `
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  heartbeat_interval: 100ms
  session_timeout: 6s
grouping:
  group_interval: 100ms
delivery:
  max_attempts: 3
  backoff: 10ms
  max_backoff: 20ms
  max_elapsed: 1s
  timeout: 300ms
channels:
  - {name: pager, type: console}
routes:
  - match: {categories: [compliance]}
    channels: [pager]
    continue: false
  - match: {min_severity: low}
    channels: [pager]
`

// byIncident groups notifications by incident id.
func byIncident(ns []channel.Notification) map[string][]channel.Notification {
	m := map[string][]channel.Notification{}
	for _, n := range ns {
		m[n.Incident.ID] = append(m[n.Incident.ID], n)
	}
	return m
}

// sessions makes n findings for each of k sessions (distinct account and IP),
// starting at index from.
func sessions(k, n, from int) []match.Finding {
	var fs []match.Finding
	for s := range k {
		for i := from; i < from+n; i++ {
			fs = append(fs, finding(fmt.Sprintf("1000000000%02d", s), fmt.Sprintf("192.0.2.%d", s+1), match.CategoryMutating, i))
		}
	}
	return fs
}

// The process dies between a send and its commit. A new instance on the
// same state topic and group alerts every incident; a notification sent
// just before the crash is sent at most once more, with the same
// idempotency key, so providers that take one see it once.
func TestKafkaCrashBetweenSendAndCommit(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(pagerOnly)
	pager := newRecorder("pager")
	var r1 *running
	var killed atomic.Bool
	pager.after = func(n *channel.Notification, accepted int) {
		if accepted == 3 && killed.CompareAndSwap(false, true) {
			r1.s.Kill() // sent, but neither delivery log nor offset written
		}
	}
	r1 = env.start(cfg, pager)
	r1.waitReady(t)
	fs := sessions(6, 3, 0)
	env.produce(fs...)
	testutil.WaitFor(t, 10*time.Second, "the crash", killed.Load)
	r1.kill(t)
	sentBefore := len(pager.notes())

	pager.after = nil
	r2 := env.start(cfg, pager)
	r2.waitReady(t)
	testutil.WaitFor(t, 15*time.Second, "every incident and compliance notice alerted", func() bool {
		inc := byIncident(pager.notes())
		if len(inc) != 12 { // 6 sessions + 6 first-root-use compliance notices
			return false
		}
		for _, ns := range inc {
			if ns[0].Incident.Category != CategoryCompliance && covered(ns)[ns[0].Incident.ID] != 3 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	dups := 0
	keys := map[string]int{}
	for id, ns := range byIncident(pager.notes()) {
		if k := kinds(ns); k[channel.KindOpen] < 1 || k[channel.KindOpen] > 2 {
			t.Fatalf("incident %s: %v opens", id, k)
		}
		openKeys := map[string]bool{}
		for _, n := range ns {
			keys[n.IdempotencyKey]++
			if n.Kind == channel.KindOpen {
				openKeys[n.IdempotencyKey] = true
			}
		}
		if len(openKeys) != 1 {
			t.Fatalf("incident %s: a re-sent open used a different idempotency key: %v", id, openKeys)
		}
	}
	for k, c := range keys {
		if c > 2 {
			t.Fatalf("notification %s sent %d times", k, c)
		}
		if c == 2 {
			dups++
		}
	}
	// Only notifications sent by the first instance and not yet logged can repeat.
	if dups > sentBefore {
		t.Fatalf("%d duplicates, but only %d were sent before the crash", dups, sentBefore)
	}
	t.Logf("sent before crash %d, re-sent after restart (same idempotency key) %d", sentBefore, dups)
}

// Two replicas in one group; a partition moves from one to the other while
// findings keep coming: every finding reaches its incident, no incident is
// paged twice, no notification is sent twice.
func TestKafkaTwoReplicasRebalance(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(pagerOnly)
	pager := newRecorder("pager")
	a := env.start(cfg, pager)
	a.waitReady(t)
	env.produce(sessions(8, 5, 0)...)
	testutil.WaitFor(t, 10*time.Second, "first wave", func() bool { return len(byIncident(pager.notes())) == 16 })

	b := env.start(cfg, pager)
	testutil.WaitFor(t, 20*time.Second, "b owns a partition", func() bool {
		return b.s.ready.Load() && a.s.ready.Load() && b.s.owned.Load() > 0 && a.s.owned.Load() > 0
	})
	env.produce(sessions(8, 5, 5)...)
	testutil.WaitFor(t, 10*time.Second, "second wave", func() bool {
		c := covered(pager.notes())
		for _, ns := range byIncident(pager.notes()) {
			if ns[0].Incident.Category != CategoryCompliance && c[ns[0].Incident.ID] != 10 {
				return false
			}
		}
		return true
	})
	if value(t, b.s.m.findings.WithLabelValues("updated")) == 0 {
		t.Fatalf("replica b processed no finding: the partition did not move")
	}
	a.stop(t) // b takes everything over
	env.produce(sessions(8, 5, 10)...)
	testutil.WaitFor(t, 20*time.Second, "third wave through b alone", func() bool {
		c := covered(pager.notes())
		n := 0
		for id, ns := range byIncident(pager.notes()) {
			if ns[0].Incident.Category == CategoryCompliance {
				continue
			}
			if c[id] != 15 {
				return false
			}
			n++
		}
		return n == 8
	})
	time.Sleep(300 * time.Millisecond)
	keys := map[string]bool{}
	for id, ns := range byIncident(pager.notes()) {
		if k := kinds(ns); k[channel.KindOpen] != 1 {
			t.Fatalf("incident %s paged %d times", id, k[channel.KindOpen])
		}
		for _, n := range ns {
			if keys[n.IdempotencyKey] {
				t.Fatalf("notification %s sent twice", n.IdempotencyKey)
			}
			keys[n.IdempotencyKey] = true
		}
	}
	if len(byIncident(pager.notes())) != 16 {
		t.Fatalf("want 16 incidents (8 sessions, 8 compliance), got %d", len(byIncident(pager.notes())))
	}
}

const twoChannels = `
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  heartbeat_interval: 100ms
  session_timeout: 6s
grouping:
  group_interval: 50ms
delivery:
  max_attempts: 4
  backoff: 10ms
  max_backoff: 40ms
  max_elapsed: 1s
  timeout: 200ms
channels:
  - {name: chat, type: console}
  - {name: pager, type: console}
  - {name: strict, type: console}
routes:
  - match: {categories: [api-mutating]}
    channels: [chat, pager, strict]
`

// One channel down (500s, then hanging) while another works: the working
// channel is not held back, the failing one is retried through the shared
// policy and parked in the DLQ with the reason; a 4xx is not retried. When
// the channel is back, the next finding of the incident reaches it.
func TestKafkaOneChannelDown(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(twoChannels)
	chat, pager, strict := newRecorder("chat"), newRecorder("pager"), newRecorder("strict")
	var down atomic.Bool
	down.Store(true)
	pager.setFail(func(n *channel.Notification, attempt int) error {
		if !down.Load() {
			return nil
		}
		if attempt%2 == 0 {
			return errHang // hangs until the 200ms attempt timeout
		}
		return httpErr(500)
	})
	strict.setFail(func(n *channel.Notification, attempt int) error { return httpErr(400) })
	r := env.start(cfg, chat, pager, strict)
	r.waitReady(t)
	env.produce(sessions(4, 2, 0)...)
	// chat gets all 4 opens while pager is still down.
	testutil.WaitFor(t, 10*time.Second, "chat opens", func() bool { return kinds(chat.notes())[channel.KindOpen] == 4 })
	if len(pager.notes()) != 0 {
		t.Fatalf("pager accepted while down")
	}
	perChannel := map[string]int{}
	testutil.WaitFor(t, 15*time.Second, "DLQ entries of both failing channels", func() bool {
		clear(perChannel)
		for _, rec := range kafkatest.ReadAll(t, env.cfg, DefaultDLQTopic, 1000, 300*time.Millisecond) {
			var e DLQEntry
			if err := json.Unmarshal(rec.Value, &e); err != nil {
				t.Fatal(err)
			}
			if e.Stage != "deliver" || e.Reason == "" || e.Incident == nil || len(e.Findings) == 0 {
				t.Fatalf("DLQ entry without reason, incident or findings: %s", rec.Value)
			}
			perChannel[e.Channel]++
			if e.Channel == "strict" && e.Attempts != 1 {
				t.Fatalf("a 400 was retried: %d attempts", e.Attempts)
			}
			if e.Channel == "pager" && e.Attempts < 2 {
				t.Fatalf("a 500 was not retried: %d attempts", e.Attempts)
			}
			if e.Channel == "chat" {
				t.Fatalf("the working channel was parked: %s", rec.Value)
			}
		}
		return perChannel["pager"] >= 4 && perChannel["strict"] >= 4
	})
	down.Store(false)
	env.produce(sessions(4, 1, 2)...)
	// Back up: every incident reaches pager (an open, then updates) and covers all 3 findings.
	testutil.WaitFor(t, 10*time.Second, "pager after recovery", func() bool {
		c := covered(pager.notes())
		if len(c) != 4 {
			return false
		}
		for _, n := range c {
			if n != 3 {
				return false
			}
		}
		return true
	})
	for id, ns := range byIncident(pager.notes()) {
		if ns[0].Kind != channel.KindOpen || kinds(ns)[channel.KindOpen] != 1 {
			t.Fatalf("incident %s: pager got %v, first %s", id, kinds(ns), ns[0].Kind)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "chat updates", func() bool {
		for _, c := range covered(chat.notes()) {
			if c != 3 {
				return false
			}
		}
		return true
	})
}

// Silences and the allowlist: recorded and counted, not sent; the last
// root use is still recorded; an expired silence silences nothing.
func TestSilenceAndAllowlist(t *testing.T) {
	y := `
source: "-"
grouping: {group_interval: 10ms}
channels: [{name: chat, type: console}]
routes: [{match: {}, channels: [chat]}]
silences:
  - match: {accounts: ["2222*"], categories: [api-read]}
    until: 2999-01-01T00:00:00Z
    reason: pen test CHG-1234
  - match: {accounts: ["3333*"]}
    until: 2001-01-01T00:00:00Z
    reason: expired long ago
allowlist:
  - reason: break-glass runner
    assumed_root: true
    principal_arns: ["arn:aws:iam::4444*"]
    source_ips: ["10.1.0.0/16"]
`
	cfg := testConfig(t, y)
	chat := newRecorder("chat")
	s := newService(t, cfg, chat)
	silenced := finding("222200000000", "198.51.100.1", match.CategoryReadOnly, 1)
	notSilenced := finding("222200000000", "198.51.100.1", match.CategoryMutating, 2)
	expired := finding("333300000000", "198.51.100.1", match.CategoryReadOnly, 3)
	allowed := finding("444400000000", "10.1.2.3", match.CategoryAssumedRoot, 4)
	allowed.AssumedRoot = true
	wrongIP := finding("444400000000", "10.2.2.3", match.CategoryAssumedRoot, 5)
	wrongIP.AssumedRoot = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, []match.Finding{silenced, notSilenced, expired, allowed, wrongIP}))); err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	for _, n := range nonCompliance(chat.notes()) {
		for _, f := range n.Findings {
			sent[f.EventID] = true
		}
	}
	want := map[string]bool{notSilenced.EventID: true, expired.EventID: true, wrongIP.EventID: true}
	if fmt.Sprint(sent) != fmt.Sprint(want) {
		t.Fatalf("sent %v, want %v", sent, want)
	}
	if v := value(t, s.m.findings.WithLabelValues("silenced")); v != 1 {
		t.Fatalf("silenced %v", v)
	}
	if v := value(t, s.m.findings.WithLabelValues("allowlisted")); v != 1 {
		t.Fatalf("allowlisted %v", v)
	}
	accts := map[string]bool{}
	for _, ru := range s.RootUses() {
		accts[ru.AccountID] = true
	}
	if len(accts) != 3 {
		t.Fatalf("last root use must be recorded for silenced and allowlisted findings too: %v", accts)
	}
}

// The compliance notice goes out when an account's root is used after
// root_unused_days without use, not for use within the threshold.
func TestRootUseCrossing(t *testing.T) {
	y := `
source: "-"
root_unused_days: 7
channels: [{name: audit, type: console}]
routes: [{match: {categories: [compliance]}, channels: [audit]}]
`
	cfg := testConfig(t, y)
	audit := newRecorder("audit")
	now := baseTime.Add(30 * 24 * time.Hour)
	s, err := New(cfg, Options{Logger: testLogger(t), Channels: map[string]channel.Channel{"audit": audit}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f0 := finding("555500000000", "198.51.100.1", match.CategoryConsoleLogin, 0)
	f0.EventSource, f0.MFAUsed = "signin.amazonaws.com", true
	f1 := finding("555500000000", "198.51.100.1", match.CategoryMutating, 1)
	f1.EventTime = f0.EventTime.Add(3 * 24 * time.Hour) // within 7 days: no notice
	f2 := finding("555500000000", "198.51.100.1", match.CategoryMutating, 2)
	f2.EventTime = f1.EventTime.Add(8 * 24 * time.Hour) // after 8 unused days: notice
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, []match.Finding{f0, f1, f2}))); err != nil {
		t.Fatal(err)
	}
	got := audit.notes()
	slices.SortFunc(got, func(a, b channel.Notification) int { return a.Findings[0].EventTime.Compare(b.Findings[0].EventTime) })
	if len(got) != 2 || got[0].Findings[0].EventID != f0.EventID || got[1].Findings[0].EventID != f2.EventID {
		t.Fatalf("want compliance notices for f0 (first seen) and f2, got %d", len(got))
	}
	resp := s.RootLastUsed()
	if len(resp.Accounts) != 1 {
		t.Fatalf("accounts %v", resp.Accounts)
	}
	a := resp.Accounts[0]
	wantDays := int(now.Sub(f2.EventTime).Hours() / 24)
	if a.EventID != f2.EventID || a.DaysSince != wantDays || a.WithinThreshold || a.Console {
		t.Fatalf("root-last-used %+v, want f2, %d days, outside threshold, API", a, wantDays)
	}
}

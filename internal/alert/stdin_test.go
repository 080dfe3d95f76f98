package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

const stdinConfig = `
source: "-"
grouping:
  group_interval: 50ms
channels:
  - {name: pager, type: console}
  - {name: chat, type: console}
routes:
  - match: {categories: [console-login, credential-change]}
    channels: [pager, chat]
  - match: {min_severity: low}
    channels: [chat]
`

// A burst of 1,000 root findings from one session becomes one incident:
// one open, a few batched updates that together cover all 1,000, and the
// same input replayed (duplicates in the stream) adds nothing.
func TestStdinBurstIsOneIncident(t *testing.T) {
	cfg := testConfig(t, stdinConfig)
	chat, pager := newRecorder("chat"), newRecorder("pager")
	s := newService(t, cfg, chat, pager)
	var fs []match.Finding
	for i := range 1000 {
		fs = append(fs, finding("111122223333", "198.51.100.7", match.CategoryReadOnly, i))
	}
	in := lines(t, fs) + "this is not json\n" + `{"eventID":""}` + "\n" + lines(t, fs[:100])
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var got []channel.Notification
	compliance := 0
	for _, n := range chat.notes() {
		if n.Incident.Category == CategoryCompliance {
			compliance++
			continue
		}
		got = append(got, n)
	}
	// The account's first root use seen is also a crossing from "unused" to "used".
	if compliance != 1 {
		t.Fatalf("want 1 compliance notification, got %d", compliance)
	}
	k := kinds(got)
	if k[channel.KindOpen] != 1 {
		t.Fatalf("want exactly 1 open, got %v", k)
	}
	if len(got) > 50 {
		t.Fatalf("1,000 findings became %d notifications; want a handful of batched updates", len(got))
	}
	if c := covered(got); len(c) != 1 {
		t.Fatalf("want 1 incident, got %v", c)
	} else {
		for _, n := range c {
			if n != 1000 {
				t.Fatalf("notifications covered %d findings, want 1000", n)
			}
		}
	}
	if got[0].Kind != channel.KindOpen || got[0].Findings[0].EventID != fs[0].EventID {
		t.Fatalf("first notification is %s with %v", got[0].Kind, got[0].Findings)
	}
	// Follow-ups carry the state the channel returned earlier.
	for _, n := range got[1:] {
		if n.State["thread"] != n.Incident.ID {
			t.Fatalf("update without earlier state: %v", n.State)
		}
	}
	// Idempotency keys are distinct per notification and name the channel.
	seen := map[string]bool{}
	for _, n := range got {
		if seen[n.IdempotencyKey] || !strings.Contains(n.IdempotencyKey, "/chat/") {
			t.Fatalf("bad or repeated idempotency key %q", n.IdempotencyKey)
		}
		seen[n.IdempotencyKey] = true
	}
	if len(pager.notes()) != 0 {
		t.Fatalf("read-only findings reached the pager route: %d", len(pager.notes()))
	}
	if v := value(t, s.m.findings.WithLabelValues("duplicate")); v != 100 {
		t.Fatalf("duplicates counted %v, want 100", v)
	}
	if v := value(t, s.m.bad.WithLabelValues("decode")) + value(t, s.m.bad.WithLabelValues("invalid")); v != 2 {
		t.Fatalf("bad lines counted %v, want 2", v)
	}
	if v := value(t, s.m.incidents); v != 2 { // the incident and the compliance notification
		t.Fatalf("incidents opened %v, want 2", v)
	}
}

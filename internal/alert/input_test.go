package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// readLines hands over every line of any length up to max, skips longer
// ones without keeping them (reporting their number and size), and copes
// with CRLF, blank lines and a last line without a newline.
func TestReadLines(t *testing.T) {
	long := strings.Repeat("x", 150)
	big := strings.Repeat("y", 200<<10) // more than the reader's 64 KiB buffer, within max
	in := "first\r\n\n  \n" + long + "\n" + big + "\n" + strings.Repeat("z", 300<<10) + "\nlast"
	type got struct {
		n int64
		v string
	}
	var lines []got
	var tooLong [][2]int64
	err := readLines(strings.NewReader(in), 250<<10, func(n int64, v []byte) bool {
		lines = append(lines, got{n, string(v)})
		return true
	}, func(n, size int64) { tooLong = append(tooLong, [2]int64{n, size}) })
	if err != nil {
		t.Fatal(err)
	}
	want := []got{{1, "first"}, {4, long}, {5, big}, {7, "last"}}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(lines), len(want))
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: got #%d (%d bytes), want #%d (%d bytes)", i, lines[i].n, len(lines[i].v), want[i].n, len(want[i].v))
		}
	}
	if len(tooLong) != 1 || tooLong[0] != [2]int64{6, 300<<10 + 1} {
		t.Errorf("too-long lines reported: %v", tooLong)
	}
}

// A 25 MB finding line (what ingest wrote for a 12.6 MB record before it
// bounded findings) and a line longer than MaxStdinLine neither stop alert
// nor lose the findings around them.
func TestStdinLongLines(t *testing.T) {
	cfg := testConfig(t, stdinConfig)
	chat := newRecorder("chat")
	s := newService(t, cfg, chat, newRecorder("pager"))
	before := finding("111122223333", "198.51.100.7", match.CategoryReadOnly, 1)
	huge := finding("111122223333", "198.51.100.7", match.CategoryReadOnly, 2)
	huge.UserAgent = strings.Repeat("A", 6<<20)
	huge.Record = json.RawMessage(`{"userAgent":"` + strings.Repeat("A", 6<<20) + `","requestParameters":{"x":"` + strings.Repeat("B", 13<<20) + `"}}`)
	after := finding("111122223333", "198.51.100.7", match.CategoryReadOnly, 3)
	hugeLine := mustJSON(t, huge)
	if len(hugeLine) < 25<<20 {
		t.Fatalf("test line is only %d bytes", len(hugeLine))
	}
	tooLong := strings.NewReader(strings.Repeat(" ", MaxStdinLine+10) + "\n")
	r := io.MultiReader(strings.NewReader(lines(t, []match.Finding{before})), strings.NewReader(string(hugeLine)+"\n"),
		tooLong, strings.NewReader(lines(t, []match.Finding{after})))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, r); err != nil {
		t.Fatalf("RunStdin: %v", err)
	}
	seen := map[string]bool{}
	for _, n := range chat.notes() {
		for _, f := range n.Findings {
			seen[f.EventID] = true
		}
	}
	for _, f := range []match.Finding{before, huge, after} {
		if !seen[f.EventID] {
			t.Errorf("finding %s lost", f.EventID)
		}
	}
	if v := value(t, s.m.bad.WithLabelValues("too-long")); v != 1 {
		t.Errorf("too-long lines counted %v, want 1", v)
	}
}

// memDLQ keeps parked entries (the stdin source has no DLQ of its own).
type memDLQ struct {
	mu      sync.Mutex
	entries []DLQEntry
}

func (d *memDLQ) Park(_ context.Context, _ []byte, e DLQEntry) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = append(d.entries, e)
	return nil
}

// A finding with a severity, category, rule or path this version does not
// know is rejected with the reason, never shown; a missing rule is an
// older producer's and means cis-root.
func TestUnknownValuesRejected(t *testing.T) {
	cfg := testConfig(t, stdinConfig)
	chat := newRecorder("chat")
	s := newService(t, cfg, chat, newRecorder("pager"))
	dlq := &memDLQ{}
	s.dlq = dlq
	var fs []match.Finding
	for i, mut := range []func(*match.Finding){
		func(f *match.Finding) { f.Severity = "ultra" },
		func(f *match.Finding) { f.Category = "<!channel>" },
		func(f *match.Finding) { f.Category = CategoryCompliance },
		func(f *match.Finding) { f.Rule = "whatever" },
		func(f *match.Finding) { f.Path = "carrier-pigeon" },
	} {
		f := finding("111122223333", "198.51.100.7", match.CategoryReadOnly, i)
		mut(&f)
		fs = append(fs, f)
	}
	legacy := finding("111122223333", "198.51.100.7", match.CategoryReadOnly, 99) // no rule, no path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, append(fs, legacy)))); err != nil {
		t.Fatal(err)
	}
	for _, n := range chat.notes() {
		for _, f := range n.Findings {
			if f.EventID != legacy.EventID {
				t.Errorf("rejected finding shown: %s (%s/%s)", f.EventID, f.Severity, f.Category)
			} else if f.Rule != match.RuleCISRoot {
				t.Errorf("a finding without rule is shown with rule %q", f.Rule)
			}
		}
	}
	if len(chat.notes()) == 0 {
		t.Fatal("the valid finding was not notified")
	}
	if v := value(t, s.m.bad.WithLabelValues("invalid")); v != 5 {
		t.Errorf("invalid findings counted %v, want 5", v)
	}
	dlq.mu.Lock()
	defer dlq.mu.Unlock()
	var reasons []string
	for _, e := range dlq.entries {
		if e.Stage != "decode" || len(e.Message) == 0 {
			t.Errorf("DLQ entry %+v", e)
		}
		reasons = append(reasons, e.Reason)
	}
	joined := strings.Join(reasons, "\n")
	for _, want := range []string{`severity "ultra"`, `category "<!channel>"`, `category "compliance"`, `rule "whatever"`, `path "carrier-pigeon"`} {
		if !strings.Contains(joined, want) {
			t.Errorf("DLQ reasons lack %q:\n%s", want, joined)
		}
	}
}

// One root event that is both routed (to the console) and a compliance
// notice (to another channel) says so on its console line, and the notice
// says which incident holds the event.
func TestComplianceNoticeOnTheConsoleLine(t *testing.T) {
	cfg := testConfig(t, `
source: "-"
root_unused_days: 7
channels:
  - {name: out, type: console}
  - {name: audit, type: console}
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {match: {categories: [console-login]}, channels: [out]}
`)
	var out testutil.SyncBuffer
	audit := newRecorder("audit")
	s, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), Channels: map[string]channel.Channel{"audit": audit},
		ChannelDeps: channel.Deps{Stdout: &out}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f := finding("777700000000", "198.51.100.1", match.CategoryConsoleLogin, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, []match.Finding{f}))); err != nil {
		t.Fatal(err)
	}
	console := strings.TrimSpace(out.String())
	if strings.Count(console, "\n") != 0 || !strings.Contains(console, "OPEN") {
		t.Fatalf("want one console line for the incident, got:\n%s", console)
	}
	notices := audit.notes()
	if len(notices) != 1 || notices[0].Incident.Category != CategoryCompliance {
		t.Fatalf("want one compliance notice, got %d", len(notices))
	}
	notice := notices[0]
	if want := fmt.Sprintf("note: this event is also a compliance notice (incident %s): the first root use seen in this account", notice.Incident.ID); !strings.Contains(console, want) {
		t.Errorf("console line does not say it is a compliance notice:\n%s\nwant %q", console, want)
	}
	incID := console[strings.Index(console, "| incident ")+len("| incident "):]
	incID = incID[:strings.Index(incID, " ")]
	if len(notice.Notes) != 1 || !strings.Contains(notice.Notes[0], "the event is in incident "+incID) {
		t.Errorf("compliance notice notes %q, want them to name incident %s", notice.Notes, incID)
	}
	if got := channel.Render(&notice).Title.In(channel.Plain); !strings.Contains(got, "Root used after being unused in account 777700000000") {
		t.Errorf("compliance notice title %q", got)
	}
}

// A root-session-issued finding (who opened a centralised-root session) is
// context, not root use: it never becomes the account's last root use nor
// opens a compliance notice, whether it is alerted on (a failed call) or
// only recorded (a usual session).
func TestRootSessionIssuedIsNotRootUse(t *testing.T) {
	cfg := testConfig(t, `
source: "-"
channels: [{name: audit, type: console}, {name: chat, type: console}]
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {channels: [chat]}
`)
	audit, chat := newRecorder("audit"), newRecorder("chat")
	s := newService(t, cfg, audit, chat)
	f := finding("888800000000", "198.51.100.1", match.CategorySessionFailed, 0)
	f.Rule, f.ErrorCode = match.RuleRootSessionIssued, "AccessDenied"
	f.Session = &match.Session{CallerARN: "arn:aws:sts::888800000000:assumed-role/Admin/jane", TargetAccountID: "999900000000",
		TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}
	ok := finding("888800000000", "198.51.100.1", match.CategorySessionIssued, 1)
	ok.Rule = match.RuleRootSessionIssued
	ok.Session = &match.Session{AccessKeyID: "ASIAEXAMPLE", CallerARN: "arn:aws:sts::888800000000:assumed-role/Admin/jane",
		TargetAccountID: "999900000000", TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, []match.Finding{f, ok}))); err != nil {
		t.Fatal(err)
	}
	if len(chat.notes()) != 1 || chat.notes()[0].Findings[0].EventID != f.EventID {
		t.Fatalf("the failed call was not routed (alone): %+v", chat.notes())
	}
	if n := value(t, s.m.findings.WithLabelValues("session")); n != 1 {
		t.Errorf("the usual session was not recorded as such: %v", n)
	}
	if n := len(audit.notes()); n != 0 {
		t.Errorf("a root-session-issued finding opened %d compliance notices", n)
	}
	if got := s.RootLastUsed().Accounts; len(got) != 0 {
		t.Errorf("a root-session-issued finding counted as root use: %+v", got)
	}
}

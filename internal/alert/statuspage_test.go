package alert

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

const statusConfig = `
source: "-"
root_unused_days: 7
grouping:
  group_interval: 50ms
channels:
  - {name: pager, type: console}
  - {name: chat, type: console}
routes:
  - match: {categories: [console-login]}
    channels: [pager, chat]
  - match: {}
    channels: [chat]
`

// statusService runs findings through a stdin Service: account
// 111122223333 used root 3 days ago (a console sign-in, with a hostile
// event name), 444455556666 used it 20 days ago.
func statusService(t *testing.T) *Service {
	t.Helper()
	s := newService(t, testConfig(t, statusConfig), newRecorder("pager"), newRecorder("chat"))
	now := time.Now()
	recent := finding("111122223333", "198.51.100.7", match.CategoryConsoleLogin, 1)
	recent.EventTime = now.Add(-3*24*time.Hour - time.Hour)
	recent.EventName = `ConsoleLogin<script>alert(1)</script>`
	recent.Severity = match.SeverityCritical
	old := finding("444455556666", "203.0.113.9", match.CategoryMutating, 2)
	old.EventTime = now.Add(-20*24*time.Hour - time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, []match.Finding{recent, old}))); err != nil {
		t.Fatal(err)
	}
	s.ready.Store(true)
	return s
}

func getPage(t *testing.T, url string) (string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b), resp.Header
}

// The page shows each account's last root use in days against the
// threshold, the incidents notified, and the counts; every value is escaped.
func TestStatusPageShowsAccountsIncidentsAndCounts(t *testing.T) {
	s := statusService(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body, h := getPage(t, srv.URL+"/")
	if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	for _, want := range []string{
		"<code>111122223333</code>", "3 days ago", "root used within 7 days",
		"<code>444455556666</code>", "20 days ago", "not used in 7 days",
		"Root console sign-in", // the console-login incident's title
		"chat, pager",          // both channels notified it
		"ConsoleLogin‹script›alert(1)‹/script›", // shown as channel.Plain shows it, then HTML-escaped
		"<td>opened</td>", "<td>chat</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "src=\"http") || strings.Contains(body, "href=\"http") {
		t.Errorf("status page has a script or an external asset")
	}
	// The recent account comes first.
	if strings.Index(body, "111122223333") > strings.Index(body, "444455556666") {
		t.Errorf("the account with recent root use is not listed first")
	}
	// Only / is the page; other paths are still 404.
	resp, err := http.Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /nope: %d", resp.StatusCode)
	}
}

// The page lists at most statusMaxIncidents incidents of the fleet view,
// the last notified first.
func TestStatusPageKeepsTheNewest(t *testing.T) {
	s := newService(t, testConfig(t, statusConfig), newRecorder("pager"), newRecorder("chat"))
	for i := range statusMaxIncidents + 10 {
		n := notificationFor(i)
		inc := &incident{Incident: n.Incident, Out: map[string]*delivery{"chat": {N: 1, Sent: 1, LastSent: baseTime.Add(time.Duration(i) * time.Minute)}}}
		b, err := json.Marshal(inc)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.view.apply(0, int64(i), Record{Key: prefixIncident + inc.ID, Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	got := s.status().Incidents
	if len(got) != statusMaxIncidents || got[0].ID != notificationFor(statusMaxIncidents+9).Incident.ID {
		t.Fatalf("kept %d, newest %q", len(got), got[0].ID)
	}
}

func TestDaysAgo(t *testing.T) {
	for d, want := range map[int]string{0: "today (0 days ago)", 1: "1 day ago", 12: "12 days ago"} {
		if got := daysAgo(d); got != want {
			t.Errorf("daysAgo(%d) = %q, want %q", d, got, want)
		}
	}
}

// chromiumPath finds a headless-capable Chromium, or "".
func chromiumPath() string {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// What a person sees, in a real browser: the DOM after Chromium rendered
// the page. Set ROOTWATCH_SCREENSHOT to a .png path to keep a screenshot.
func TestStatusPageInChromium(t *testing.T) {
	chrome := chromiumPath()
	if chrome == "" {
		t.Skip("chromium not installed: apt-get update && apt-get install -y chromium (Debian) to run the browser test")
	}
	s := statusService(t)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	args := func(extra ...string) []string {
		return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--user-data-dir=" + t.TempDir()}, extra...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, chrome, args("--dump-dom", srv.URL+"/")...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	dom := string(out)
	for _, want := range []string{"111122223333", "3 days ago", "20 days ago", "root used within 7 days", "Root console sign-in", "rootwatch alert"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)</script>") {
		t.Errorf("the hostile event name became markup")
	}
	if shot := os.Getenv("ROOTWATCH_SCREENSHOT"); shot != "" {
		abs, _ := filepath.Abs(shot)
		if out, err := exec.CommandContext(ctx, chrome, args("--screenshot="+abs, "--window-size=1280,900", "--hide-scrollbars", srv.URL+"/")...).CombinedOutput(); err != nil {
			t.Fatalf("screenshot: %v\n%s", err, out)
		}
		t.Logf("screenshot in %s", abs)
	}
}

func notificationFor(i int) *channel.Notification {
	f := finding("111122223333", "198.51.100.7", match.CategoryMutating, i)
	return &channel.Notification{Kind: channel.KindOpen, Findings: []match.Finding{f},
		Incident: channel.Incident{ID: "inc-" + strconv.Itoa(i), AccountID: f.AccountID, Category: f.Category, Severity: f.Severity, Count: 1}}
}

package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// slackAPI is a stand-in for Slack's chat.postMessage that checks each
// request against the documented contract: POST, bearer token, JSON body
// with channel and text; answers {"ok":true,"channel","ts"}.
type slackAPI struct {
	t     *testing.T
	mu    sync.Mutex
	posts []map[string]any
	n     int
}

func (s *slackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/chat.postMessage" {
		s.t.Errorf("slack: %s %s", r.Method, r.URL.Path)
		http.Error(w, "not found", 404)
		return
	}
	if r.Header.Get("Authorization") != "Bearer xoxb-test-token" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":false,"error":"not_authed"}`)
		s.t.Errorf("slack: auth %q content-type %q", r.Header.Get("Authorization"), r.Header.Get("Content-Type"))
		return
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body["channel"] != "C0123456789" || body["text"] == "" {
		s.t.Errorf("slack: body %v (%v)", body, err)
	}
	s.mu.Lock()
	s.n++
	ts := fmt.Sprintf("1700000000.%06d", s.n)
	s.posts = append(s.posts, body)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0123456789", "ts": ts})
}

func (s *slackAPI) all() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.posts...)
}

// pagerDutyAPI is a stand-in for the Events API v2 (/v2/enqueue): 202 with
// {"status":"success","dedup_key"}; the first request is refused with 429
// and Retry-After, as PagerDuty does when rate limiting.
type pagerDutyAPI struct {
	t      *testing.T
	mu     sync.Mutex
	events []map[string]any
	calls  int
}

func (p *pagerDutyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		p.t.Errorf("pagerduty: %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		w.WriteHeader(400)
		return
	}
	var ev map[string]any
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		p.t.Errorf("pagerduty: %v", err)
	}
	p.mu.Lock()
	p.calls++
	first := p.calls == 1
	p.mu.Unlock()
	if first {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"status":"throttle event","message":"Requests for this service are arriving too quickly."}`)
		return
	}
	pl, _ := ev["payload"].(map[string]any)
	if ev["routing_key"] != "0123456789abcdef0123456789abcdef" || ev["event_action"] != "trigger" || ev["dedup_key"] == "" ||
		pl == nil || pl["summary"] == "" || pl["source"] == "" || pl["severity"] == "" {
		p.t.Errorf("pagerduty: event %v", ev)
		w.WriteHeader(400)
		io.WriteString(w, `{"status":"invalid event","message":"Event object is invalid"}`)
		return
	}
	p.mu.Lock()
	p.events = append(p.events, ev)
	p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev["dedup_key"]})
}

func (p *pagerDutyAPI) all() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.events...)
}

// Through the real Slack and PagerDuty channels (internal/channel) via
// Kafka: a burst of one session is one Slack message with thread replies
// carrying the thread_ts Slack returned, and PagerDuty events sharing one
// dedup_key, the first of which survives a 429.
func TestKafkaSlackAndPagerDuty(t *testing.T) {
	slack := &slackAPI{t: t}
	pd := &pagerDutyAPI{t: t}
	ss, ps := httptest.NewServer(slack), httptest.NewServer(pd)
	defer ss.Close()
	defer ps.Close()
	env := newKafkaEnv(t)
	cfg := env.config(fmt.Sprintf(`
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  heartbeat_interval: 100ms
grouping: {group_interval: 100ms}
delivery: {backoff: 10ms, max_elapsed: 10s, timeout: 2s}
channels:
  - {name: slack, type: slack, token: xoxb-test-token, channel: C0123456789, base_url: %q}
  - {name: pd, type: pagerduty, routing_key: 0123456789abcdef0123456789abcdef, base_url: %q}
routes:
  - match: {categories: [api-mutating]}
    channels: [slack, pd]
`, ss.URL, ps.URL))
	sent := &sentCounts{m: map[string]int{}}
	s, err := New(cfg, Options{Logger: testLogger(t), DrainTimeout: 5 * time.Second, OnSent: sent.observe})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	r := &running{s: s, done: make(chan error, 1)}
	ctx, cancel := contextWithCancel()
	r.cancel = cancel
	go func() { r.done <- s.RunKafka(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	r.waitReady(t)

	var fs []match.Finding
	for i := range 200 {
		fs = append(fs, finding("123456789012", "203.0.113.50", match.CategoryMutating, i))
	}
	env.produce(fs[:1]...)
	testutil.WaitFor(t, 10*time.Second, "slack open", func() bool { return len(slack.all()) == 1 })
	env.produce(fs[1:]...)
	// Both channels are told about all 200 findings (PagerDuty carries the
	// incident's count in custom_details; Slack the number of new events per reply).
	pdCount := func() float64 {
		evs := pd.all()
		if len(evs) == 0 {
			return 0
		}
		pl, _ := evs[len(evs)-1]["payload"].(map[string]any)
		cd, _ := pl["custom_details"].(map[string]any)
		inc, _ := cd["incident"].(map[string]any)
		c, _ := inc["count"].(float64)
		return c
	}
	testutil.WaitFor(t, 10*time.Second, "pagerduty told about 200 findings", func() bool { return pdCount() == 200 })
	testutil.WaitFor(t, 10*time.Second, "slack told about 200 findings", func() bool { return sent.max("slack") == 200 })
	posts := slack.all()
	if posts[0]["thread_ts"] != nil {
		t.Fatalf("the open must be a new message, got thread_ts %v", posts[0]["thread_ts"])
	}
	for _, p := range posts[1:] {
		if p["thread_ts"] != "1700000000.000001" {
			t.Fatalf("update not threaded under the open: %v", p["thread_ts"])
		}
	}
	if len(posts) > 20 {
		t.Fatalf("200 findings became %d slack posts", len(posts))
	}
	keys := map[any]bool{}
	for _, ev := range pd.all() {
		keys[ev["dedup_key"]] = true
	}
	if len(keys) != 1 {
		t.Fatalf("pagerduty events of one incident used %d dedup keys", len(keys))
	}
	if v := value(t, s.m.retries.WithLabelValues("pd")); v < 1 {
		t.Fatalf("the 429 was not retried (retries %v)", v)
	}
}

// sentCounts tracks, per channel, the highest incident count delivered.
type sentCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *sentCounts) observe(ch string, n *channel.Notification, _ time.Time) {
	c.mu.Lock()
	c.m[ch] = max(c.m[ch], n.Incident.Count)
	c.mu.Unlock()
}

func (c *sentCounts) max(ch string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[ch]
}

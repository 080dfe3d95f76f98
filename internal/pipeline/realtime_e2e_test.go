package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/config"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/match"
)

// pages is the far end of alert's webhook channels: for each eventID, the
// distinct notifications (by Idempotency-Key) that carried it, and the
// path of the copy each carried.
type pages struct {
	mu    sync.Mutex
	keys  map[string]bool
	seen  map[string]int
	paths map[string][]match.Path
	first map[string]time.Time // when a notification first carried the eventID
	bad   int
}

func newPages() *pages {
	return &pages{keys: map[string]bool{}, seen: map[string]int{}, paths: map[string][]match.Path{}, first: map[string]time.Time{}}
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Version  string          `json:"version"`
		Findings []match.Finding `json:"findings"`
	}
	b, err := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	key := r.Header.Get("Idempotency-Key")
	if err != nil || json.Unmarshal(b, &body) != nil || body.Version != "1" || key == "" {
		p.bad++
		http.Error(w, "not a rootwatch webhook notification", http.StatusBadRequest)
		return
	}
	if r.URL.Path != "/hook" || p.keys[key] { // compliance notices; retries of what was taken
		return
	}
	p.keys[key] = true
	for _, f := range body.Findings {
		p.seen[f.EventID]++
		p.paths[f.EventID] = append(p.paths[f.EventID], f.Path)
		if p.first[f.EventID].IsZero() {
			p.first[f.EventID] = time.Now()
		}
	}
}

func (p *pages) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[id]
}

// rtAlertConfig routes compliance notices away from the page channel.
const rtAlertConfig = `
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  group: realtime-e2e
  heartbeat_interval: 100ms
  session_timeout: 6s
grouping:
  group_interval: 100ms
delivery: {max_attempts: 3, backoff: 10ms, max_backoff: 50ms, max_elapsed: 2s, timeout: 2s}
channels:
  - {name: hook, type: webhook, url: "%s/hook"}
  - {name: audit, type: webhook, url: "%s/compliance"}
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {channels: [hook]}
`

// A root call delivered by both paths pages once, in either order, and
// one delivered by S3 alone pages too; through the real pipeline: fauxqs
// SQS (raw and through SNS), gofakes3, ingest's SQS run into kfake, and
// the alert service consuming it with a webhook channel.
func TestRealtimeAndS3PathsPageOnce(t *testing.T) {
	e := newEnv(t, 30, nil)
	publish := e.snsTopic()
	hook := newPages()
	srv := httptest.NewServer(hook)
	defer srv.Close()

	var acfg alert.Config
	if err := config.Decode([]byte(fmt.Sprintf(rtAlertConfig, srv.URL, srv.URL)), &acfg); err != nil {
		t.Fatal(err)
	}
	acfg.SetDefaults()
	if err := acfg.Validate(); err != nil {
		t.Fatal(err)
	}
	acfg.Kafka.Config = e.kcfg
	svc, err := alert.New(&acfg, alert.Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	actx, stopAlert := context.WithCancel(context.Background())
	alertDone := make(chan error, 1)
	go func() { alertDone <- svc.RunKafka(actx) }()
	t.Cleanup(func() {
		stopAlert()
		if err := <-alertDone; err != nil {
			t.Errorf("alert: %v", err)
		}
	})
	e.start(runOpts{})

	// Each root call's log file is written to the bucket, then notified.
	n := 0
	deliverS3 := func(ev fixtures.Event) {
		t.Helper()
		n++
		acct := "111122223333"
		key := fmt.Sprintf("AWSLogs/%s/CloudTrail/us-east-1/2026/01/05/%s_CloudTrail_us-east-1_20260105T00%02dZ_rt%d.json.gz", acct, acct, n, n)
		e.s3.Put(t, bucket, key, gz(fixtures.LogFile(ev.Detail())))
		e.send(s3EventBody(bucket, key))
	}
	both := func(first string, want float64) {
		t.Helper()
		waitFor(t, 30*time.Second, "alert to absorb the second copy (first by "+first+")", func() bool {
			for _, ps := range svc.PathStats() {
				if ps.Path == first && ps.ThenOther >= want {
					return true
				}
			}
			return false
		})
	}
	paged := func(ev fixtures.Event) {
		t.Helper()
		waitFor(t, 30*time.Second, "a page for "+ev.Name, func() bool { return hook.count(ev.EventID()) >= 1 })
	}
	a := fixtures.EventNamed("root console sign-in").WithEventID("aaaaaaaa-0000-4000-8000-000000000001")
	b := fixtures.EventNamed("root API call").WithEventID("bbbbbbbb-0000-4000-8000-000000000002")
	c := fixtures.EventNamed("failed root console sign-in").WithEventID("cccccccc-0000-4000-8000-000000000003")
	d := fixtures.EventNamed("assumed-root session action").WithEventID("dddddddd-0000-4000-8000-000000000004")

	// EventBridge first (raw), the log file minutes later.
	sentA := time.Now()
	e.send(a.Body)
	paged(a)
	hook.mu.Lock()
	t.Logf("measured: EventBridge event on the queue -> page at the webhook: %s", hook.first[a.EventID()].Sub(sentA).Round(time.Millisecond))
	hook.mu.Unlock()
	deliverS3(a)
	both("eventbridge", 1)
	// The log file first, EventBridge late (through SNS).
	deliverS3(b)
	paged(b)
	publish(b.Body)
	both("s3", 1)
	// The log file only (over 256 KB, or a region without the rule).
	sentC := time.Now()
	deliverS3(c)
	paged(c)
	hook.mu.Lock()
	t.Logf("measured: log file in the bucket and notified -> page at the webhook: %s", hook.first[c.EventID()].Sub(sentC).Round(time.Millisecond))
	hook.mu.Unlock()
	// An assumed-root session action, EventBridge first through SNS.
	publish(d.Body)
	paged(d)
	deliverS3(d)
	both("eventbridge", 2)

	// A later root call of the same session as a joins its incident: the
	// update it causes carries it alone, so a's log-file copy added
	// nothing to send (it would be in this update, or before it).
	later := fixtures.EventNamed("root console sign-in").WithEventID("aaaaaaaa-0000-4000-8000-000000000005")
	deliverS3(later)
	paged(later)
	waitFor(t, 20*time.Second, "every message deleted", func() bool { return e.queued() == 0 })

	for _, ev := range []fixtures.Event{a, b, c, d, later} {
		if got := hook.count(ev.EventID()); got != 1 {
			t.Errorf("%s (%s): in %d notifications, want 1", ev.Name, ev.EventID(), got)
		}
	}
	hook.mu.Lock()
	for ev, want := range map[fixtures.Event]match.Path{a: match.PathEventBridge, b: match.PathS3, c: match.PathS3, d: match.PathEventBridge} {
		if got := hook.paths[ev.EventID()]; len(got) != 1 || got[0] != want {
			t.Errorf("%s paged with the copy from %v, want %s", ev.Name, got, want)
		}
	}
	if hook.bad != 0 {
		t.Errorf("%d bad webhook requests", hook.bad)
	}
	hook.mu.Unlock()

	// Both copies are on the findings topic; the records topic has the
	// log files' records only.
	byPath := map[match.Path]int{}
	for _, r := range kafkatest.ReadAll(t, e.kcfg, kafka.TopicRootActivity, 8, 20*time.Second) {
		var f match.Finding
		if err := json.Unmarshal(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		byPath[f.Path]++
	}
	if byPath[match.PathEventBridge] != 3 || byPath[match.PathS3] != 5 {
		t.Errorf("findings by path %v, want 3 from eventbridge and 5 from s3", byPath)
	}
	if got := kafkatest.Count(t, e.kcfg, kafka.TopicRecords); got != 5 {
		t.Errorf("records topic holds %d, want the 5 log files' records", got)
	}

	// The time to detect and to first notification are on /metrics.
	msrv := httptest.NewServer(svc.Handler())
	defer msrv.Close()
	resp, err := http.Get(msrv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`rootwatch_alert_time_to_detect_seconds_count{path="eventbridge"} 3`,
		`rootwatch_alert_time_to_detect_seconds_count{path="s3"} 5`,
		`rootwatch_alert_first_arrivals_total{path="eventbridge"} 2`,
		`rootwatch_alert_first_arrivals_total{path="s3"} 3`,
		`rootwatch_alert_second_copy_delay_seconds_count{first="eventbridge"} 2`,
		`rootwatch_alert_second_copy_delay_seconds_count{first="s3"} 1`,
		`rootwatch_alert_time_to_notify_seconds_count{path="eventbridge"} 2`,
		`rootwatch_alert_findings_enriched_total 2`,
	} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/channel"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

const kafkaConfig = `
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  heartbeat_interval: 100ms
  session_timeout: 6s
grouping:
  group_interval: 100ms
delivery:
  max_attempts: 4
  backoff: 10ms
  max_backoff: 50ms
  max_elapsed: 2s
  timeout: 300ms
channels:
  - {name: chat, type: console}
  - {name: pager, type: console}
routes:
  - match: {categories: [compliance]}
    channels: [chat]
  - match: {min_severity: high}
    channels: [chat, pager]
`

// kafkaEnv is one kfake cluster with the findings topic (2 partitions).
type kafkaEnv struct {
	t   testing.TB
	cfg kafka.Config
	w   *kafkago.Writer
}

func newKafkaEnv(t *testing.T) *kafkaEnv { return newKafkaEnvTB(t) }

func newKafkaEnvTB(t testing.TB) *kafkaEnv {
	_, kc := kafkatest.Cluster(t, 2, DefaultTopic)
	w := &kafkago.Writer{Addr: kafkago.TCP(kc.Brokers...), Topic: DefaultTopic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 500}
	t.Cleanup(func() { w.Close() })
	return &kafkaEnv{t: t, cfg: kc, w: w}
}

func (e *kafkaEnv) config(y string) *Config {
	c := testConfig(e.t, y)
	c.Kafka.Config = e.cfg
	return c
}

// produce writes findings keyed by account, like ingest does.
func (e *kafkaEnv) produce(fs ...match.Finding) {
	e.t.Helper()
	msgs := make([]kafkago.Message, len(fs))
	for i, f := range fs {
		msgs[i] = kafkago.Message{Key: []byte(f.AccountID), Value: mustJSON(e.t, f)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.w.WriteMessages(ctx, msgs...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *kafkaEnv) produceRaw(key string, vals ...[]byte) {
	e.t.Helper()
	var msgs []kafkago.Message
	for _, v := range vals {
		msgs = append(msgs, kafkago.Message{Key: []byte(key), Value: v})
	}
	if err := e.w.WriteMessages(context.Background(), msgs...); err != nil {
		e.t.Fatal(err)
	}
}

// running is one alert replica.
type running struct {
	s      *Service
	cancel context.CancelFunc
	done   chan error
}

func (e *kafkaEnv) start(cfg *Config, chans ...*recorder) *running {
	e.t.Helper()
	s := newService(e.t, cfg, chans...)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.RunKafka(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop is a graceful shutdown (SIGTERM): bounded wait.
func (r *running) stop(t testing.TB) {
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("RunKafka: %v", err)
		}
		r.done <- nil
	case <-time.After(15 * time.Second):
		t.Errorf("RunKafka did not stop within 15s")
	}
}

// kill simulates a crash: no flush, no commit.
func (r *running) kill(t testing.TB) {
	r.s.Kill()
	r.stop(t)
}

func (r *running) waitReady(t testing.TB) {
	testutil.WaitFor(t, 15*time.Second, "readiness", func() bool { return r.s.ready.Load() })
}

func nonCompliance(ns []channel.Notification) []channel.Notification {
	var out []channel.Notification
	for _, n := range ns {
		if n.Incident.Category != CategoryCompliance {
			out = append(out, n)
		}
	}
	return out
}

// A burst of 1,000 findings of one session through Kafka: one open per
// channel, batched updates covering all 1,000, the same findings replayed
// give nothing new; after a restart the state (dedup, incidents, last root
// use) is back and a replay is still deduplicated.
func TestKafkaBurstReplayAndRestore(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(kafkaConfig)
	chat, pager := newRecorder("chat"), newRecorder("pager")
	r1 := env.start(cfg, chat, pager)
	r1.waitReady(t)

	var fs []match.Finding
	for i := range 1000 {
		fs = append(fs, finding("111122223333", "198.51.100.7", match.CategoryMutating, i))
	}
	env.produce(fs[:1]...)
	testutil.WaitFor(t, 10*time.Second, "the open", func() bool { return len(nonCompliance(pager.notes())) == 1 })
	env.produce(fs[1:]...)
	testutil.WaitFor(t, 10*time.Second, "updates covering 1000 findings", func() bool {
		return covered(pager.notes())[nonCompliance(pager.notes())[0].Incident.ID] == 1000
	})
	env.produce(fs[:300]...) // replay
	testutil.WaitFor(t, 10*time.Second, "replay consumed", func() bool {
		return value(t, r1.s.m.findings.WithLabelValues("duplicate")) == 300
	})
	time.Sleep(300 * time.Millisecond) // three group intervals: a wrong update would show
	for _, rec := range []*recorder{chat, pager} {
		ns := nonCompliance(rec.notes())
		k := kinds(ns)
		if k[channel.KindOpen] != 1 || k[channel.KindUpdate] < 1 || len(ns) > 60 {
			t.Fatalf("%s: want 1 open and a few updates, got %v", rec.name, k)
		}
		if ns[0].Findings[0].EventID != fs[0].EventID {
			t.Fatalf("%s: open does not carry the first finding", rec.name)
		}
	}
	if c := len(chat.notes()) - len(nonCompliance(chat.notes())); c != 1 {
		t.Fatalf("want 1 compliance notification for the first root use, got %d", c)
	}
	before := len(pager.notes())
	r1.stop(t)

	// Restart on the same state topic and group.
	r2 := env.start(cfg, chat, pager)
	r2.waitReady(t)
	ru := r2.s.RootLastUsed()
	if len(ru.Accounts) != 1 || ru.Accounts[0].EventID != fs[999].EventID || !ru.Accounts[0].Time.Equal(fs[999].EventTime) {
		t.Fatalf("last root use not restored: %+v", ru)
	}
	// The same through HTTP: the API and the gauge.
	srv := httptest.NewServer(r2.s.Handler())
	defer srv.Close()
	var api RootLastUsedResponse
	if err := getJSON(srv.URL+"/api/root-last-used", &api); err != nil || len(api.Accounts) != 1 || api.Accounts[0].AccountID != "111122223333" || api.ThresholdDays != 7 {
		t.Fatalf("GET /api/root-last-used: %+v %v", api, err)
	}
	if body := getText(t, srv.URL+"/metrics"); !strings.Contains(body, fmt.Sprintf(`rootwatch_root_last_used_timestamp_seconds{account="111122223333"} %g`, float64(fs[999].EventTime.Unix()))) {
		t.Fatalf("gauge missing from /metrics")
	}
	if body := getText(t, srv.URL+"/readyz"); body != "ready\n" {
		t.Fatalf("readyz: %q", body)
	}
	env.produce(fs[500:600]...) // replay after restart
	testutil.WaitFor(t, 10*time.Second, "replay after restart consumed", func() bool {
		return value(t, r2.s.m.findings.WithLabelValues("duplicate")) == 100
	})
	time.Sleep(300 * time.Millisecond)
	if after := len(pager.notes()); after != before {
		t.Fatalf("restart or replay sent %d more notifications", after-before)
	}
	// A new finding of the same session joins the restored incident as an update.
	env.produce(finding("111122223333", "198.51.100.7", match.CategoryMutating, 1000))
	testutil.WaitFor(t, 10*time.Second, "update after restart", func() bool { return len(pager.notes()) == before+1 })
	last := pager.notes()[before]
	if last.Kind != channel.KindUpdate || last.Incident.Count != 1001 || last.State["thread"] != last.Incident.ID {
		t.Fatalf("after restart got %s count %d state %v", last.Kind, last.Incident.Count, last.State)
	}
}

// Bad messages, and findings with a severity, category or rule this
// version does not know, are counted and parked in the DLQ with the
// reason, never shown; the stream goes on.
func TestKafkaBadMessageToDLQ(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(kafkaConfig)
	pager, chat := newRecorder("pager"), newRecorder("chat")
	r := env.start(cfg, chat, pager)
	r.waitReady(t)
	ultra := finding("111122223333", "203.0.113.9", match.CategoryConsoleLogin, 7)
	ultra.Severity = "ultra"
	mention := finding("111122223333", "203.0.113.9", match.CategoryConsoleLogin, 8)
	mention.Category = "<!channel>"
	rule := finding("111122223333", "203.0.113.9", match.CategoryConsoleLogin, 9)
	rule.Rule = "made-up"
	env.produceRaw("111122223333", []byte("{not json"), []byte(`{"eventID":"x"}`), mustJSON(t, ultra), mustJSON(t, mention), mustJSON(t, rule))
	env.produce(finding("111122223333", "203.0.113.9", match.CategoryConsoleLogin, 1))
	testutil.WaitFor(t, 10*time.Second, "the finding after bad messages", func() bool { return len(nonCompliance(pager.notes())) == 1 })
	recs := kafkatest.ReadAll(t, env.cfg, DefaultDLQTopic, 5, 10*time.Second)
	if len(recs) != 5 {
		t.Fatalf("want 5 DLQ records, got %d", len(recs))
	}
	reasons := map[string]bool{}
	for _, rec := range recs {
		var e DLQEntry
		if err := json.Unmarshal(rec.Value, &e); err != nil || e.Stage != "decode" || e.Reason == "" {
			t.Fatalf("DLQ entry %s: %v", rec.Value, err)
		}
		reasons[e.Reason] = true
	}
	for _, want := range []string{`unknown severity "ultra"`, `unknown category "<!channel>"`, `unknown rule "made-up"`, "no accountId", "not a finding"} {
		found := false
		for r := range reasons {
			found = found || strings.Contains(r, want)
		}
		if !found {
			t.Errorf("no DLQ reason mentions %q: %v", want, reasons)
		}
	}
	for _, n := range append(pager.notes(), chat.notes()...) {
		for _, f := range n.Findings {
			if f.EventID == ultra.EventID || f.EventID == mention.EventID || f.EventID == rule.EventID {
				t.Errorf("rejected finding %s was shown", f.EventID)
			}
		}
	}
}

var errDown = errors.New("down")

func httpErr(status int) error {
	return &channel.HTTPError{Channel: "test", Status: status, RetryAfter: 5 * time.Millisecond}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		return fmt.Errorf("%s: %s %s", url, resp.Status, resp.Header.Get("Content-Type"))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func getText(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/match"
)

// recorder is an in-test channel that keeps every notification it accepted.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []channel.Notification
	at   []time.Time
	// fail, when set, decides the outcome of each attempt (nil = accept).
	fail func(n *channel.Notification, attempt int) error
	// attempts counts every Send call.
	attempts int
	// after, when set, runs after a notification was accepted (outside the lock).
	after func(n *channel.Notification, accepted int)
}

// errHang makes the recorder block until the attempt's context ends.
var errHang = errors.New("hang")

func newRecorder(name string) *recorder { return &recorder{name: name} }

func (r *recorder) Name() string { return r.name }

func (r *recorder) Send(ctx context.Context, n *channel.Notification) (map[string]string, error) {
	r.mu.Lock()
	r.attempts++
	a := r.attempts
	f := r.fail
	r.mu.Unlock()
	if f != nil {
		if err := f(n, a); err == errHang {
			<-ctx.Done() // a provider that never answers
			return nil, ctx.Err()
		} else if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	cp := *n
	cp.Findings = append([]match.Finding(nil), n.Findings...)
	r.got = append(r.got, cp)
	r.at = append(r.at, time.Now())
	k := len(r.got)
	after := r.after
	r.mu.Unlock()
	if after != nil {
		after(n, k)
	}
	return map[string]string{"thread": n.Incident.ID, "seen": fmt.Sprint(k)}, nil
}

func (r *recorder) notes() []channel.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]channel.Notification(nil), r.got...)
}

func (r *recorder) setFail(f func(n *channel.Notification, attempt int) error) {
	r.mu.Lock()
	r.fail = f
	r.mu.Unlock()
}

// kinds counts notifications by kind.
func kinds(ns []channel.Notification) map[channel.Kind]int {
	m := map[channel.Kind]int{}
	for _, n := range ns {
		m[n.Kind]++
	}
	return m
}

// covered is the highest Incident.Count a channel was told about, per incident.
func covered(ns []channel.Notification) map[string]int {
	m := map[string]int{}
	for _, n := range ns {
		m[n.Incident.ID] = max(m[n.Incident.ID], n.Incident.Count)
	}
	return m
}

var baseTime = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// finding makes a root finding; i varies the eventID and time.
func finding(acct, ip string, cat match.Category, i int) match.Finding {
	return match.Finding{
		EventID:         fmt.Sprintf("%s-%s-%s-%06d", acct, cat, ip, i),
		EventTime:       baseTime.Add(time.Duration(i) * time.Second),
		AccountID:       acct,
		Region:          "us-east-1",
		EventSource:     "iam.amazonaws.com",
		EventName:       fmt.Sprintf("ListUsers%d", i%3),
		EventType:       "AwsApiCall",
		SourceIPAddress: ip,
		UserAgent:       "aws-cli/2.0",
		Category:        cat,
		Severity:        match.SeverityHigh,
		ReadOnly:        cat == match.CategoryReadOnly,
		PrincipalARN:    "arn:aws:iam::" + acct + ":root",
		Object:          match.ObjectRef{Bucket: "trail", Key: "AWSLogs/" + acct + "/x.json.gz"},
		DetectedAt:      baseTime,
		Record:          json.RawMessage(`{"eventVersion":"1.08","userIdentity":{"type":"Root"}}`),
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testConfig decodes YAML the way cmd/alert does (strict, ${ENV}), applies
// defaults and validates.
func testConfig(t testing.TB, y string) *Config {
	t.Helper()
	var c Config
	if err := config.Decode([]byte(y), &c); err != nil {
		t.Fatalf("decode config: %v", err)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return &c
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("ALERT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newService(t testing.TB, cfg *Config, chans ...*recorder) *Service {
	t.Helper()
	m := map[string]channel.Channel{}
	for _, c := range chans {
		m[c.name] = c
	}
	s, err := New(cfg, Options{Logger: testLogger(t), Channels: m, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func lines(t testing.TB, fs []match.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.Write(mustJSON(t, f))
		b.WriteByte('\n')
	}
	return b.String()
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("not a counter or gauge")
	return 0
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

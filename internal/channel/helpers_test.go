package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/match"
)

var testNow = time.Date(2026, 11, 21, 19, 30, 0, 0, time.UTC)

func testDeps(t *testing.T) Deps {
	t.Helper()
	return Deps{HTTPClient: &http.Client{Timeout: 10 * time.Second}, Now: func() time.Time { return testNow }, Stdout: io.Discard}
}

func sampleFinding(i int) match.Finding {
	return match.Finding{
		EventID:         fmt.Sprintf("0b6f2c1e-0000-4000-8000-%012d", i),
		EventTime:       time.Date(2026, 11, 21, 19, 0, i, 0, time.UTC),
		AccountID:       "123456789012",
		Region:          "us-east-1",
		EventSource:     "signin.amazonaws.com",
		EventName:       "ConsoleLogin",
		EventType:       "AwsConsoleSignIn",
		SourceIPAddress: "203.0.113.9",
		UserAgent:       "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
		Category:        match.CategoryConsoleLogin,
		Severity:        match.SeverityCritical,
		PrincipalARN:    "arn:aws:iam::123456789012:root",
		Object:          match.ObjectRef{Bucket: "trail", Key: "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/21/x.json.gz"},
		DetectedAt:      time.Date(2026, 11, 21, 19, 0, 5, 0, time.UTC),
		Record:          json.RawMessage(`{"eventVersion":"1.08"}`),
	}
}

func sampleNotification(kind Kind, fs ...match.Finding) *Notification {
	if len(fs) == 0 {
		fs = []match.Finding{sampleFinding(1)}
	}
	return &Notification{
		Kind: kind,
		Incident: Incident{
			ID: "inc-2026-11-21-abc123", GroupKey: "123456789012/console-login/203.0.113.9",
			AccountID: "123456789012", Category: match.CategoryConsoleLogin, Severity: match.SeverityCritical,
			OpenedAt: time.Date(2026, 11, 21, 19, 0, 1, 0, time.UTC), LastSeen: fs[len(fs)-1].EventTime,
			Count: len(fs), EventNames: []string{"ConsoleLogin"}, SourceIPs: []string{"203.0.113.9"},
		},
		Findings:       fs,
		IdempotencyKey: "inc-2026-11-21-abc123/" + string(kind) + "/1/test",
	}
}

func parseConfig(t *testing.T, y string) Config {
	t.Helper()
	var c Config
	if err := yaml.Unmarshal([]byte(y), &c); err != nil {
		t.Fatalf("parse config: %v\n%s", err, y)
	}
	return c
}

func mustBuild(t *testing.T, y string, d Deps) Channel {
	t.Helper()
	ch, err := parseConfig(t, y).Build(d)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return ch
}

// recorded is one request a fake provider received.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

func (r recorded) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %s", r.Method, r.Path, err, r.Body)
	}
	return m
}

// fake is an httptest server impersonating a provider: handle checks each
// request against the provider's documented contract (t.Errorf on a
// violation) and answers with the provider's real success or error shapes.
// Injected failures are answered first, one per request.
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	inject []func(w http.ResponseWriter)
	handle func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newFake(t *testing.T, handle func(f *fake, w http.ResponseWriter, r *http.Request, body []byte)) *fake {
	f := &fake{t: t}
	f.handle = func(w http.ResponseWriter, r *http.Request, body []byte) { handle(f, w, r, body) }
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	var inj func(w http.ResponseWriter)
	if len(f.inject) > 0 {
		inj, f.inject = f.inject[0], f.inject[1:]
	}
	f.mu.Unlock()
	if inj != nil {
		inj(w)
		return
	}
	f.handle(w, r, body)
}

func (f *fake) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.reqs...)
}

func (f *fake) last() recorded {
	rs := f.requests()
	if len(rs) == 0 {
		f.t.Fatal("no request received")
	}
	return rs[len(rs)-1]
}

func (f *fake) failNext(fs ...func(w http.ResponseWriter)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject = append(f.inject, fs...)
}

// answer writes a JSON answer.
func answer(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// status answers status with a JSON body and optional Retry-After.
func status(code int, retryAfter, body string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		answer(w, code, body)
	}
}

// expect reports a contract violation unless ok.
func expect(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf("contract: "+format, args...)
	}
	return ok
}

func isJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// fakeSleep records the waits a RetryPolicy asks for instead of sleeping.
type fakeSleep struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *fakeSleep) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type match_Finding = match.Finding

func matchSeverity(s string) match.Severity { return match.Severity(s) }

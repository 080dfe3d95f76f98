package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"rootwatch/internal/match"
)

// These tests run the real commands, `ingest --source <dir> --sink stdout
// | alert --source -` (binaries(t), built without -race as a user runs
// them), with a webhook channel pointed at a recording server in the test.

// hookServer records the eventIDs of every finding the webhook channel posts.
type hookServer struct {
	mu    sync.Mutex
	ids   map[string]int
	posts int
}

func startHook(t *testing.T) (*hookServer, string) {
	h := &hookServer{ids: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Findings []match.Finding `json:"findings"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			w.WriteHeader(400)
			return
		}
		h.mu.Lock()
		h.posts++
		for _, f := range body.Findings {
			h.ids[f.EventID]++
		}
		h.mu.Unlock()
		w.WriteHeader(202)
	}))
	t.Cleanup(srv.Close)
	return h, srv.URL
}

func (h *hookServer) seen() (map[string]int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[string]int, len(h.ids))
	for k, v := range h.ids {
		m[k] = v
	}
	return m, h.posts
}

const pipelineAlertConfig = `
source: "-"
grouping: {group_interval: 10ms, max_findings: 100000}
channels:
  - {name: hook, type: webhook, url: "%s/hook"}
routes:
  - {channels: [hook]}
`

// rootRecord is a CloudTrail root record with its own eventID and user agent.
func rootRecord(id, ua string) string {
	return `{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},` +
		`"eventTime":"2026-01-05T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"203.0.113.9","userAgent":"` + ua + `","eventID":"` + id + `","eventType":"AwsApiCall","readOnly":true,` +
		`"recipientAccountId":"111122223333"}`
}

func writeLog(t *testing.T, dir, name string, records []string) {
	t.Helper()
	p := filepath.Join(dir, "AWSLogs", "111122223333", "CloudTrail", "us-east-1", "2026", "01", "05", name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, gz(t, []byte(`{"Records":[`+strings.Join(records, ",")+`]}`)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "alert.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runPipeline runs `ingest --source logs --sink stdout | alert --source -`
// and returns both commands' stderr.
func runPipeline(t *testing.T, bin, logs, alertConfig string) (ingestErr, alertErr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ing := exec.CommandContext(ctx, filepath.Join(bin, "ingest"), "--source", logs, "--sink", "stdout")
	al := exec.CommandContext(ctx, filepath.Join(bin, "alert"), "--source", "-", "--config", alertConfig)
	pipe, err := ing.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	al.Stdin = pipe
	var ie, ae, ao bytes.Buffer
	ing.Stderr, al.Stderr, al.Stdout = &ie, &ae, &ao
	if err := al.Start(); err != nil {
		t.Fatal(err)
	}
	if err := ing.Start(); err != nil {
		t.Fatal(err)
	}
	ingWait := ing.Wait()
	alWait := al.Wait()
	if ingWait != nil || alWait != nil {
		t.Fatalf("ingest: %v, alert: %v\ningest stderr:\n%s\nalert stderr:\n%s", ingWait, alWait, tailOf(ie.String()), tailOf(ae.String()))
	}
	return ie.String(), ae.String()
}

func tailOf(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

// A legitimate 12.6 MB root record (a 6 MiB user agent) between two small
// ones: ingest accepts it (records up to 16 MiB), its finding is a line
// alert reads, and no finding is lost; then the 25 MB line an older ingest
// wrote for the same record, fed straight to alert, is read too.
func TestHostilePipelineHugeRecord(t *testing.T) {
	bin := binaries(t)
	hook, url := startHook(t)
	cfg := writeConfig(t, fmt.Sprintf(pipelineAlertConfig, url))
	logs := t.TempDir()
	huge := strings.TrimSuffix(rootRecord("ev-huge", strings.Repeat("A", 6<<20)), "}") +
		`,"requestParameters":{"blob":"` + strings.Repeat("B", 6<<20+300<<10) + `"}}`
	if len(huge) < 12_600_000 {
		t.Fatalf("record is %d bytes", len(huge))
	}
	writeLog(t, logs, "huge.json.gz", []string{rootRecord("ev-before", "aws-cli/2.15"), huge, rootRecord("ev-after", "aws-cli/2.15")})
	ingestErr, alertErr := runPipeline(t, bin, logs, cfg)
	ids, _ := hook.seen()
	for _, id := range []string{"ev-before", "ev-huge", "ev-after"} {
		if ids[id] == 0 {
			t.Errorf("finding %s lost\ningest: %s\nalert: %s", id, tailOf(ingestErr), tailOf(alertErr))
		}
	}
	if !strings.Contains(ingestErr, "3 findings") {
		t.Errorf("ingest summary: %s", tailOf(ingestErr))
	}

	// The same record as an older ingest wrote it: a 25 MB line.
	f := match.Finding{EventID: "ev-old-huge", AccountID: "111122223333", EventName: "ListBuckets", UserAgent: strings.Repeat("A", 6<<20),
		ErrorMessage: strings.Repeat("E", 6<<20),
		Category:     match.CategoryReadOnly, Severity: match.SeverityMedium, EventTime: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC),
		Record: json.RawMessage(huge)}
	line, _ := json.Marshal(f)
	if len(line) < 25_000_000 {
		t.Fatalf("old-style line is %d bytes", len(line))
	}
	in := string(line) + "\n" + `{"eventID":"ev-small","accountId":"111122223333","category":"api-read","severity":"medium","eventTime":"2026-01-05T10:00:01Z"}` + "\n"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	al := exec.CommandContext(ctx, filepath.Join(bin, "alert"), "--source", "-", "--config", cfg)
	al.Stdin = strings.NewReader(in)
	out, err := al.CombinedOutput()
	if err != nil {
		t.Fatalf("alert on a %d-byte line: %v\n%s", len(line), err, tailOf(string(out)))
	}
	ids, _ = hook.seen()
	if ids["ev-old-huge"] == 0 || ids["ev-small"] == 0 {
		t.Errorf("findings lost after a %d-byte line: %v\n%s", len(line), ids, tailOf(string(out)))
	}
}

// 100,000 copies of root records (ten distinct events, each repeated)
// through the pipe: alert reads them all, notifies every distinct event,
// and neither command dies (no SIGPIPE, no lost line).
func TestHostilePipelineHundredThousandDuplicates(t *testing.T) {
	bin := binaries(t)
	hook, url := startHook(t)
	cfg := writeConfig(t, fmt.Sprintf(pipelineAlertConfig, url))
	logs := t.TempDir()
	const total, distinct, perFile = 100_000, 10, 10_000
	for file := range total / perFile {
		recs := make([]string, perFile)
		for i := range recs {
			recs[i] = rootRecord(fmt.Sprintf("ev-dup-%d", (file*perFile+i)%distinct), "aws-cli/2.15 <script>https://evil.example")
		}
		writeLog(t, logs, fmt.Sprintf("dup-%02d.json.gz", file), recs)
	}
	ingestErr, alertErr := runPipeline(t, bin, logs, cfg)
	if !strings.Contains(ingestErr, fmt.Sprintf("%d findings", total)) {
		t.Fatalf("ingest did not write %d findings: %s", total, tailOf(ingestErr))
	}
	ids, posts := hook.seen()
	for i := range distinct {
		if ids[fmt.Sprintf("ev-dup-%d", i)] == 0 {
			t.Errorf("event ev-dup-%d never notified", i)
		}
	}
	if len(ids) != distinct {
		t.Errorf("notified %d distinct events, want %d", len(ids), distinct)
	}
	if strings.Contains(alertErr, `"level":"ERROR"`) {
		t.Errorf("alert logged errors: %s", tailOf(alertErr))
	}
	t.Logf("%d findings through the pipe, %d distinct events in %d webhook posts", total, len(ids), posts)
}

// `ingest --sink stdout` writes findings as valid UTF-8 JSON even when the
// record's strings carry bytes that are not UTF-8 (strict consumers reject
// anything else), and alert takes them.
func TestHostilePipelineInvalidUTF8(t *testing.T) {
	bin := binaries(t)
	logs := t.TempDir()
	writeLog(t, logs, "bad-utf8.json.gz", []string{rootRecord("ev-utf8", "agent \xff\xfe\xc3 <\u202e> https://evil.example")})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "ingest"), "--source", logs, "--sink", "stdout").Output()
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 1 {
		t.Fatalf("want 1 finding, got %d lines", len(lines))
	}
	if !utf8.ValidString(lines[0]) || !json.Valid([]byte(lines[0])) {
		t.Fatalf("finding line is not valid UTF-8 JSON: %q", lines[0])
	}
	var f match.Finding
	if err := json.Unmarshal([]byte(lines[0]), &f); err != nil || f.UserAgent != "agent \ufffd\ufffd\ufffd <\u202e> https://evil.example" {
		t.Fatalf("finding %+v (%v)", f, err)
	}
	var rec map[string]any
	if err := json.Unmarshal(f.Record, &rec); err != nil || rec["userAgent"] != f.UserAgent {
		t.Fatalf("embedded record %s (%v)", f.Record, err)
	}
}

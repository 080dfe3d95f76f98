package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/match"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func runCmd(t *testing.T, stdin string, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	code := run(ctx, args, env(e), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckConfigExample(t *testing.T) {
	code, out, errs := runCmd(t, "", nil, "--check-config", "--config", "../../examples/alert.yaml")
	if code != 0 || !strings.Contains(out, "config ok") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// Validation errors name the bad key and say why.
func TestConfigErrors(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"unknown key", "source: \"-\"\nroutez: []\n", "routez"},
		{"unknown channel", "source: \"-\"\nchannels: [{name: a, type: console}]\nroutes: [{channels: [b]}]\n", `routes[0].channels[0]: no channel named "b"`},
		{"bad severity", "source: \"-\"\nchannels: [{name: a, type: console}]\nroutes: [{match: {min_severity: huge}, channels: [a]}]\n", "routes[0].match.min_severity"},
		{"silence without until", "source: \"-\"\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\nsilences: [{reason: x}]\n", "silences[0].until"},
		{"allowlist matches all", "source: \"-\"\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\nallowlist: [{reason: x}]\n", "allowlist[0]: matches every finding"},
		{"bad group field", "source: \"-\"\ngrouping: {by: [acount]}\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\n", "grouping.by[0]"},
		{"bad duration", "source: \"-\"\ndedup_ttl: forever\n", "not a duration"},
		{"kafka without brokers", "source: kafka\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\n", "kafka.brokers: required"},
		{"bad channel field", "source: \"-\"\nchannels: [{name: pd, type: pagerduty, routing_key: short}]\nroutes: [{channels: [pd]}]\n", "routing_key"},
		{"unset env", "source: \"-\"\nchannels: [{name: s, type: slack, webhook_url: \"${NOPE_NOT_SET}\"}]\nroutes: [{channels: [s]}]\n", "NOPE_NOT_SET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCmd(t, "", nil, "--check-config", "--config", writeFile(t, c.body))
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Fatalf("exit %d, stderr %q, want it to mention %q", code, errs, c.want)
			}
		})
	}
}

// Flags beat the environment, which beats the file.
func TestPrecedence(t *testing.T) {
	p := writeFile(t, "source: kafka\nkafka: {brokers: [file:9092]}\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\n")
	code, _, errs := runCmd(t, "", map[string]string{"ROOTWATCH_ALERT_SOURCE": "bogus"}, "--check-config", "--config", p)
	if code != 2 || !strings.Contains(errs, `source: must be "kafka" or "-"`) {
		t.Fatalf("environment did not override the file: %d %s", code, errs)
	}
	code, _, errs = runCmd(t, "", map[string]string{"ROOTWATCH_ALERT_SOURCE": "bogus"}, "--check-config", "--config", p, "--source", "-")
	if code != 0 {
		t.Fatalf("flag did not override the environment: %d %s", code, errs)
	}
}

// ingest --sink stdout | alert --source - : findings in, console alerts out.
func TestStdinEndToEnd(t *testing.T) {
	p := writeFile(t, `
source: "-"
grouping: {group_interval: 10ms}
channels: [{name: out, type: console}]
routes: [{match: {min_severity: high}, channels: [out]}]
`)
	var in strings.Builder
	for i := range 5 {
		f := match.Finding{EventID: fmt.Sprintf("e%d", i), EventTime: time.Date(2026, 11, 20, 10, 0, i, 0, time.UTC),
			AccountID: "123456789012", EventName: "CreateAccessKey", EventSource: "iam.amazonaws.com",
			SourceIPAddress: "203.0.113.5", Category: match.CategoryCredentialChange, Severity: match.SeverityCritical}
		b, _ := json.Marshal(f)
		in.Write(b)
		in.WriteByte('\n')
	}
	in.WriteString("garbage line\n")
	code, out, errs := runCmd(t, in.String(), nil, "--config", p)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "123456789012") || strings.Count(out, "\n") < 2 {
		t.Fatalf("console output:\n%s", out)
	}
	if !strings.Contains(errs, `"bad message"`) {
		t.Fatalf("bad line not logged: %s", errs)
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

func runCmd(t *testing.T, stdin string, e map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	code := run(ctx, args, testutil.Env(e), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, body string) string { return testutil.WriteFile(t, "c.yaml", body) }

func TestCheckConfigExample(t *testing.T) {
	code, out, errs := runCmd(t, "", nil, "--check-config", "--config", "../../examples/alert.yaml")
	if code != 0 || !strings.Contains(out, "config ok") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errs)
	}
}

// Validation errors name the bad key, its line, why, and the valid values;
// none speaks Go or YAML.
func TestConfigErrors(t *testing.T) {
	const chans = "channels: [{name: a, type: console}]\n"
	cases := []struct{ name, body, want string }{
		{"unknown key", "source: \"-\"\nroutez: []\n", "line 2: routez: unknown key (did you mean routes?)"},
		{"unknown channel", "source: \"-\"\n" + chans + "routes: [{channels: [b]}]\n", `line 3: routes[0].channels[0]: no channel named "b" in channels (defined: a)`},
		{"bad severity", "source: \"-\"\n" + chans + "routes: [{match: {min_severity: huge}, channels: [a]}]\n", `line 3: routes[0].match.min_severity: unknown severity "huge" (want critical, high, medium or low)`},
		{"bad category", "source: \"-\"\n" + chans + "routes:\n  - channels: [a]\n    match:\n      categories: [login]\n", `line 6: routes[0].match.categories[0]: unknown category "login" (want console-login, console-login-failed, credential-change`},
		{"silence without until", "source: \"-\"\n" + chans + "routes: [{channels: [a]}]\nsilences: [{reason: x}]\n", "line 4: silences[0].until: required (a time in RFC 3339 form such as 2026-01-31T09:00:00Z)"},
		{"bad silence time", "source: \"-\"\n" + chans + "routes: [{channels: [a]}]\nsilences: [{reason: x, until: next week}]\n", `line 4: silences[0].until: want a time in RFC 3339 form such as 2026-01-31T09:00:00Z, got "next week"`},
		{"allowlist matches all", "source: \"-\"\n" + chans + "routes: [{channels: [a]}]\nallowlist: [{reason: x}]\n", "line 4: allowlist[0]: matches every finding"},
		{"bad group field", "source: \"-\"\ngrouping: {by: [acount]}\n" + chans + "routes: [{channels: [a]}]\n", `line 2: grouping.by[0]: unknown field "acount" (want accountId, category`},
		{"bad duration", "source: \"-\"\ndedup_ttl: forever\n", `line 2: dedup_ttl: want a duration such as 30s, 5m, 1h or 8d, got "forever"`},
		{"wrong kind", "source: \"-\"\ndelivery: {max_attempts: many}\n", `line 2: delivery.max_attempts: want a whole number, got "many"`},
		{"bad source", "source: stdin\n" + chans + "routes: [{channels: [a]}]\n", `line 1: source: want kafka or "-", got "stdin"`},
		{"bad log level", "source: \"-\"\nlog_level: loud\n" + chans + "routes: [{channels: [a]}]\n", `line 2: log_level: want debug, info, warn or error, got "loud"`},
		{"kafka without brokers", "source: kafka\n" + chans + "routes: [{channels: [a]}]\n", "kafka.brokers: required when source is kafka (set it with --brokers, or ROOTWATCH_ALERT_BROKERS, or kafka.brokers in the config file)"},
		{"bad channel field", "source: \"-\"\nchannels: [{name: pd, type: pagerduty, routing_key: short}]\nroutes: [{channels: [pd]}]\n", "routing_key"},
		{"unknown channel type", "source: \"-\"\nchannels: [{name: x, type: carrier-pigeon}]\nroutes: [{channels: [x]}]\n", "known: "},
		{"unset env", "source: \"-\"\nchannels: [{name: s, type: slack, webhook_url: \"${NOPE_NOT_SET}\"}]\nroutes: [{channels: [s]}]\n", "NOPE_NOT_SET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, c.body)
			code, _, errs := runCmd(t, "", nil, "--check-config", "--config", p)
			if code != 2 || !strings.Contains(errs, c.want) || !strings.HasPrefix(errs, "alert: ") || !strings.HasSuffix(errs, "Run 'alert --help' for usage.\n") {
				t.Fatalf("exit %d, stderr %q, want it to mention %q", code, errs, c.want)
			}
			if strings.Contains(c.want, "line ") && !strings.Contains(errs, "alert: config "+p+": "+c.want) {
				t.Errorf("the file is not named before the line: %q", errs)
			}
			for _, bad := range []string{"!!", "alert.Config", "alert.Duration", "time.Time", "[]string", "2006-01-02", "unmarshal"} {
				if strings.Contains(errs, bad) {
					t.Errorf("error speaks Go/YAML (%q): %s", bad, errs)
				}
			}
		})
	}
}

// --help prints the usage and flags on stdout, exit 0.
func TestHelp(t *testing.T) {
	code, out, errs := runCmd(t, "", nil, "--help")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	for _, want := range []string{"Usage: alert", "ROOTWATCH_ALERT_<FLAG>", "--brokers list", "config key kafka.brokers", "--source kafka|-", "--check-config"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
}

// Flags beat the environment, which beats the file, which beats the default.
func TestPrecedence(t *testing.T) {
	p := writeFile(t, "source: kafka\nkafka: {brokers: [file:9092], group: file-group}\nchannels: [{name: a, type: console}]\nroutes: [{channels: [a]}]\n")
	code, _, errs := runCmd(t, "", map[string]string{"ROOTWATCH_ALERT_SOURCE": "bogus"}, "--check-config", "--config", p)
	if code != 2 || !strings.Contains(errs, `alert: ROOTWATCH_ALERT_SOURCE: want kafka or "-", got "bogus"`) {
		t.Fatalf("environment did not override the file: %d %s", code, errs)
	}
	code, _, errs = runCmd(t, "", map[string]string{"ROOTWATCH_ALERT_SOURCE": "bogus"}, "--check-config", "--config", p, "--source", "-")
	if code != 0 {
		t.Fatalf("flag did not override the environment: %d %s", code, errs)
	}
	// The merged values themselves, layer by layer.
	merged := func(e map[string]string, args ...string) alert.Config {
		var cfg alert.Config
		var check bool
		if err := command(&cfg, &check).Merge(args, testutil.Env(e)); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	if c := merged(nil); c.Source != "kafka" || c.Kafka.Group != alert.DefaultGroup || c.Kafka.Topic != alert.DefaultTopic || c.LogLevel != "info" || c.Kafka.Brokers != nil {
		t.Errorf("defaults: %+v", c)
	}
	if c := merged(nil, "--config", p); c.Kafka.Group != "file-group" || c.Kafka.Brokers[0] != "file:9092" || len(c.Channels) != 1 {
		t.Errorf("file: %+v", c)
	}
	env := map[string]string{"ROOTWATCH_ALERT_GROUP": "env-group", "ROOTWATCH_ALERT_BROKERS": "e1:1,e2:2"}
	if c := merged(env, "--config", p); c.Kafka.Group != "env-group" || len(c.Kafka.Brokers) != 2 || c.Kafka.Brokers[1] != "e2:2" {
		t.Errorf("environment: %+v", c.Kafka)
	}
	if c := merged(env, "--config", p, "--group", "flag-group", "--topic", "t"); c.Kafka.Group != "flag-group" || c.Kafka.Topic != "t" || len(c.Kafka.Brokers) != 2 {
		t.Errorf("flag: %+v", c.Kafka)
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

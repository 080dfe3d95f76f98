package channel

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/config"
	"rootwatch/internal/testutil"
)

func TestConfigErrorsNameChannelAndField(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"name: slack-sec\ntype: slack\nwebhook_url: ftp://hooks.slack.com/x", `channel "slack-sec" (slack): webhook_url: must be an https or http URL`},
		{"name: slack-sec\ntype: slack\nwebhook_uri: https://x", `channel "slack-sec" (slack): webhook_uri: unknown field (line 3;`},
		{"name: slack-sec\ntype: slack", `channel "slack-sec" (slack): webhook_url: required`},
		{"name: s\ntype: slack\ntoken: xoxb-1\n", `channel "s" (slack): channel: required with token`},
		{"name: pd\ntype: pagerduty\nrouting_key: short", `channel "pd" (pagerduty): routing_key: must be the 32-character`},
		{"name: pd\ntype: pagerduty\nrouting_key: " + pdRoutingKey + "\nbase_url: events.pagerduty.com", `channel "pd" (pagerduty): base_url: must be an https or http URL`},
		{"name: m\ntype: email\nhost: smtp.example.com\nfrom: a@example.com\nto: [nope]", `channel "m" (email): to: "nope" is not an email address`},
		{"name: m\ntype: email\nhost: smtp.example.com\nfrom: a@example.com\nto: [b@example.com]\ntls: sometimes", `channel "m" (email): tls: must be mandatory, opportunistic or none`},
		{"name: m\ntype: email\nhost: smtp.example.com\nfrom: a@example.com\nto: [b@example.com]\nport: seven", `channel "m" (email): port: line 6: expected an integer`},
		{"name: m\ntype: email\nhost: smtp.example.com\nfrom: a@example.com\nto: [b@example.com]\nusername: u", `channel "m" (email): username: username and password are required`},
		{"name: tw\ntype: twilio\naccount_sid: AC123\nauth_token: x\nto: \"+14155550100\"\nfrom: \"+14155550101\"", `channel "tw" (twilio): account_sid: must be AC followed by 32 hex digits`},
		{"name: sms\ntype: sns-sms\nphone_number: \"555-0100\"", `channel "sms" (sns-sms): phone_number: must be a phone number in E.164 form`},
		{"name: sms\ntype: sns-sms\nphone_number: \"+14155550100\"", `channel "sms" (sns-sms): region: required`},
		{"name: t\ntype: sns\ntopic_arn: arn:aws:sqs:us-east-1:123456789012:q", `channel "t" (sns): topic_arn: must be an SNS topic ARN`},
		{"name: x\ntype: carrier-pigeon", `channel "x" (carrier-pigeon): type: unknown channel type "carrier-pigeon"`},
		{"name: z\ntype: zendesk\nurl: https://acme.zendesk.com\nemail: a@example.com\napi_token: t\napi_token_file: /nonexistent", `channel "z" (zendesk): api_token: set api_token or api_token_file, not both`},
		{"name: z\ntype: zendesk\nurl: https://acme.zendesk.com\nemail: a@example.com\napi_token_file: /nonexistent/token", `channel "z" (zendesk): api_token_file: read /nonexistent/token: no such file or directory`},
		{"name: c\ntype: console\ncolour: true", `channel "c" (console): colour: unknown field`},
	} {
		_, err := parseConfig(t, tc.yaml).Build(testDeps(t))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %s...", tc.yaml, err, tc.want)
		}
	}
}

func TestConfigNeedsNameAndType(t *testing.T) {
	var c Config
	for _, y := range []string{"type: slack", "name: x", "- a", "name: [x]\ntype: slack"} {
		if err := config.Decode([]byte(y), &c); err == nil {
			t.Errorf("%q decoded without error", y)
		}
	}
}

// TestConfigFromFileWithEnvAndSecretFile loads a channel list the way the
// alert command does: ${ENV} expansion and a *_file secret.
func TestConfigFromFileWithEnvAndSecretFile(t *testing.T) {
	f := fakeSlackAPI(t)
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "slack-token")
	if err := os.WriteFile(tokFile, []byte(slackToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_PD_KEY", pdRoutingKey)
	t.Setenv("TEST_SLACK_BASE", f.srv.URL)
	y := `
channels:
  - name: slack-sec
    type: slack
    token_file: ` + tokFile + `
    channel: C0SECOPS
    base_url: ${TEST_SLACK_BASE}
  - name: pd
    type: pagerduty
    routing_key: ${TEST_PD_KEY}
  - name: console
    type: console
`
	var cfg struct {
		Channels []Config `yaml:"channels"`
	}
	if err := config.Decode([]byte(y), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Channels) != 3 {
		t.Fatalf("channels = %d", len(cfg.Channels))
	}
	var chans []Channel
	for _, c := range cfg.Channels {
		ch, err := c.Build(testDeps(t))
		if err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	if chans[0].Name() != "slack-sec" || chans[1].Name() != "pd" || chans[2].Name() != "console" {
		t.Errorf("names = %s %s %s", chans[0].Name(), chans[1].Name(), chans[2].Name())
	}
	if _, err := chans[0].Send(testCtx(t), sampleNotification(KindOpen)); err != nil {
		t.Fatalf("send with the token from the file: %v", err)
	}
	if chans[1].(*pagerDuty).routingKey.Reveal() != pdRoutingKey {
		t.Errorf("routing key not expanded from the environment")
	}
}

func TestNewConfig(t *testing.T) {
	c, err := NewConfig("console", "console", map[string]any{"events": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Build(testDeps(t)); err != nil {
		t.Fatal(err)
	}
	c, _ = NewConfig("console", "console", map[string]any{"nope": 1})
	if _, err := c.Build(testDeps(t)); err == nil || !strings.Contains(err.Error(), "nope: unknown field") {
		t.Errorf("err = %v", err)
	}
}

func TestConsoleOneLinePerNotification(t *testing.T) {
	var buf testutil.SyncBuffer
	d := testDeps(t)
	d.Stdout = &buf
	ch := mustBuild(t, "name: console\ntype: console\n", d)
	for _, k := range []Kind{KindOpen, KindUpdate, KindResolve} {
		f := sampleFinding(1)
		f.UserAgent = "evil\x1b]0;pwned\x07\nnext line"
		if _, err := ch.Send(testCtx(t), sampleNotification(k, f)); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines = %q", lines)
	}
	for i, want := range []string{"OPEN", "UPDATE", "RESOLVE"} {
		if !strings.Contains(lines[i], " "+want+" ") || !strings.Contains(lines[i], "123456789012") || strings.Contains(lines[i], "\x1b") {
			t.Errorf("line %d = %q", i, lines[i])
		}
	}
	if !strings.Contains(lines[1], "1 more root event: ConsoleLogin") {
		t.Errorf("update line = %q", lines[1])
	}

	buf = testutil.SyncBuffer{}
	d.Stdout = &buf
	ch = mustBuild(t, "name: console\ntype: console\nevents: true\n", d)
	if _, err := ch.Send(testCtx(t), sampleNotification(KindUpdate, sampleFinding(1), sampleFinding(2))); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "    2026-11-21T19:00:01Z ConsoleLogin") {
		t.Errorf("with events: %q", lines)
	}
}

func TestCheckResponse(t *testing.T) {
	rec := httptest.NewRecorder()
	rec.Header().Set("Retry-After", "12")
	rec.WriteHeader(429)
	rec.WriteString(`{"error":"slow down"}`)
	err := CheckResponse("x", rec.Result(), testNow)
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 429 || he.RetryAfter != 12*time.Second || he.Body != `{"error":"slow down"}` {
		t.Fatalf("CheckResponse = %#v", err)
	}
	ok := httptest.NewRecorder()
	ok.WriteHeader(204)
	if err := CheckResponse("x", ok.Result(), testNow); err != nil {
		t.Errorf("204: %v", err)
	}
}

// include_record is gone (alert keeps no records): true is an error that
// says where the record is; false is accepted.
func TestWebhookIncludeRecordRemoved(t *testing.T) {
	_, err := parseConfig(t, "name: hook\ntype: webhook\nurl: https://hooks.example.com/x\ninclude_record: true\n").Build(testDeps(t))
	if err == nil || !strings.Contains(err.Error(), "include_record: no longer supported") || !strings.Contains(err.Error(), "cloudtrail.records") {
		t.Fatalf("include_record: true: %v", err)
	}
	if _, err := parseConfig(t, "name: hook\ntype: webhook\nurl: https://hooks.example.com/x\ninclude_record: false\n").Build(testDeps(t)); err != nil {
		t.Fatalf("include_record: false: %v", err)
	}
}

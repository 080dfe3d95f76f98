package channel

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func assertNoSecret(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: expected an error", what)
	}
	msg := err.Error() + fmt.Sprintf(" %v %+v", err, err)
	for _, s := range allSecrets {
		if strings.Contains(msg, s) {
			t.Errorf("%s: error contains secret %q: %s", what, s, msg)
		}
	}
}

func TestErrorsNeverContainSecrets(t *testing.T) {
	for _, pc := range providerCases() {
		t.Run(pc.typ, func(t *testing.T) {
			// A provider that echoes the request back in its error body.
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var b bytes.Buffer
				fmt.Fprintf(&b, "bad request to %s auth=%s ", r.URL.String(), r.Header.Get("Authorization"))
				fmt.Fprint(&b, r.URL.Path, " ", r.URL.RawQuery, " ")
				b.ReadFrom(r.Body)
				w.WriteHeader(500)
				w.Write(b.Bytes())
			}))
			defer srv.Close()
			ch := mustBuild(t, pc.config(srv.URL), testDeps(t))
			_, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
			assertNoSecret(t, "echoing provider", err)

			// A connection failure: net/http's *url.Error quotes the full URL.
			dead := httptest.NewServer(http.NotFoundHandler())
			dead.Close()
			ch = mustBuild(t, pc.config(dead.URL), testDeps(t))
			_, err = ch.Send(testCtx(t), sampleNotification(KindOpen))
			assertNoSecret(t, "connection refused", err)
			if retry, _ := Retryable(err); !retry {
				t.Errorf("connection refused is not retryable: %v", err)
			}
		})
	}
}

func TestConfigErrorsNeverContainSecrets(t *testing.T) {
	for _, y := range []string{
		"name: s\ntype: slack\nwebhook_url: ftp://hooks.slack.com" + slackHookPath,
		"name: s\ntype: slack\nwebhook_url: \"https://hooks.slack.com" + slackHookPath + "\"\ntoken: " + slackToken,
		"name: s\ntype: slack\ntoken: not-a-token-" + slackToken[5:] + "\nchannel: C1",
		"name: p\ntype: pagerduty\nrouting_key: " + pdRoutingKey + "x",
		"name: t\ntype: teams\nwebhook_url: \"prod-00.logic.azure.com" + teamsPath + "?sig=" + teamsSig + "\"",
		"name: w\ntype: webhook\nurl: \"://hooks.example.com/?token=" + webhookURLToken + "\"",
		"name: n\ntype: servicenow\ninstance_url: https://x.service-now.com\npassword: " + snPassword,
		"name: o\ntype: opsgenie\napi_key: " + opsgenieKey + "\nbase_url: not a url",
		"name: z\ntype: zendesk\nurl: https://x.zendesk.com\napi_token: " + zdToken,
		"name: z\ntype: zendesk\nurl: https://x.zendesk.com\nemail: a@example.com\napi_token: [" + zdToken + "]",
	} {
		_, err := parseConfig(t, y).Build(testDeps(t))
		assertNoSecret(t, y[:strings.IndexByte(y, '\n')], err)
	}
}

func TestSecretRedactedInLogsAndFormatting(t *testing.T) {
	s := Secret(slackToken)
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s)
	out := buf.String() + fmt.Sprintf("%v %s %+v %#v", s, s, s, s)
	if strings.Contains(out, slackToken) || !strings.Contains(out, "[redacted]") {
		t.Errorf("secret printed: %s", out)
	}
	if s.Reveal() != slackToken {
		t.Errorf("Reveal = %q", s.Reveal())
	}
}

// TestExcerptNeverCutsASecretInHalf: the provider's answer is scrubbed
// before it is cut to an excerpt, so no prefix of a secret survives.
func TestExcerptNeverCutsASecretInHalf(t *testing.T) {
	for pad := excerptLen - 20; pad < excerptLen; pad += 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, strings.Repeat("x", pad)+slackToken)
		}))
		ch := mustBuild(t, providerCases()[1].config(srv.URL), testDeps(t))
		_, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
		srv.Close()
		if err == nil || strings.Contains(err.Error(), slackToken[:8]) {
			t.Errorf("pad %d: error keeps part of the token: %v", pad, err)
		}
	}
}

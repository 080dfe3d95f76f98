package channel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"rootwatch/internal/match"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	smtpmock "github.com/mocktools/go-smtp-mock/v2"
)

// hostileValues are attacker-controlled strings a CloudTrail record can carry
// (userAgent, sourceIPAddress, errorMessage, even eventName).
var hostileValues = map[string]string{
	"slack-mentions": "<!channel> <!here> <@U123> <http://evil.example|click> *bold* _it_ ~s~ `code` &<>",
	"header-crlf":    "a\r\nBcc: x@evil.example\r\n\r\nbody",
	"script":         "<script>alert(1)</script><img src=x onerror=alert(2)>",
	"markdown-link":  "[click](http://evil.example) ![img](http://evil.example/x.png) [code]<b>x</b>[/code]",
	"huge":           strings.Repeat("A", 10<<10),
	"invalid-utf8":   "bad\xff\xfe\x80utf8 \xc3",
	"terminal-bidi":  "\x1b[31mred\x1b[0m \u202egnp.exe\u202c \x00nul\x07",
}

// target is one channel built against its fake, with a way to read back
// the human-readable texts it produced (not the raw-data JSON fields).
type target struct {
	typ     string
	ch      Channel
	texts   func(t *testing.T) []string
	checker func(t *testing.T, s string) // format-specific escaping checks
}

func allTargets(t *testing.T) []target {
	var out []target
	for _, pc := range providerCases() {
		f := pc.fake(t)
		ch := mustBuild(t, pc.config(f.srv.URL), testDeps(t))
		pc := pc
		texts := func(t *testing.T) []string {
			r := f.last()
			if pc.typ == "twilio" {
				return []string{pc.rendered(t, r)}
			}
			return jsonTexts(t, r.Body)
		}
		out = append(out, target{typ: pc.typ, ch: ch, texts: texts, checker: formatChecks[pc.typ]})
	}

	sns := fakeSNS(t)
	snsTexts := func(t *testing.T) []string {
		v, _ := url.ParseQuery(string(sns.last().Body))
		if v.Get("TopicArn") == "" {
			return []string{v.Get("Message")}
		}
		return append(jsonTexts(t, []byte(v.Get("Message"))), v.Get("Subject"))
	}
	out = append(out,
		target{typ: "sns-sms", ch: mustBuild(t, "name: sms\ntype: sns-sms\nphone_number: \"+14155550199\"\nbase_url: "+sns.srv.URL+"\n", awsDeps(t)), texts: snsTexts, checker: formatChecks["twilio"]},
		target{typ: "sns", ch: mustBuild(t, "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:t\nbase_url: "+sns.srv.URL+"\n", awsDeps(t)), texts: snsTexts},
	)
	ses := fakeSESv2(t)
	out = append(out, target{typ: "ses", ch: mustBuild(t, "name: ses\ntype: ses\nfrom: a@example.com\nto: [b@example.com]\nbase_url: "+ses.srv.URL+"\n", awsDeps(t)),
		texts: func(t *testing.T) []string { return jsonTexts(t, ses.last().Body) }, checker: formatChecks["ses"]})

	smtp := startSMTP(t)
	var seen int
	out = append(out, target{typ: "email", ch: mustBuild(t, emailConfigFor(smtp), testDeps(t)), checker: formatChecks["ses"],
		texts: func(t *testing.T) []string {
			seen++
			msgs, err := smtp.WaitForMessages(seen, 10e9)
			if err != nil {
				t.Fatal(err)
			}
			m := readMessage(t, msgs[seen-1])
			subj, _ := new(mimeDecoder).DecodeHeader(m.header.Get("Subject"))
			crlf := strings.NewReplacer("\r\n", "\n")
			return []string{subj, crlf.Replace(m.parts["text/plain"]), crlf.Replace(m.parts["text/html"])}
		}})

	var buf syncBuffer
	d := testDeps(t)
	d.Stdout = &buf
	out = append(out, target{typ: "console", ch: mustBuild(t, "name: console\ntype: console\n", d), texts: func(t *testing.T) []string {
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		return []string{lines[len(lines)-1]}
	}})
	_ = smtpmock.New
	return out
}

// formatChecks are the per-format escaping assertions on a rendered text.
var formatChecks = map[string]func(t *testing.T, s string){
	"slack-webhook": checkSlack,
	"slack-bot":     checkSlack,
	"teams": func(t *testing.T, s string) {
		for _, bad := range []string{"[click](", "*bold*", "<script>", "<!channel>", "http://evil"} {
			if strings.Contains(s, bad) {
				t.Errorf("adaptive card text contains %q: %q", bad, excerpt([]byte(s)))
			}
		}
	},
	"zendesk":    checkMarkdown,
	"servicenow": checkMarkdown,
	"twilio": func(t *testing.T, s string) {
		if len(s) > 160 || !isGSM7(s) {
			t.Errorf("SMS text not <= 160 GSM-7 characters: %q", s)
		}
	},
	"ses": func(t *testing.T, s string) {
		if !strings.HasPrefix(s, "<!DOCTYPE html>") {
			return // subject and text/plain: not markup
		}
		if strings.Contains(s, "<script>") || strings.Contains(s, "<img") {
			t.Errorf("email text contains live markup: %q", excerpt([]byte(s)))
		}
	},
}

func checkSlack(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{"<!channel>", "<!here>", "<@U123>", "<http", "|click>", "*bold*", "_it_", "~s~", "`code`", "<script>", "http://evil"} {
		if strings.Contains(s, bad) {
			t.Errorf("slack text contains %q: %q", bad, excerpt([]byte(s)))
		}
	}
}

func checkMarkdown(t *testing.T, s string) {
	t.Helper()
	for _, bad := range []string{"[click](", "![img]", "[code]", "<script>", "<b>", "http://evil"} {
		if strings.Contains(s, bad) {
			t.Errorf("markdown text contains %q: %q", bad, excerpt([]byte(s)))
		}
	}
}

func TestHostileInputEveryChannel(t *testing.T) {
	targets := allTargets(t)
	for name, v := range hostileValues {
		for _, tg := range targets {
			t.Run(name+"/"+tg.typ, func(t *testing.T) {
				f := sampleFinding(1)
				f.UserAgent, f.SourceIPAddress, f.ErrorCode, f.ErrorMessage, f.EventName = v, v, "AccessDenied", v, v
				n := sampleNotification(KindOpen, f, f)
				n.Incident.ID = "inc-hostile-" + name
				n.Incident.SourceIPs = []string{v}
				n.Incident.EventNames = []string{v}
				n.Incident.AccountID = v
				n.Incident.Category = match.Category(v)
				if _, err := tg.ch.Send(testCtx(t), n); err != nil {
					t.Fatalf("send: %v", err)
				}
				texts := tg.texts(t)
				if len(texts) == 0 {
					t.Fatal("nothing rendered")
				}
				for _, s := range texts {
					checkCommon(t, s)
					if tg.checker != nil {
						tg.checker(t, s)
					}
				}
				if name == "huge" && tg.typ != "twilio" && tg.typ != "sns-sms" && tg.typ != "console" {
					if !strings.Contains(strings.Join(texts, ""), "truncated") {
						t.Errorf("10 KB value rendered without the truncation marker")
					}
				}
			})
		}
	}
}

// checkCommon holds for every channel and format: valid UTF-8, no CR, no
// terminal escapes, control or bidi characters, no injected header line,
// and no long run of one attacker value.
func checkCommon(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("invalid UTF-8: %q", excerpt([]byte(s)))
	}
	for _, bad := range []string{"\r", "\x1b", "\u202e", "\x00", "\x07", "\nBcc:", strings.Repeat("A", 300)} {
		if strings.Contains(s, bad) {
			t.Errorf("rendered text contains %q: %q", bad, excerpt([]byte(s)))
		}
	}
}

// jsonTexts returns the string leaves of a JSON document, except the
// raw-data subtrees (findings, incident, custom_details) that carry values
// as data for machines, where JSON encoding is the escaping.
func jsonTexts(t *testing.T, b []byte) []string {
	t.Helper()
	if !utf8.Valid(b) {
		t.Errorf("body is not valid UTF-8")
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				switch k {
				case "findings", "incident", "custom_details":
					checkData(t, e)
					continue
				}
				walk(e)
			}
		}
	}
	walk(v)
	return out
}

// checkData bounds raw-data strings: a hostile 10 KB value is cut to 4 KB.
func checkData(t *testing.T, v any) {
	switch x := v.(type) {
	case string:
		if len(x) > 4096+len(truncMarker) {
			t.Errorf("data value of %d bytes not truncated", len(x))
		}
	case []any:
		for _, e := range x {
			checkData(t, e)
		}
	case map[string]any:
		for _, e := range x {
			checkData(t, e)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type mimeDecoder = mime.WordDecoder

// TestConcurrentSends runs sends in parallel on every channel; with -race
// it checks that one Channel value is safe to share between workers.
func TestConcurrentSends(t *testing.T) {
	for _, tg := range allTargets(t) {
		t.Run(tg.typ, func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for i := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n := sampleNotification(KindOpen, sampleFinding(i))
					n.Incident.ID = fmt.Sprintf("inc-concurrent-%d", i)
					if _, err := tg.ch.Send(testCtx(t), n); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

package channel

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// hostileCases is the hostile corpus: what anyone can put in a root
// record by calling AWS with their own user agent, error text, request
// parameters or source host. Each value goes into every attacker-controlled
// field of the findings (event name and source, source IP, user agent,
// error code and message, region, principal ARN, object key) and of the
// incident (source IPs, event names, account, category), and is sent
// through every channel as an open, an update and a resolve.
var hostileCases = []struct{ name, value string }{
	{"slack-mentions", "<!channel> <!here> <!everyone> <@U123ABC> <#C0SECOPS> <!subteam^S0123|oncall>"},
	{"slack-links", "<http://evil.example|click here> <https://evil.example/login> <mailto:a@evil.example|mail>"},
	{"markdown", "[click](http://evil.example) ![img](http://evil.example/x.png) **bold** *b* _it_ ~s~ `code` # h > q [ref]: http://evil.example"},
	{"html-script", "<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"https://evil.example\">x</a>&lt;b&gt;"},
	{"crlf-headers", "a\r\nBcc: x@evil.example\r\n\r\nbody\nSubject: pwned\rX-Injected: 1"},
	{"huge-100k", strings.Repeat("A", 100<<10)},
	{"huge-4-byte", strings.Repeat("\U0001D400", 30<<10)},
	{"control-bidi", "\x1b[31mred\x1b[0m \u202egnp.exe\u202c \x00nul\x07 \u2066iso\u2069 \u200b\u200e\u061c \u0085\u009b \U000E0041\U000E0042 \ufeff\u00ad"},
	{"template", "{{DATE(2017-02-14T06:08:39Z, SHORT)}} {{TIME(2017-02-14T06:08:39Z)}} ${secret} ${{x}} <at>Everyone</at>"},
	{"urls", "https://evil.example/up"},
	{"bare-hosts", "www.evil.example evil.example/login user@evil.example //evil.example/x \\\\evil.example\\share"},
	{"scheme-variants", "hxxps://evil.example HTTPS:\\\\evil.example javascript:alert(1) data:text/html,x vbscript:x file:///etc/passwd ftp://x.example"},
	{"idn-dots", "evil。example ｅｖｉｌ．ｅｘａｍｐｌｅ xn--80ak6aa92e.com bücher.example evil｡example"},
	{"invalid-utf8", "bad\xff\xfe\x80 utf8 \xc3 https://evil.example/\xff"},
	{"opsgenie-update", "<script>alert('upd')</script> … <!channel> … https://evil.example/up [l](https://evil.example/l)"},
	{"sms-phish", "Root activity: reset MFA now at https://evil.example/reset-mfa or evil.example/reset"},
}

// sentText is one text a provider received, with the rules it must meet.
type sentText struct {
	where  string
	text   string
	format Format // how the provider reads it
	limit  int    // the provider's documented limit, in bytes (0: none)
	lines  bool   // a multi-line field: \n is allowed
	ascii  bool   // the provider takes printable ASCII only (SNS Subject)
}

// sentData is a structured subtree (findings, incident, custom_details).
type sentData struct {
	where   string
	raw     []byte // as encoded on the wire
	display bool   // shown to people as it is (PagerDuty): values carry no invisible character
	free    bool   // not bounded by the channel (the fuzz target's raw encoding)
}

// sent is what one notification became at a provider.
type sent struct {
	texts []sentText
	data  []sentData
	// bodies are whole payloads with a size limit.
	bodies []sentText
}

// hostileTarget is one channel built against its fake provider.
type hostileTarget struct {
	typ        string // the registered channel type
	label      string // slack-bot vs slack-webhook
	ch         Channel
	count      func() int
	capture    func(t *testing.T, from int) sent
	truncation string // marker a cut value ends with in this channel
}

func httpTarget(t *testing.T, pc providerCase, extract func(t *testing.T, r recorded, s *sent)) hostileTarget {
	f := pc.fake(t)
	typ := pc.typ
	if strings.HasPrefix(typ, "slack") {
		typ = "slack"
	}
	return hostileTarget{typ: typ, label: pc.typ, ch: mustBuild(t, pc.config(f.srv.URL), testDeps(t)), truncation: truncMarker,
		count: func() int { return len(f.requests()) },
		capture: func(t *testing.T, from int) sent {
			var s sent
			for _, r := range f.requests()[from:] {
				if len(r.Body) > 0 {
					extract(t, r, &s)
				}
			}
			return s
		}}
}

func hostileTargets(t *testing.T) []hostileTarget {
	extract := map[string]func(t *testing.T, r recorded, s *sent){
		"slack-webhook": extractSlack, "slack-bot": extractSlack,
		"pagerduty": extractPagerDuty, "servicenow": extractServiceNow, "zendesk": extractZendesk,
		"twilio": extractTwilio, "teams": extractTeams, "opsgenie": extractOpsgenie, "webhook": extractWebhook,
	}
	var out []hostileTarget
	for _, pc := range providerCases() {
		tg := httpTarget(t, pc, extract[pc.typ])
		if pc.typ == "twilio" {
			tg.truncation = "..."
		}
		out = append(out, tg)
	}

	sns := fakeSNS(t)
	snsTarget := func(typ, cfg string) hostileTarget {
		return hostileTarget{typ: typ, label: typ, ch: mustBuild(t, cfg, awsDeps(t)), truncation: truncMarker,
			count: func() int { return len(sns.requests()) },
			capture: func(t *testing.T, from int) sent {
				var s sent
				for _, r := range sns.requests()[from:] {
					v, _ := url.ParseQuery(string(r.Body))
					if v.Get("TopicArn") == "" {
						s.texts = append(s.texts, sentText{where: "Message", text: v.Get("Message"), format: SMS, limit: maxSMS})
						continue
					}
					s.texts = append(s.texts, sentText{where: "Subject", text: v.Get("Subject"), format: Plain, limit: 99, ascii: true})
					s.bodies = append(s.bodies, sentText{where: "Message", text: v.Get("Message"), limit: 256 << 10})
					extractDataBody(t, "Message", []byte(v.Get("Message")), &s)
				}
				return s
			}}
	}
	out = append(out,
		snsTarget("sns-sms", "name: sms\ntype: sns-sms\nphone_number: \"+14155550199\"\nbase_url: "+sns.srv.URL+"\n"),
		snsTarget("sns", "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:t\nbase_url: "+sns.srv.URL+"\n"))
	out[len(out)-2].truncation = "..."

	ses := fakeSESv2(t)
	out = append(out, hostileTarget{typ: "ses", label: "ses", truncation: truncMarker,
		ch:    mustBuild(t, "name: ses\ntype: ses\nfrom: a@example.com\nto: [b@example.com]\nbase_url: "+ses.srv.URL+"\n", awsDeps(t)),
		count: func() int { return len(ses.requests()) },
		capture: func(t *testing.T, from int) sent {
			var s sent
			for _, r := range ses.requests()[from:] {
				var in struct {
					Content struct {
						Simple struct {
							Subject struct{ Data string }
							Body    struct{ Text, Html struct{ Data string } }
						}
					}
				}
				mustUnmarshal(t, r.Body, &in)
				m := in.Content.Simple
				s.texts = append(s.texts, sentText{where: "Subject", text: m.Subject.Data, format: Plain, limit: maxSubject},
					sentText{where: "Text", text: m.Body.Text.Data, format: Plain, lines: true},
					sentText{where: "Html", text: m.Body.Html.Data, format: HTML, lines: true})
			}
			return s
		}})

	smtp := startSMTP(t)
	var smtpSeen int
	out = append(out, hostileTarget{typ: "email", label: "email", truncation: truncMarker, ch: mustBuild(t, emailConfigFor(smtp), testDeps(t)),
		count: func() int { return smtpSeen },
		capture: func(t *testing.T, from int) sent {
			msgs, err := smtp.WaitForMessages(from+1, 10e9)
			if err != nil {
				t.Fatal(err)
			}
			var s sent
			for _, raw := range msgs[from:] {
				m := readMessage(t, raw)
				subj, _ := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
				crlf := strings.NewReplacer("\r\n", "\n")
				s.texts = append(s.texts, sentText{where: "Subject", text: subj, format: Plain, limit: maxSubject},
					sentText{where: "text/plain", text: crlf.Replace(m.parts["text/plain"]), format: Plain, lines: true},
					sentText{where: "text/html", text: crlf.Replace(m.parts["text/html"]), format: HTML, lines: true})
			}
			smtpSeen = len(msgs)
			return s
		}})

	var buf testutil.SyncBuffer
	d := testDeps(t)
	d.Stdout = &buf
	lines := func() []string { return strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") }
	out = append(out, hostileTarget{typ: "console", label: "console", truncation: truncMarker,
		ch: mustBuild(t, "name: console\ntype: console\nevents: true\n", d),
		count: func() int {
			if buf.String() == "" {
				return 0
			}
			return len(lines())
		},
		capture: func(t *testing.T, from int) sent {
			var s sent
			for _, l := range lines()[from:] {
				s.texts = append(s.texts, sentText{where: "line", text: l, format: Plain})
			}
			return s
		}})
	return out
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if !utf8.Valid(b) {
		t.Errorf("body is not valid UTF-8")
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, excerpt(b))
	}
}

// --- what each provider shows, with its documented limits ---------------

func extractSlack(t *testing.T, r recorded, s *sent) {
	var m slackMessage
	mustUnmarshal(t, r.Body, &m)
	s.texts = append(s.texts, sentText{where: "text", text: m.Text, format: SlackMrkdwn, limit: 4000})
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			s.texts = append(s.texts, sentText{where: "header", text: b.Text.Text, format: Plain, limit: 150})
		case "section":
			if b.Text != nil {
				s.texts = append(s.texts, sentText{where: "section", text: b.Text.Text, format: SlackMrkdwn, limit: 3000, lines: true})
			}
			if len(b.Fields) > 10 {
				t.Errorf("slack section with %d fields (at most 10)", len(b.Fields))
			}
			for _, f := range b.Fields {
				s.texts = append(s.texts, sentText{where: "field", text: f.Text, format: SlackMrkdwn, limit: 2000, lines: true})
			}
		case "context":
			for _, e := range b.Elements {
				s.texts = append(s.texts, sentText{where: "context", text: e.Text, format: SlackMrkdwn, limit: 2000})
			}
		}
	}
}

func extractPagerDuty(t *testing.T, r recorded, s *sent) {
	var ev struct {
		Payload *struct {
			Summary, Source, Class, Component, Group string
			CustomDetails                            json.RawMessage `json:"custom_details"`
		}
	}
	mustUnmarshal(t, r.Body, &ev)
	s.bodies = append(s.bodies, sentText{where: "event", text: string(r.Body), limit: 512 << 10})
	if ev.Payload == nil {
		return // resolve
	}
	p := ev.Payload
	s.texts = append(s.texts, sentText{where: "summary", text: p.Summary, format: Plain, limit: 1024})
	for k, v := range map[string]string{"source": p.Source, "class": p.Class, "component": p.Component, "group": p.Group} {
		s.texts = append(s.texts, sentText{where: k, text: v, format: Plain, limit: 255})
	}
	s.data = append(s.data, sentData{where: "custom_details", raw: p.CustomDetails, display: true})
}

func extractServiceNow(t *testing.T, r recorded, s *sent) {
	var m map[string]string
	mustUnmarshal(t, r.Body, &m)
	for k, v := range m {
		switch k {
		case "short_description":
			s.texts = append(s.texts, sentText{where: k, text: v, format: Plain, limit: 160})
		case "description", "work_notes", "close_notes":
			s.texts = append(s.texts, sentText{where: k, text: v, format: Markdown, limit: 4000, lines: true})
		}
	}
}

func extractZendesk(t *testing.T, r recorded, s *sent) {
	var m struct {
		Ticket struct {
			Subject string
			Comment *struct{ Body string }
		}
	}
	mustUnmarshal(t, r.Body, &m)
	if m.Ticket.Subject != "" {
		s.texts = append(s.texts, sentText{where: "subject", text: m.Ticket.Subject, format: Plain, limit: 150})
	}
	if m.Ticket.Comment != nil {
		s.texts = append(s.texts, sentText{where: "comment", text: m.Ticket.Comment.Body, format: Markdown, limit: 65000, lines: true})
	}
}

func extractTwilio(t *testing.T, r recorded, s *sent) {
	v, err := url.ParseQuery(string(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	s.texts = append(s.texts, sentText{where: "Body", text: v.Get("Body"), format: SMS, limit: maxSMS})
}

func extractTeams(t *testing.T, r recorded, s *sent) {
	var m any
	mustUnmarshal(t, r.Body, &m)
	s.bodies = append(s.bodies, sentText{where: "message", text: string(r.Body), limit: 28 << 10})
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch x := v.(type) {
		case string:
			if key == "text" || key == "value" || key == "title" {
				s.texts = append(s.texts, sentText{where: key, text: x, format: Card, lines: true})
			}
		case []any:
			for _, e := range x {
				walk(e, key)
			}
		case map[string]any:
			for k, e := range x {
				walk(e, k)
			}
		}
	}
	walk(m, "")
}

func extractOpsgenie(t *testing.T, r recorded, s *sent) {
	var m map[string]any
	mustUnmarshal(t, r.Body, &m)
	limits := map[string]int{"message": 130, "description": 15000, "note": 25000, "entity": 512}
	for k, v := range m {
		switch x := v.(type) {
		case string:
			if l, ok := limits[k]; ok {
				s.texts = append(s.texts, sentText{where: k, text: x, format: Plain, limit: l, lines: k != "message"})
			}
		case map[string]any: // details
			for dk, dv := range x {
				s.texts = append(s.texts, sentText{where: k + "." + dk, text: fmt.Sprint(dv), format: Plain, limit: 8000})
			}
		}
	}
}

func extractWebhook(t *testing.T, r recorded, s *sent) { extractDataBody(t, "body", r.Body, s) }

// extractDataBody reads the webhook / SNS topic JSON: title, summary and
// notes for people, incident and findings as data.
func extractDataBody(t *testing.T, where string, b []byte, s *sent) {
	var m map[string]json.RawMessage
	mustUnmarshal(t, b, &m)
	for _, k := range []string{"title", "summary"} {
		var v string
		_ = json.Unmarshal(m[k], &v)
		s.texts = append(s.texts, sentText{where: where + "." + k, text: v, format: Plain})
	}
	var notes []string
	_ = json.Unmarshal(m["notes"], &notes)
	for _, n := range notes {
		s.texts = append(s.texts, sentText{where: where + ".notes", text: n, format: Plain})
	}
	s.data = append(s.data, sentData{where: where + ".incident", raw: m["incident"]}, sentData{where: where + ".findings", raw: m["findings"]})
	s.bodies = append(s.bodies, sentText{where: where, text: string(b)})
}

// --- the rules, written independently of the code under test ------------

var (
	// liveScheme: a URL a client would open: any scheme followed by // (or
	// the backslash forms browsers accept), or a dangerous scheme followed
	// by anything.
	liveScheme = regexp.MustCompile(`(?i)[a-z][a-z0-9+.\-]*:(//|\\\\|/\\|\\/)|(?i)(^|[^a-z0-9])(https?|ftp|javascript|vbscript|data|file|mailto):[^\s\[]`)
	// liveHost: labels joined by dots (ASCII, ideographic or fullwidth)
	// ending in a letter TLD or an IDNA label.
	liveHost     = regexp.MustCompile(`[\p{L}\p{N}\p{M}-]+(?:[.。．｡][\p{L}\p{N}\p{M}-]+)*[.。．｡](?:xn--[\p{L}\p{N}-]+|\p{L}{2,})`)
	awsServiceRe = regexp.MustCompile(`^[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)
)

// liveLink returns the first URL or host name in s a client would make
// clickable, or "".
func liveLink(s string) string {
	if m := liveScheme.FindString(s); m != "" {
		return m
	}
	for _, loc := range liveHost.FindAllStringIndex(s, -1) {
		m := s[loc[0]:loc[1]]
		if next, _ := utf8.DecodeRuneInString(s[loc[1]:]); loc[1] < len(s) && (unicode.IsLetter(next) || unicode.IsDigit(next) || unicode.In(next, unicode.Mn, unicode.Mc)) {
			continue // the "TLD" goes on (with digits, or a mark on its last letter): not a host name
		}
		before, after := byte(' '), byte(' ')
		if loc[0] > 0 {
			before = s[loc[0]-1]
		}
		if loc[1] < len(s) {
			after = s[loc[1]]
		}
		if awsServiceRe.MatchString(m) && before != '/' && before != '@' && after != '/' && after != ':' && after != '@' {
			continue // an AWS service name, shown exactly (docs/channels.md)
		}
		return m
	}
	return ""
}

// hidden reports characters that must not reach a screen raw.
func hidden(r rune, lines bool) bool {
	if r == '\n' {
		return !lines
	}
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || unicode.In(r, unicode.Cf, unicode.Co)
}

// allowedMarkers are the brackets the neutralising step itself writes.
var allowedMarkers = strings.NewReplacer("[.]", "", "[:]", "", truncMarker, "")

var htmlTag = regexp.MustCompile(`<(/?)([!a-zA-Z][a-zA-Z0-9]*)`)

var ownHTML = map[string]bool{"!DOCTYPE": true, "html": true, "body": true, "h2": true, "h3": true, "p": true, "b": true,
	"table": true, "tr": true, "th": true, "td": true, "ul": true, "li": true}

func checkText(t *testing.T, st sentText) {
	t.Helper()
	s := st.text
	show := func() string { return excerpt([]byte(s)) }
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8: %q", st.where, show())
	}
	for _, r := range s {
		if hidden(r, st.lines) {
			t.Errorf("%s: raw %U reaches the reader: %q", st.where, r, show())
			break
		}
	}
	if st.limit > 0 && len(s) > st.limit {
		t.Errorf("%s: %d bytes, over the provider's limit of %d", st.where, len(s), st.limit)
	}
	if st.ascii {
		for _, r := range s {
			if r < 0x20 || r > 0x7e {
				t.Errorf("%s: not printable ASCII: %q", st.where, show())
				break
			}
		}
	}
	if l := liveLink(s); l != "" {
		t.Errorf("%s: live link %q in %q", st.where, l, show())
	}
	if strings.Contains(s, "\nBcc:") || strings.Contains(s, "\nSubject:") {
		t.Errorf("%s: an injected line: %q", st.where, show())
	}
	bare := allowedMarkers.Replace(s)
	switch st.format {
	case Plain:
		if strings.ContainsAny(s, "<>") {
			t.Errorf("%s: plain text with < or > (tags, <!channel>): %q", st.where, show())
		}
	case SlackMrkdwn:
		if strings.ContainsAny(s, "<>`") {
			t.Errorf("%s: mrkdwn with raw < > or ` (mentions, links, code): %q", st.where, show())
		}
		for _, bad := range []string{"*bold*", "*b*", "_it_", "~s~"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: attacker formatting %q survived: %q", st.where, bad, show())
			}
		}
	case Markdown:
		rs := []rune(bare)
		for i, r := range rs {
			escaped := i > 0 && rs[i-1] == '\\'
			if strings.ContainsRune("<>[]`*{}|~", r) && !escaped {
				t.Errorf("%s: unescaped %q in markdown: %q", st.where, r, show())
				break
			}
		}
	case HTML:
		for _, m := range htmlTag.FindAllStringSubmatch(s, -1) {
			if !ownHTML[m[2]] {
				t.Errorf("%s: tag <%s%s> in the HTML: %q", st.where, m[1], m[2], show())
				break
			}
		}
	case Card:
		if strings.ContainsAny(bare, "[]<>{}`*") || strings.Contains(bare, "${") {
			t.Errorf("%s: card text with link, tag, template or formatting characters: %q", st.where, show())
		}
	case SMS:
		if !isGSM7(s) || strings.Contains(s, "\n") {
			t.Errorf("%s: SMS not one line of GSM-7: %q", st.where, show())
		}
		if strings.Contains(s, "[.]") || strings.Contains(s, "[:]") {
			t.Errorf("%s: an SMS names a link, even defanged: %q", st.where, show())
		}
	}
}

func checkData(t *testing.T, d sentData, original string) {
	t.Helper()
	if !utf8.Valid(d.raw) {
		t.Errorf("%s: not valid UTF-8", d.where)
	}
	for _, r := range string(d.raw) {
		if hidden(r, false) {
			t.Errorf("%s: raw %U in the encoded data (want a \\u escape)", d.where, r)
			break
		}
	}
	var v any
	if err := json.Unmarshal(d.raw, &v); err != nil {
		t.Fatalf("%s: %v", d.where, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if !d.free && len(x) > maxDataText+len(truncMarker) {
				t.Errorf("%s: data value of %d bytes not bounded", d.where, len(x))
			}
			if d.display {
				for _, r := range x {
					if hidden(r, false) {
						t.Errorf("%s: %U shown raw by the provider (want visible \\u escape)", d.where, r)
						break
					}
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	// Structured data for machines keeps the values (bounded, invalid
	// bytes as U+FFFD).
	if strings.HasSuffix(d.where, ".findings") && !d.display {
		var fs []match.Finding
		_ = json.Unmarshal(d.raw, &fs)
		want := truncateRaw(string([]rune(original)), maxDataText)
		if len(fs) == 0 || fs[0].UserAgent != want {
			t.Errorf("%s: userAgent not kept as sent", d.where)
		}
		if len(fs) > 0 && fs[0].Record != nil {
			t.Errorf("%s: the raw record was forwarded", d.where)
		}
	}
}

// hostileNotification puts v in every attacker-controlled field of 12
// findings (more than one message lists) and of the incident.
func hostileNotification(kind Kind, name, v string) *Notification {
	var fs []match.Finding
	for i := range 12 {
		f := sampleFinding(i)
		f.UserAgent, f.SourceIPAddress, f.ErrorCode, f.ErrorMessage = v, v, v, v
		f.EventName, f.EventSource, f.Region, f.PrincipalARN, f.Object.Key = v, v, v, v, v
		fs = append(fs, f)
	}
	n := sampleNotification(kind, fs...)
	n.Incident.ID = "inc-hostile-" + name
	n.Incident.SourceIPs, n.Incident.EventNames = []string{v, v}, []string{v}
	n.Incident.AccountID, n.Incident.Category = v, match.Category(v)
	n.Notes = []string{"note: " + v}
	return n
}

// The hostile corpus through every channel, as open, update and resolve:
// what each provider receives meets its rules (no live mention or link, no
// raw control or bidi character, markup inert, within the documented
// limits, cut values marked), and structured data keeps the values.
func TestHostileInputEveryChannel(t *testing.T) {
	targets := hostileTargets(t)
	for _, tg := range targets {
		t.Run(tg.label, func(t *testing.T) {
			for _, c := range hostileCases {
				t.Run(c.name, func(t *testing.T) {
					var state map[string]string
					var all sent
					for _, kind := range []Kind{KindOpen, KindUpdate, KindResolve} {
						n := hostileNotification(kind, c.name, c.value)
						n.State = state
						from := tg.count()
						st, err := tg.ch.Send(testCtx(t), n)
						if err != nil {
							t.Fatalf("%s: send: %v", kind, err)
						}
						if state == nil {
							state = st
						}
						got := tg.capture(t, from)
						if len(got.texts)+len(got.data) == 0 && kind != KindResolve {
							t.Fatalf("%s: nothing sent", kind)
						}
						all.texts = append(all.texts, got.texts...)
						all.data = append(all.data, got.data...)
						all.bodies = append(all.bodies, got.bodies...)
					}
					for _, st := range all.texts {
						checkText(t, st)
					}
					for _, d := range all.data {
						checkData(t, d, c.value)
					}
					for _, b := range all.bodies {
						if b.limit > 0 && len(b.text) > b.limit {
							t.Errorf("%s: payload of %d bytes, over the provider's limit of %d", b.where, len(b.text), b.limit)
						}
						if !utf8.ValidString(b.text) {
							t.Errorf("%s: payload not valid UTF-8", b.where)
						}
					}
					if strings.HasPrefix(c.name, "huge") {
						marked := false
						for _, st := range all.texts {
							marked = marked || strings.Contains(st.text, tg.truncation)
						}
						if !marked {
							t.Errorf("a %d-byte value was shown without a cut marker (%q)", len(c.value), tg.truncation)
						}
					}
				})
			}
		})
	}
}

// No channel type escapes the hostile test: a new channel must be added to
// hostileTargets (and so meet the rules) before its type can register.
func TestHostileCoversEveryChannelType(t *testing.T) {
	covered := map[string]bool{}
	for _, tg := range hostileTargets(t) {
		covered[tg.typ] = true
	}
	for _, typ := range Types() {
		if !covered[typ] {
			t.Errorf("channel type %q is not in the hostile test", typ)
		}
	}
}

// The rules of the test catch what they are meant to catch.
func TestHostileRulesCatchRawInput(t *testing.T) {
	for _, s := range []string{"https://evil.example", "x evil.example/login", "www.evil", "evil。example", "javascript:x", `https:\\x`, "a.xn--p1ai"} {
		if liveLink(s) == "" {
			t.Errorf("liveLink(%q) found nothing", s)
		}
	}
	for _, s := range []string{"hxxps[:]//evil[.]example", "203.0.113.9", "Mozilla/5.0", "(signin.amazonaws.com)", "x86_64 1.12.x", "Severity: CRITICAL 19:00:01Z"} {
		if l := liveLink(s); l != "" {
			t.Errorf("liveLink(%q) = %q", s, l)
		}
	}
}

// FuzzNeutralise: for any input, every output kind's text has no live
// mention or link, no raw control or bidi character, stays within the
// bound it was cut to, and is valid UTF-8; SMS is GSM-7 only.
func FuzzNeutralise(f *testing.F) {
	for _, c := range hostileCases {
		f.Add(c.value[:min(len(c.value), 4096)], 200)
	}
	f.Add("a.b.cd e。fg hxxp://x", 40)
	f.Fuzz(func(t *testing.T, in string, limit int) {
		limit = 20 + abs(limit)%3000
		v := Untrusted(in, 1024)
		for _, f := range []Format{Plain, SlackMrkdwn, Markdown, HTML, Card, SMS} {
			out := Fit(f, v.In(f), limit)
			st := sentText{where: f.String(), text: out, format: f, limit: limit}
			if f == HTML {
				st.format = Plain // one value, not a document: < > must be entities
				if strings.ContainsAny(out, "<>") {
					t.Errorf("html: raw < or > in %q", out)
				}
			}
			checkText(t, st)
			if f != SMS && strings.Contains(out, truncMarker) && !strings.HasSuffix(out, truncMarker) && len(in) < 1024 {
				t.Errorf("%s: a cut marker inside the text: %q", f, out)
			}
		}
		b, err := encodeJSON(map[string]string{"v": in})
		if err != nil {
			t.Fatal(err)
		}
		checkData(t, sentData{where: "json", raw: b, free: true}, in)
		var back map[string]string
		if err := json.Unmarshal(b, &back); err != nil || back["v"] != string([]rune(in)) {
			t.Errorf("encodeJSON changed the value %q -> %q (%v)", in, back["v"], err)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// TestConcurrentSends runs sends in parallel on every channel; with -race
// it checks that one Channel value is safe to share between workers.
func TestConcurrentSends(t *testing.T) {
	for _, tg := range hostileTargets(t) {
		t.Run(tg.label, func(t *testing.T) {
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

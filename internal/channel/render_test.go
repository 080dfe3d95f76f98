package channel

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"rootwatch/internal/match"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 10, "plain"},
		{"  a\r\n\tb  ", 10, "a b"},
		{"x\x1b[31my\x00z\u202eq\u200bw", 80, "x[U+001B][31my[U+0000]z[U+202E]q[U+200B]w"},
		{"bad\xffutf8", 20, "bad\ufffdutf8"},
		{"tag\U000E0041", 20, "tag[U+E0041]"},
		{"c1\u0085x\u0090", 20, "c1 x[U+0090]"},
		{strings.Repeat("a", 30), 20, strings.Repeat("a", 20-markerRunes) + truncMarker},
		{strings.Repeat("a", 20), 20, strings.Repeat("a", 20)},
		{strings.Repeat("a", 20) + "   \n", 20, strings.Repeat("a", 20)},
		{"a  \t b", 20, "a b"},
	} {
		got := clean(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if n := utf8.RuneCountInString(got); n > tc.max {
			t.Errorf("clean(%q, %d) has %d runes", tc.in, tc.max, n)
		}
	}
}

// What counts as a link: schemes (any with //, the dangerous ones without),
// host names with a letter TLD; not IP addresses, versions, AWS service
// names or the AWS fields people read exactly.
func TestDefang(t *testing.T) {
	for in, want := range map[string]string{
		"https://evil.example/up": "hxxps[:]//evil[.]example/up",
		"HTTP://EVIL.EXAMPLE":     "HxxP[:]//EVIL[.]EXAMPLE",
		"ftp://x.example":         "fxp[:]//x[.]example",
		"hxxps://evil.example":    "hxxps[:]//evil[.]example",
		"javascript:alert(1)":     "javascript[:]alert(1)",
		"mailto:a@evil.example":   "mailto[:]a@evil[.]example",
		`https:\\evil.example`:    `hxxps[:]\\evil[.]example`,
		"custom+x://y":            "custom+x[:]//y",
		"www.evil.example":        "www[.]evil[.]example",
		"evil.example/login":      "evil[.]example/login",
		"www.evil":                "www[.]evil",
		"bücher.example":          "bücher[.]example",
		"evil。example ｅｖｉｌ．ｅｘａｍｐｌｅ": "evil[.]example ｅｖｉｌ[.]ｅｘａｍｐｌｅ",
		"xn--80ak6aa92e.com":                  "xn--80ak6aa92e[.]com",
		"a.xn--p1ai":                          "a[.]xn--p1ai",
		"end of sentence.":                    "end of sentence.",
		"203.0.113.9":                         "203.0.113.9",
		"2001:db8::1":                         "2001:db8::1",
		"Mozilla/5.0 (X11; Linux x86_64)":     "Mozilla/5.0 (X11; Linux x86_64)",
		"aws-cli/2.15.0 Python/3.11.6":        "aws-cli/2.15.0 Python/3.11.6",
		"s3:GetObject":                        "s3:GetObject",
		"arn:aws:iam::123456789012:root":      "arn:aws:iam::123456789012:root",
		"signin.amazonaws.com":                "signin.amazonaws.com",
		"(iam.amazonaws.com)":                 "(iam.amazonaws.com)",
		"bucket.s3.amazonaws.com":             "bucket[.]s3[.]amazonaws[.]com",
		"iam.amazonaws.com/x":                 "iam[.]amazonaws[.]com/x",
		"x@iam.amazonaws.com":                 "x@iam[.]amazonaws[.]com",
		"1.12.x e.g. i.e.":                    "1.12.x e.g. i.e.",
		"md/command#s3.ls":                    "md/command#s3[.]ls",
		"<http://evil.example|click>":         "<hxxp[:]//evil[.]example|click>",
		"[l](https://evil.example/l)":         "[l](hxxps[:]//evil[.]example/l)",
		"already hxxps[:]//evil[.]example/up": "already hxxps[:]//evil[.]example/up",
	} {
		if got := defang(in); got != want {
			t.Errorf("defang(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"reset at https://evil.example/reset-mfa now": "reset at (link removed) now",
		"go to evil.example/login or www.x.example":   "go to (link removed) or (link removed)",
		"mail a@evil.example":                         "mail (link removed)",
		"ConsoleLogin from 203.0.113.9":               "ConsoleLogin from 203.0.113.9",
		"(signin.amazonaws.com)":                      "(signin.amazonaws.com)",
	} {
		if got := stripLinks(in); got != want {
			t.Errorf("stripLinks(%q) = %q, want %q", in, got, want)
		}
	}
}

// Each output kind's step on one hostile value.
func TestFormats(t *testing.T) {
	v := Untrusted("<!channel> <http://evil.example|click> *bold* _i_ ~s~ `c` &<> [l](https://evil.example/l) {{DATE(2017-02-14T06:08:39Z, SHORT)}} ${x} \u202e www.evil.example", 400)
	for f, want := range map[Format]string{
		Plain:       "‹!channel› ‹hxxp[:]//evil[.]example|click› ∗bold∗ ˍiˍ ∼s∼ ˋcˋ &‹› [l](hxxps[:]//evil[.]example/l) {{DATE(2017-02-14T06:08:39Z, SHORT)}} ${x} [U+202E] www[.]evil[.]example",
		SlackMrkdwn: "&lt;!channel&gt; &lt;hxxp[:]//evil[.]example|click&gt; ∗bold∗ ˍiˍ ∼s∼ ˋcˋ &amp;&lt;&gt; [l](hxxps[:]//evil[.]example/l) {{DATE(2017-02-14T06:08:39Z, SHORT)}} ${x} [U+202E] www[.]evil[.]example",
		Markdown:    `\<!channel\> \<hxxp[:]//evil[.]example\|click\> \*bold\* \_i\_ \~s\~ \` + "`c\\`" + ` \&\<\> \[l\](hxxps[:]//evil[.]example/l) \{\{DATE(2017-02-14T06:08:39Z, SHORT)\}\} $\{x\} \[U+202E\] www[.]evil[.]example`,
		HTML:        "&lt;!channel&gt; &lt;hxxp[:]//evil[.]example|click&gt; *bold* _i_ ~s~ `c` &amp;&lt;&gt; [l](hxxps[:]//evil[.]example/l) {{DATE(2017-02-14T06:08:39Z, SHORT)}} ${x} [U+202E] www[.]evil[.]example",
		Card:        "‹!channel› ‹hxxp[:]//evil[.]example|click› ∗bold∗ ˍiˍ ∼s∼ ˋcˋ ＆‹› ［l］(hxxps[:]//evil[.]example/l) ｛｛DATE(2017-02-14T06:08:39Z, SHORT)｝｝ $｛x｝ ［U+202E］ www[.]evil[.]example",
		SMS:         "<!channel> <(link removed) *bold* _i_ ?s? ?c? &<> ?l?((link removed) ??DATE(2017-02-14T06:08:39Z, SHORT)?? $?x? ?U+202E? (link removed)",
	} {
		if got := v.In(f); got != want {
			t.Errorf("%s:\n got %q\nwant %q", f, got, want)
		}
	}
	if got := Untrusted("aws-sdk x86_64 exec-env/AWS_Lambda", 100).In(SlackMrkdwn); got != "aws-sdk x86_64 exec-env/AWS_Lambda" {
		t.Errorf("intra-word underscores changed: %q", got)
	}
	if got := Untrusted("Subject\r\nBcc: x@evil", 100).In(Plain); strings.ContainsAny(got, "\r\n") {
		t.Errorf("a line break survived: %q", got)
	}
}

func TestFit(t *testing.T) {
	s := strings.Repeat("&amp;", 10)
	got := Fit(HTML, s, 23)
	if len(got) > 23 || !strings.HasSuffix(got, truncMarker) {
		t.Errorf("Fit = %q", got)
	}
	if body := strings.TrimSuffix(got, truncMarker); strings.Count(body, "&") != strings.Count(body, ";") {
		t.Errorf("Fit split an entity: %q", got)
	}
	md := strings.Repeat(`\*`, 20)
	for n := 14; n < 30; n++ {
		body := strings.TrimSuffix(Fit(Markdown, md, n), truncMarker)
		if trailing := len(body) - len(strings.TrimRight(body, `\`)); trailing%2 == 1 {
			t.Errorf("Fit(%d) left a dangling backslash: %q", n, body)
		}
	}
	if got := Fit(Plain, "ééééé", len(truncMarker)+3); !utf8.ValidString(got) || len(got) > len(truncMarker)+3 {
		t.Errorf("Fit split a rune: %q", got)
	}
	if got := Fit(SMS, strings.Repeat("x", 200), 160); len(got) != 160 || !strings.HasSuffix(got, "...") {
		t.Errorf("SMS fit = %q", got)
	}
	if got := Fit(Plain, "short", 100); got != "short" {
		t.Errorf("Fit changed a short value: %q", got)
	}
}

func TestEncodeJSONEscapesInvisible(t *testing.T) {
	b, err := encodeJSON(map[string]any{"ua": "a\u202eb\u2066c\u200bd\x1b\x00e\u0085f\x7fg\U000E0041h é <"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ua":"a\u202eb\u2066c\u200bd\u001b\u0000e\u0085f\u007fg\udb40\udc41h é \u003c"}`
	if string(b) != want {
		t.Errorf("encodeJSON =\n %s\nwant\n %s", b, want)
	}
	if got := string(escapeInvisibleJSON([]byte("{\"r\":\"x\xffy\"}"))); got != `{"r":"x\ufffdy"}` {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
	if got := markForDisplay("ua\u202e\x1b"); got != `ua\u202e\u001b` {
		t.Errorf("markForDisplay = %q", got)
	}
}

func TestSMSMessage(t *testing.T) {
	f := sampleFinding(1)
	f.EventName = "https://evil.example/reset-mfa"
	f.SourceIPAddress = "Ünïcode — {x} [y] ~z~ `w` \x1b\r\n" + strings.Repeat("long ", 60)
	got := smsMessage(sampleNotification(KindOpen, f))
	if len(got) > maxSMS || !isGSM7(got) || !strings.HasSuffix(got, "...") || strings.Contains(got, "evil") {
		t.Errorf("smsMessage = %q (%d)", got, len(got))
	}
}

func TestRenderKinds(t *testing.T) {
	fs := []match_Finding{sampleFinding(1), sampleFinding(2)}
	fs[1].EventName = "CreateAccessKey"
	for kind, want := range map[Kind]string{
		KindOpen:    "Root console sign-in in account 123456789012",
		KindUpdate:  "2 more root events: ConsoleLogin, CreateAccessKey",
		KindRepeat:  "Still ongoing: Root console sign-in in account 123456789012",
		KindResolve: "Resolved: Root console sign-in in account 123456789012",
	} {
		m := Render(sampleNotification(kind, fs...))
		if !strings.Contains(m.Title.In(Plain)+" | "+m.Summary.In(Plain), want) {
			t.Errorf("%s: title %q summary %q, want %q", kind, m.Title.In(Plain), m.Summary.In(Plain), want)
		}
	}
	many := make([]match_Finding, 25)
	for i := range many {
		many[i] = sampleFinding(i)
	}
	m := Render(sampleNotification(KindUpdate, many...))
	if len(m.Events) != maxEvents || m.Omitted != 15 {
		t.Errorf("events %d omitted %d", len(m.Events), m.Omitted)
	}
	if !strings.Contains(m.Body(Plain), "…and 15 more") {
		t.Errorf("text does not say how many were left out:\n%s", m.Body(Plain))
	}
	n := sampleNotification(KindOpen)
	n.Notes = []string{"also a compliance notice"}
	if b := Render(n).Body(Markdown); !strings.Contains(b, "Note: also a compliance notice") {
		t.Errorf("note not rendered:\n%s", b)
	}
	n.Incident.Severity = "ultra"
	if m := Render(n); m.Severity != "?" {
		t.Errorf("unknown severity shown as %q", m.Severity)
	}
}

func BenchmarkSlackRender(b *testing.B) {
	n := sampleNotification(KindOpen, sampleFinding(1), sampleFinding(2), sampleFinding(3))
	b.ReportAllocs()
	for b.Loop() {
		_ = slackRender(n)
	}
}

func BenchmarkEmailRender(b *testing.B) {
	n := sampleNotification(KindOpen, sampleFinding(1), sampleFinding(2), sampleFinding(3))
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = emailContent("[rootwatch]", n)
	}
}

func TestRenderUpdateCountsEveryNewFinding(t *testing.T) {
	n := &Notification{Kind: KindUpdate, Incident: Incident{ID: "inc-1", AccountID: "111122223333", Count: 120},
		Findings: make([]match.Finding, 20), New: 119}
	for i := range n.Findings {
		n.Findings[i].EventName = "ListBuckets"
	}
	m := Render(n)
	if !strings.Contains(m.Title.In(Plain), "119 more root events") || !strings.Contains(m.Summary.In(Plain), "119 more root events") {
		t.Fatalf("update must count all new findings, not the %d carried: %q / %q", len(n.Findings), m.Title.In(Plain), m.Summary.In(Plain))
	}
}

func TestFitTinyLimits(t *testing.T) {
	for n := 0; n < 20; n++ {
		for _, f := range []Format{Plain, SMS, Markdown} {
			got := Fit(f, strings.Repeat("x.example ", 10), n)
			if len(got) > n || !utf8.ValidString(got) {
				t.Errorf("Fit(%s, %d) = %q", f, n, got)
			}
		}
	}
}

// The sts:AssumeRoot call that opened a session joins its incident but is
// never a root event: every count a notification gives says so apart.
func TestRenderCountsAssumeRootCallsApart(t *testing.T) {
	action := sampleFinding(1)
	action.EventName, action.Category = "SetQueueAttributes", match.CategoryAssumedRoot
	call := sampleFinding(2)
	call.EventName, call.Rule, call.Category = "AssumeRoot", match.RuleRootSessionIssued, match.CategorySessionIssued
	for _, c := range []struct {
		kind    Kind
		fs      []match.Finding
		count   int
		notRoot int
		want    string
	}{
		{KindOpen, []match.Finding{action, call}, 2, 1, "1 root event and 1 sts:AssumeRoot call: SetQueueAttributes, AssumeRoot"},
		{KindUpdate, []match.Finding{call}, 2, 1, "in account 123456789012: 1 sts:AssumeRoot call"},
		{KindRepeat, []match.Finding{action}, 3, 1, "Still ongoing, 2 root events and 1 sts:AssumeRoot call so far"},
		{KindResolve, nil, 2, 1, "Resolved after 1 root event and 1 sts:AssumeRoot call."},
		{KindOpen, []match.Finding{call}, 1, 1, "1 sts:AssumeRoot call: AssumeRoot"},
		{KindResolve, nil, 2, 0, "Resolved after 2 root events."},
	} {
		n := sampleNotification(c.kind, c.fs...)
		if c.fs == nil {
			n.Findings = nil
		}
		n.Incident.Category, n.Incident.Count, n.Incident.NotRoot = match.CategoryAssumedRoot, c.count, c.notRoot
		m := Render(n)
		got := m.Title.In(Plain) + " | " + m.Summary.In(Plain)
		if !strings.Contains(got, c.want) {
			t.Errorf("%s %d/%d: %q, want %q", c.kind, c.count, c.notRoot, got, c.want)
		}
		if c.notRoot > 0 && strings.Contains(got, fmt.Sprintf("%d root events", c.count)) {
			t.Errorf("%s: the call counted as a root event: %q", c.kind, got)
		}
	}
}

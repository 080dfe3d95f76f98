package channel

import (
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
		{"x\x1b[31my\x00z\u202eq\u200bw", 20, "x[31myzqw"},
		{"bad\xffutf8", 20, "bad\ufffdutf8"},
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

func TestEscapers(t *testing.T) {
	in := "<!channel> <http://evil|click> *bold* _i_ ~s~ `c` &<>"
	if got, want := escSlack(in), "&lt;!channel&gt; &lt;http[:]//evil|click&gt; ∗bold∗ ˍiˍ ∼s∼ ˋcˋ &amp;&lt;&gt;"; got != want {
		t.Errorf("escSlack = %q, want %q", got, want)
	}
	if got := escSlack("aws-sdk x86_64 exec-env/AWS_Lambda"); got != "aws-sdk x86_64 exec-env/AWS_Lambda" {
		t.Errorf("escSlack changed intra-word underscores: %q", got)
	}
	if got, want := escMarkdown("[x](http://e) *b* <i> #h x86_64 _u_"), `\[x\](http\[:\]//e) \*b\* \<i\> #h x86_64 \_u\_`; got != want {
		t.Errorf("escMarkdown = %q, want %q", got, want)
	}
	if got, want := escCard("[x](http://e) *b* <i>"), "［x］(http［:］//e) ∗b∗ ‹i›"; got != want {
		t.Errorf("escCard = %q, want %q", got, want)
	}
	if got, want := escHTML(`<script>"&'`), "&lt;script&gt;&#34;&amp;&#39;"; got != want {
		t.Errorf("escHTML = %q, want %q", got, want)
	}
	if got := escHeader("Subject\r\nBcc: x@evil"); strings.ContainsAny(got, "\r\n") {
		t.Errorf("escHeader kept a line break: %q", got)
	}
}

func TestFitEscaped(t *testing.T) {
	s := strings.Repeat("&amp;", 10)
	got := fitEscaped(s, 23)
	if len(got) > 23 || strings.Contains(strings.TrimSuffix(got, truncMarker), "&am;") || !strings.HasSuffix(got, truncMarker) {
		t.Errorf("fitEscaped = %q", got)
	}
	if body := strings.TrimSuffix(got, truncMarker); strings.Count(body, "&") != strings.Count(body, ";") {
		t.Errorf("fitEscaped split an entity: %q", got)
	}
}

func TestSMSText(t *testing.T) {
	got := smsText("Ünïcode — {x} [y] ~z~ `w` \x1b\r\n"+strings.Repeat("long ", 60), 160)
	if len(got) > 160 || !isGSM7(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("smsText = %q (%d)", got, len(got))
	}
	if got := smsText("short text", 160); got != "short text" {
		t.Errorf("smsText = %q", got)
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
		if !strings.Contains(m.Title+" | "+m.Summary, want) {
			t.Errorf("%s: title %q summary %q, want %q", kind, m.Title, m.Summary, want)
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
	if !strings.Contains(m.text(escPlain), "…and 15 more") {
		t.Errorf("text does not say how many were left out:\n%s", m.text(escPlain))
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
	if !strings.Contains(m.Title, "119 more root events") || !strings.Contains(m.Summary, "119 more root events") {
		t.Fatalf("update must count all new findings, not the %d carried: %q / %q", len(n.Findings), m.Title, m.Summary)
	}
}

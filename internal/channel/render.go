package channel

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"rootwatch/internal/match"
)

// The text model every channel renders from, and the per-format escaping.
// Everything in a Finding can be attacker-controlled (userAgent,
// sourceIPAddress, errorMessage, request parameters, even eventName), so
// every value goes through clean (valid UTF-8, no control or bidi
// characters, bounded length) and then through its format's escaper.

// truncMarker ends a value that was cut short.
const truncMarker = "…[truncated]"

// Length bounds, in runes, for values placed in messages.
const (
	maxValue  = 256 // one fact or event field
	maxTitle  = 150 // titles (Slack header blocks allow 150)
	maxEvents = 10  // events listed in one message
)

// clean makes an untrusted value safe to embed in any text format: invalid
// UTF-8 becomes U+FFFD, newlines and tabs become spaces, other control,
// format (bidi overrides, zero-width) and private-use characters are
// dropped, runs of spaces collapse, and a result longer than max runes is
// cut so that, with truncMarker appended, it is exactly max runes.
func clean(s string, max int) string {
	buf := make([]rune, 0, min(len(s), max+1))
	space := false
	for i := 0; i < len(s) && len(buf) <= max; {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size <= 1:
			r = unicode.ReplacementChar
		case unicode.IsSpace(r):
			r = ' '
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r):
			continue
		}
		if r == ' ' {
			space = len(buf) > 0 // collapse runs; drop leading spaces
			continue
		}
		if space {
			buf = append(buf, ' ') // only before a following non-space: no trailing spaces
			space = false
		}
		buf = append(buf, r)
	}
	if len(buf) > max {
		keep := max - markerRunes
		if keep < 0 {
			return string(buf[:max])
		}
		return strings.TrimRight(string(buf[:keep]), " ") + truncMarker
	}
	return strings.TrimRight(string(buf), " ")
}

var markerRunes = utf8.RuneCountInString(truncMarker)

// fitBytes cuts s (already cleaned) to at most n bytes on a rune boundary,
// marker included, for providers whose limits count bytes.
func fitBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(truncMarker)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncMarker
}

// fitEscaped cuts escaped markup s to at most n bytes without splitting a
// rune or an &entity;.
func fitEscaped(s string, n int) string {
	if len(s) <= n {
		return s
	}
	out := fitBytes(s, n)
	body := strings.TrimSuffix(out, truncMarker)
	if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
		body = body[:amp]
	}
	return body + truncMarker
}

// Fact is one labelled value ("Account: 123456789012").
type Fact struct{ Label, Value string }

// Event is one finding, cleaned, for the event list.
type Event struct {
	Time      time.Time
	Name      string
	Source    string
	IP        string
	Region    string
	UserAgent string
	Error     string // errorCode: errorMessage, empty when the call succeeded
	MFA       string // "yes"/"no" for console sign-ins, else empty
}

// Message is the format-neutral rendering of a notification; every string
// in it is cleaned but not escaped.
type Message struct {
	Kind     Kind
	Severity match.Severity
	// Title is one line: what happened, where.
	Title string
	// Summary is one sentence for follow-ups ("3 more root events: ...").
	Summary string
	Facts   []Fact
	Events  []Event
	// Omitted counts findings not listed in Events.
	Omitted    int
	IncidentID string
}

// categoryTitle names a category for people.
func categoryTitle(c match.Category) string {
	switch c {
	case match.CategoryConsoleLogin:
		return "Root console sign-in"
	case match.CategoryConsoleLoginFailed:
		return "Failed root console sign-in"
	case match.CategoryCredentialChange:
		return "Root credential change"
	case match.CategoryAssumedRoot:
		return "Centralised root session (AssumeRoot)"
	case match.CategoryDenied:
		return "Denied root API call"
	case match.CategoryMutating:
		return "Root API call (mutating)"
	case match.CategoryReadOnly:
		return "Root API call (read-only)"
	case "":
		return "Root activity"
	}
	return "Root activity (" + safeToken(string(c), 40) + ")"
}

// safeToken keeps only letters, digits and - _ . : of s (at most max), for
// values that go into titles and subjects unescaped: account IDs and
// categories are never attacker-controlled in practice, and this makes sure.
func safeToken(s string, max int) string {
	var sb strings.Builder
	for _, r := range s {
		if sb.Len() == max {
			break
		}
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:", r)) {
			sb.WriteRune(r)
		}
	}
	if sb.Len() == 0 {
		return "?"
	}
	return sb.String()
}

// Render builds the format-neutral text model of n, every value cleaned
// and bounded; each channel escapes it for its own format.
func Render(n *Notification) Message {
	inc := n.Incident
	acct := safeToken(inc.AccountID, 32)
	sev := inc.Severity
	if sev == "" && len(n.Findings) > 0 {
		sev = n.Findings[0].Severity
	}
	m := Message{Kind: n.Kind, Severity: match.Severity(clean(string(sev), 16)), IncidentID: clean(inc.ID, 128)}
	what := categoryTitle(inc.Category)
	names := eventNames(n)
	newCount := max(n.New, len(n.Findings))
	switch n.Kind {
	case KindUpdate:
		m.Title = fmt.Sprintf("%s in account %s: %s", what, acct, plural(newCount, "more root event"))
		m.Summary = fmt.Sprintf("%s: %s", plural(newCount, "more root event"), names)
	case KindRepeat:
		m.Title = fmt.Sprintf("Still ongoing: %s in account %s", what, acct)
		m.Summary = fmt.Sprintf("Still ongoing, %s so far; latest: %s", plural(inc.Count, "root event"), names)
	case KindResolve:
		m.Title = fmt.Sprintf("Resolved: %s in account %s", what, acct)
		m.Summary = fmt.Sprintf("Resolved after %s.", plural(inc.Count, "root event"))
	default:
		m.Title = fmt.Sprintf("%s in account %s", what, acct)
		m.Summary = fmt.Sprintf("%s: %s", plural(max(newCount, 1), "root event"), names)
	}
	m.Title = clean(m.Title, maxTitle)
	m.Summary = clean(m.Summary, 2*maxValue)

	m.Facts = append(m.Facts,
		Fact{"Severity", strings.ToUpper(string(m.Severity))},
		Fact{"Account", acct},
		Fact{"Category", clean(string(inc.Category), 40)},
	)
	if len(inc.SourceIPs) > 0 {
		m.Facts = append(m.Facts, Fact{"Source IPs", joinClean(inc.SourceIPs, 5)})
	}
	if inc.Count > 0 {
		m.Facts = append(m.Facts, Fact{"Events so far", strconv.Itoa(inc.Count)})
	}
	if !inc.OpenedAt.IsZero() {
		m.Facts = append(m.Facts, Fact{"First seen", inc.OpenedAt.UTC().Format(time.RFC3339)})
	}
	if !inc.LastSeen.IsZero() {
		m.Facts = append(m.Facts, Fact{"Last seen", inc.LastSeen.UTC().Format(time.RFC3339)})
	}
	m.Facts = append(m.Facts, Fact{"Incident", m.IncidentID})

	for i, f := range n.Findings {
		if i == maxEvents {
			m.Omitted = len(n.Findings) - maxEvents
			break
		}
		m.Events = append(m.Events, eventOf(f))
	}
	return m
}

func eventOf(f match.Finding) Event {
	e := Event{
		Time:      f.EventTime.UTC(),
		Name:      clean(f.EventName, 64),
		Source:    clean(f.EventSource, 64),
		IP:        clean(f.SourceIPAddress, 64),
		Region:    clean(f.Region, 32),
		UserAgent: clean(f.UserAgent, maxValue),
	}
	if f.ErrorCode != "" || f.ErrorMessage != "" {
		e.Error = clean(strings.TrimSuffix(f.ErrorCode+": "+f.ErrorMessage, ": "), maxValue)
	}
	if f.Category == match.CategoryConsoleLogin || f.Category == match.CategoryConsoleLoginFailed {
		e.MFA = "no"
		if f.MFAUsed {
			e.MFA = "yes"
		}
	}
	return e
}

// eventNames lists the distinct event names of n's findings, for summaries.
func eventNames(n *Notification) string {
	seen := map[string]bool{}
	var out []string
	more := false
	for _, f := range n.Findings {
		name := clean(f.EventName, 64)
		if name == "" || seen[name] {
			continue
		}
		if len(out) == 5 {
			more = true
			break
		}
		seen[name] = true
		out = append(out, name)
	}
	if len(out) == 0 {
		return "(none listed)"
	}
	s := strings.Join(out, ", ")
	if more {
		s += ", …"
	}
	return s
}

func joinClean(vs []string, max int) string {
	var out []string
	for i, v := range vs {
		if i == max {
			out = append(out, fmt.Sprintf("+%d more", len(vs)-max))
			break
		}
		out = append(out, clean(v, 64))
	}
	return strings.Join(out, ", ")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// line renders an event as one line of text with each value passed through esc.
func (e Event) line(esc func(string) string) string {
	var sb strings.Builder
	if !e.Time.IsZero() {
		sb.WriteString(e.Time.Format(time.RFC3339))
		sb.WriteString(" ")
	}
	sb.WriteString(esc(orDash(e.Name)))
	if e.Source != "" {
		sb.WriteString(" (" + esc(e.Source) + ")")
	}
	sb.WriteString(" from " + esc(orDash(e.IP)))
	if e.Region != "" {
		sb.WriteString(" in " + esc(e.Region))
	}
	if e.MFA != "" {
		sb.WriteString(", MFA " + e.MFA)
	}
	if e.Error != "" {
		sb.WriteString(", error " + esc(e.Error))
	}
	if e.UserAgent != "" {
		sb.WriteString(", agent " + esc(e.UserAgent))
	}
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// text renders the message as plain lines (title, summary, facts, events),
// each value passed through esc. Formats without markup use it directly.
func (m Message) text(esc func(string) string) string {
	var sb strings.Builder
	sb.WriteString(esc(m.Title))
	sb.WriteString("\n")
	if m.Summary != "" {
		sb.WriteString(esc(m.Summary))
		sb.WriteString("\n")
	}
	sb.WriteString("\n")
	for _, f := range m.Facts {
		sb.WriteString(f.Label + ": " + esc(f.Value) + "\n")
	}
	if len(m.Events) > 0 {
		sb.WriteString("\nEvents:\n")
		for _, e := range m.Events {
			sb.WriteString("- " + e.line(esc) + "\n")
		}
		if m.Omitted > 0 {
			sb.WriteString(fmt.Sprintf("- …and %d more\n", m.Omitted))
		}
	}
	return sb.String()
}

// --- per-format escaping -------------------------------------------------

// defang breaks URLs in untrusted text so no client turns them into links
// ("http://evil" becomes "http[:]//evil").
func defang(s string) string { return strings.ReplaceAll(s, "://", "[:]//") }

// formattingLookalikes replaces the characters Slack mrkdwn and Adaptive
// Card markdown interpret as formatting (neither has an escape character).
var formattingLookalikes = map[rune]string{
	'*': "∗", // U+2217 ASTERISK OPERATOR
	'_': "ˍ", // U+02CD MODIFIER LETTER LOW MACRON
	'~': "∼", // U+223C TILDE OPERATOR
	'`': "ˋ", // U+02CB MODIFIER LETTER GRAVE ACCENT
}

// neutraliseFormatting swaps formatting characters for lookalikes, except
// *, _ and ~ inside a word (x86_64), which cannot open or close formatting.
func neutraliseFormatting(s string) string {
	if !strings.ContainsAny(s, "*_~`") {
		return s
	}
	rs := []rune(s)
	var sb strings.Builder
	word := func(i int) bool { return i >= 0 && i < len(rs) && isWordRune(rs[i]) }
	for i, r := range rs {
		if lk, ok := formattingLookalikes[r]; ok && (r == '`' || !word(i-1) || !word(i+1)) {
			sb.WriteString(lk)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

var slackEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escSlack escapes an untrusted value for Slack mrkdwn: &, < and > as
// entities (which neutralises <!channel>, <!here>, <@U123> and
// <http://evil|click>), formatting characters as lookalikes, URLs defanged.
func escSlack(s string) string {
	return neutraliseFormatting(slackEntities.Replace(defang(s)))
}

// escHTML escapes an untrusted value for an HTML body.
func escHTML(s string) string { return html.EscapeString(defang(s)) }

// markdownSpecial are backslash-escaped by escMarkdown (CommonMark allows a
// backslash before any ASCII punctuation). Parentheses and ! need none once
// [ and ] are escaped (no link or image can form); # and list markers only
// matter at a line start, where values never are.
const markdownSpecial = "\\`*_{}[]<>~|&"

// escMarkdown escapes an untrusted value for Markdown (Zendesk, ServiceNow
// work notes, where escaping [ also breaks [code] tags): structure
// characters are backslash-escaped (except _ inside a word, as in x86_64,
// which cannot emphasise) and URLs defanged.
func escMarkdown(s string) string {
	rs := []rune(defang(s))
	var sb strings.Builder
	for i, r := range rs {
		if r < utf8.RuneSelf && strings.ContainsRune(markdownSpecial, r) {
			intraWord := r == '_' && i > 0 && i+1 < len(rs) && isWordRune(rs[i-1]) && isWordRune(rs[i+1])
			if !intraWord {
				sb.WriteByte('\\')
			}
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

var cardFormatting = strings.NewReplacer(
	"[", "［", "]", "］", // fullwidth brackets: no [text](url) links
	"<", "‹", ">", "›",
	"&", "＆",
)

// escCard escapes an untrusted value for Adaptive Card TextBlock markdown,
// which has no reliable escape character: formatting and link characters
// become lookalikes and URLs are defanged.
func escCard(s string) string { return neutraliseFormatting(cardFormatting.Replace(defang(s))) }

// escHeader makes a value safe for an email header: one line, no control
// characters (the mail library applies RFC 2047 encoding).
func escHeader(s string) string { return clean(s, maxTitle) }

// escPlain is for plain text (console, SNS subjects): values are already
// cleaned of control characters, so terminal escapes cannot get through.
func escPlain(s string) string { return s }

// gsm7Unsafe are ASCII characters outside the GSM 03.38 basic set.
const gsm7Unsafe = "`[]{}\\^~|"

// smsText renders s as ASCII-only single-line GSM-7 text of at most max
// characters, cut with "..." when longer.
func smsText(s string, max int) string {
	var sb strings.Builder
	space := false
	for _, r := range clean(s, 4*max) {
		switch {
		case r == ' ':
			if space {
				continue
			}
			space = true
			sb.WriteByte(' ')
			continue
		case r >= 0x20 && r < 0x7f && !strings.ContainsRune(gsm7Unsafe, r):
			sb.WriteRune(r)
		case r == '…':
			sb.WriteString("...")
		default:
			sb.WriteByte('?')
		}
		space = false
	}
	out := strings.TrimSpace(sb.String())
	if len(out) > max {
		out = strings.TrimRight(out[:max-3], " ") + "..."
	}
	return out
}

// smsMessage is the short text of a notification for SMS.
func smsMessage(n *Notification) string {
	m := Render(n)
	var prefix string
	switch n.Kind {
	case KindUpdate:
		prefix = "UPDATE"
	case KindRepeat:
		prefix = "STILL ONGOING"
	case KindResolve:
		prefix = "RESOLVED"
	default:
		prefix = strings.ToUpper(string(m.Severity))
	}
	s := fmt.Sprintf("rootwatch %s: %s.", prefix, m.Title)
	if n.Kind != KindResolve && len(m.Events) > 0 {
		e := m.Events[0]
		s += " " + e.Name + " from " + orDash(e.IP)
		if extra := len(n.Findings) - 1; extra > 0 {
			s += fmt.Sprintf(" (+%d more)", extra)
		}
	}
	return smsText(s, 160)
}

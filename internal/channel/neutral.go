package channel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Output safety. Everything in a finding can be attacker-controlled (anyone
// can call AWS with any user agent, error text or request parameters), so
// every value a channel shows a person is a Text, and the only way to get
// a Text's characters is Text.In(format): the one neutralising step of that
// output kind. It escapes the kind's markup, defangs URLs and host names,
// and (through clean, when the Text was made) marks control, bidi and other
// invisible characters; Fit then cuts the result to a provider's documented
// limit with the cut marked. Structured payloads go through encodeJSON
// instead, which keeps values and escapes invisible characters.
//
// docs/channels.md states, per channel, what each step does; the hostile
// test (hostile_test.go) and FuzzNeutralise check it.

// Format is one kind of output text.
type Format int

// The output kinds.
const (
	// Plain is text shown as it is, or by a provider whose rendering we do
	// not control and which may relay it to chat (console, email text part,
	// PagerDuty summary, Opsgenie, ServiceNow short description, Zendesk
	// subject, SNS subject): < and > and the formatting characters become
	// lookalikes, URLs and host names are defanged.
	Plain Format = iota
	// SlackMrkdwn is Slack's mrkdwn: & < > as entities (no <!channel>,
	// <@U…> or <url|text>), formatting characters as lookalikes, defanged.
	SlackMrkdwn
	// Markdown is CommonMark (Zendesk comments, ServiceNow notes): markup
	// characters backslash-escaped, defanged.
	Markdown
	// HTML is an HTML body (email): html.EscapeString, defanged.
	HTML
	// Card is Adaptive Card TextBlock text (Teams): link, tag, template
	// ({{DATE(…)}}, ${…}) and formatting characters as lookalikes, defanged.
	Card
	// SMS is a text message: GSM-7 ASCII only, then URLs and host names
	// removed.
	SMS
)

var formatNames = [...]string{"plain", "slack-mrkdwn", "markdown", "html", "adaptive-card", "sms"}

func (f Format) String() string { return formatNames[f] }

// Text is a value cleaned for display: valid UTF-8, one line, invisible
// characters marked, bounded in length. Its characters are only reachable
// through In, which neutralises them for one output kind.
type Text struct{ s string }

// Untrusted makes a Text of a value from a finding (or anything else that
// reaches a person), at most max runes.
func Untrusted(s string, max int) Text { return Text{clean(s, max)} }

// In renders t for output kind f.
func (t Text) In(f Format) string {
	switch f {
	case SMS:
		return stripLinks(gsm7(strings.ReplaceAll(t.s, truncMarker, "...")))
	case SlackMrkdwn:
		return defang(neutraliseFormatting(slackEntities.Replace(t.s)))
	case Markdown:
		return defang(escMarkdown(t.s))
	case HTML:
		return defang(html.EscapeString(t.s))
	case Card:
		return defang(neutraliseFormatting(cardFormatting.Replace(t.s)))
	default:
		return defang(neutraliseFormatting(plainMarkup.Replace(t.s)))
	}
}

// IsZero reports whether t is empty.
func (t Text) IsZero() bool { return t.s == "" }

// --- cleaning ------------------------------------------------------------

// truncMarker ends a value that was cut short; it has no character any
// output kind escapes, so it reads the same everywhere.
const truncMarker = "…(truncated)"

var markerRunes = utf8.RuneCountInString(truncMarker)

// invisible reports whether r must not reach a screen as it is: C0 and C1
// controls, DEL, format characters (bidi embeddings, overrides and
// isolates U+202A–U+202E and U+2066–U+2069, marks U+200E/F and U+061C,
// zero-width characters, the BOM, soft hyphen, tag characters) and private
// use characters.
func invisible(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Co, r)
}

// clean makes an untrusted value safe to embed in any text: invalid UTF-8
// becomes U+FFFD, whitespace (newlines and tabs included) folds to single
// spaces, every invisible character is marked as [U+XXXX], and a result
// longer than max runes is cut so that, with truncMarker, it is max runes.
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
			space = len(buf) > 0 // collapse runs; drop leading spaces
			continue
		case invisible(r):
			if space {
				buf = append(buf, ' ')
				space = false
			}
			buf = append(buf, []rune(fmt.Sprintf("[U+%04X]", r))...)
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
	return string(buf)
}

// --- defanging -----------------------------------------------------------

// linkRemoved replaces a URL or host name in an SMS.
const linkRemoved = "(link removed)"

// dangerousSchemes are URL schemes that are defanged even without "//".
var dangerousSchemes = map[string]bool{
	"http": true, "https": true, "ftp": true, "ftps": true, "sftp": true, "ws": true, "wss": true,
	"file": true, "javascript": true, "vbscript": true, "data": true, "mailto": true, "tel": true,
	"sms": true, "callto": true, "ssh": true, "telnet": true, "smb": true, "ldap": true, "irc": true,
	"hxxp": true, "hxxps": true, "fxp": true, "ms-settings": true, "search-ms": true,
}

// defang makes URLs and host names in s unclickable, the way security
// tools write indicators: "https://evil.example/x" becomes
// "hxxps[:]//evil[.]example/x", "www.evil.example" becomes
// "www[.]evil[.]example". See isHostName for what counts as a host;
// IP addresses and AWS service names (iam.amazonaws.com) are left as they
// are.
func defang(s string) string { return defangHosts(defangSchemes(s, false), false) }

// stripLinks replaces every URL and host name in s with "(link removed)".
func stripLinks(s string) string { return defangHosts(defangSchemes(s, true), true) }

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

func isLetterByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isAlnumByte(c byte) bool { return isLetterByte(c) || c >= '0' && c <= '9' }

// defangSchemes rewrites "scheme://" (any scheme, and also ":\\" and ":/\",
// which browsers read as "://") and the dangerous schemes of
// dangerousSchemes followed by anything: the colon becomes "[:]" and
// http/ftp become hxxp/fxp. With strip, the URL up to the next space is
// replaced by linkRemoved.
func defangSchemes(s string, strip bool) string {
	if !strings.Contains(s, ":") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		j := i
		for j > last && isSchemeByte(s[j-1]) {
			j--
		}
		for j < i && !isLetterByte(s[j]) {
			j++
		}
		rest := s[i+1:]
		slashes := len(rest) >= 2 && (rest[0] == '/' || rest[0] == '\\') && (rest[1] == '/' || rest[1] == '\\')
		known := false
		if rest != "" && rest[0] != ' ' {
			// "x+mailto:" holds "mailto:" for a linkifier: try every
			// suffix that starts a word.
			for k := j; k < i && !known; k++ {
				if isLetterByte(s[k]) && (k == j || !isAlnumByte(s[k-1])) && dangerousSchemes[strings.ToLower(s[k:i])] {
					j, known = k, true
				}
			}
		}
		if !slashes && !known {
			continue
		}
		scheme := s[j:i]
		b.WriteString(s[last:j])
		if strip {
			end := i + 1
			for end < len(s) && s[end] != ' ' {
				end++
			}
			b.WriteString(linkRemoved)
			last, i = end, end-1
			continue
		}
		b.WriteString(fangless(scheme))
		b.WriteString("[:]")
		last = i + 1
	}
	b.WriteString(s[last:])
	return b.String()
}

// fangless is a scheme as defangers write it: http → hxxp, ftp → fxp.
func fangless(scheme string) string {
	l := strings.ToLower(scheme)
	switch {
	case strings.HasPrefix(l, "http"):
		return scheme[:1] + "xx" + scheme[3:]
	case strings.HasPrefix(l, "ftp"):
		return scheme[:1] + "x" + scheme[2:]
	}
	return scheme
}

// isDot reports whether r separates host labels: the full stop and the
// ideographic and fullwidth full stops that IDNA maps to it.
func isDot(r rune) bool { return r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61' }

// isLabelRune reports whether r can be part of a host label (letters of
// any script, digits, marks and -; _ ends a label, so "x86_64" is two
// words and "a.bc_" holds the host "a.bc").
func isLabelRune(r rune) bool {
	return r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.In(r, unicode.Mn, unicode.Mc)
}

// isHostName reports whether tok (a run of label runes and dots) holds a
// host name: two labels or more, one of which after the first is a
// plausible top-level domain (two letters or more, or an IDNA "xn--"
// label), since a linkifier links "evil.example" in "evil.example.5" too.
// So "evil.example", "www.evil", "bücher.example" and "evil。example" are
// hosts; "203.0.113.9", "Mozilla/5.0", "x86_64" and "1.12.x" are not.
func isHostName(tok string) bool {
	labels := strings.FieldsFunc(tok, isDot)
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels[1:] {
		if isTLD(l) {
			return true
		}
	}
	return false
}

// isTLD: the label starts with two letters or more, up to its end or a
// hyphen (a linkifier stops there: "x.ab-" links "x.ab"), or is IDNA.
func isTLD(l string) bool {
	if len(l) > 4 && strings.EqualFold(l[:4], "xn--") {
		return true
	}
	n := 0
	for _, r := range l {
		if r == '-' {
			break
		}
		if unicode.In(r, unicode.Mn, unicode.Mc) {
			continue // combining marks belong to the letter before
		}
		if !unicode.IsLetter(r) {
			return false
		}
		n++
	}
	return n >= 2
}

// awsServiceHost reports whether tok is an AWS service name
// ("iam.amazonaws.com", the form of CloudTrail's eventSource and of
// sourceIPAddress for calls made by a service): one label under
// amazonaws.com, which only AWS can name, shown as it is so that people
// read eventSource exactly. Anything longer ("bucket.s3.amazonaws.com",
// which a customer names) is defanged like any host.
func awsServiceHost(tok string) bool {
	tok = strings.Trim(tok, ".")
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn"} {
		if label, ok := strings.CutSuffix(tok, suffix); ok && label != "" {
			for i := 0; i < len(label); i++ {
				c := label[i]
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
					return false
				}
			}
			return true
		}
	}
	return false
}

// defangHosts brackets the dots of every host name in s
// ("evil[.]example"); with strip, the host and what follows it up to the
// next space become linkRemoved.
func defangHosts(s string, strip bool) string {
	if !strings.ContainsAny(s, ".\u3002\uff0e\uff61") {
		return s
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if !isLabelRune(r) && !isDot(r) {
			i += size
			continue
		}
		start := i
		for i < len(s) {
			r, size = utf8.DecodeRuneInString(s[i:])
			if !isLabelRune(r) && !isDot(r) {
				break
			}
			i += size
		}
		tok := s[start:i]
		if !isHostName(tok) {
			continue
		}
		before, after := byte(' '), byte(' ')
		if start > 0 {
			before = s[start-1]
		}
		if i < len(s) {
			after = s[i]
		}
		if awsServiceHost(tok) && before != '/' && before != '@' && after != '/' && after != ':' && after != '@' {
			continue
		}
		if strip {
			for i < len(s) && s[i] != ' ' {
				i++
			}
			for start > last && s[start-1] != ' ' { // what it is attached to: "user@evil.example"
				start--
			}
			b.WriteString(s[last:start])
			b.WriteString(linkRemoved)
			last = i
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(bracketDots(tok))
		last = i
	}
	b.WriteString(s[last:])
	return b.String()
}

// bracketDots writes every dot of a host name between two labels as "[.]".
func bracketDots(tok string) string {
	var b strings.Builder
	for i, r := range tok {
		if isDot(r) && i > 0 && i+utf8.RuneLen(r) < len(tok) {
			b.WriteString("[.]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// --- per-format escaping -------------------------------------------------

// formattingLookalikes replace the characters that Slack mrkdwn, Adaptive
// Card markdown and chat relays interpret as formatting.
var formattingLookalikes = map[rune]string{
	'*': "∗", // U+2217 ASTERISK OPERATOR
	'_': "ˍ", // U+02CD MODIFIER LETTER LOW MACRON
	'~': "∼", // U+223C TILDE OPERATOR
	'`': "ˋ", // U+02CB MODIFIER LETTER GRAVE ACCENT
}

// neutraliseFormatting swaps formatting characters for lookalikes, except
// _ inside a word (x86_64), which cannot open or close emphasis (* and ~
// can, in CommonMark and its relatives).
func neutraliseFormatting(s string) string {
	if !strings.ContainsAny(s, "*_~`") {
		return s
	}
	rs := []rune(s)
	var sb strings.Builder
	word := func(i int) bool { return i >= 0 && i < len(rs) && isWordRune(rs[i]) }
	for i, r := range rs {
		if lk, ok := formattingLookalikes[r]; ok && (r != '_' || !word(i-1) || !word(i+1)) {
			sb.WriteString(lk)
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// plainMarkup: in plain text, < and > as lookalikes, so that no tag
// (<script>) or Slack-style mention (<!channel>) survives a relay.
var plainMarkup = strings.NewReplacer("<", "‹", ">", "›")

var slackEntities = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// markdownSpecial are backslash-escaped by escMarkdown (CommonMark allows a
// backslash before any ASCII punctuation). Parentheses and ! need none once
// [ and ] are escaped (no link or image can form); # and list markers only
// matter at a line start, where values never are.
const markdownSpecial = "\\`*_{}[]<>~|&"

// escMarkdown backslash-escapes Markdown structure characters (except _
// inside a word, as in x86_64, which cannot emphasise); escaping [ also
// breaks ServiceNow [code] tags.
func escMarkdown(s string) string {
	if !strings.ContainsAny(s, markdownSpecial) {
		return s
	}
	rs := []rune(s)
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

// cardFormatting: Adaptive Card TextBlock markdown has no reliable escape
// character, so link brackets, tags, & and the braces of template
// functions ({{DATE(…)}}, {{TIME(…)}}) and data binding (${…}) become
// fullwidth lookalikes.
var cardFormatting = strings.NewReplacer(
	"[", "［", "]", "］",
	"<", "‹", ">", "›",
	"&", "＆",
	"{", "｛", "}", "｝",
)

// gsm7Unsafe are ASCII characters outside the GSM 03.38 basic set.
const gsm7Unsafe = "`[]{}\\^~|"

// gsm7 reduces a cleaned value to GSM-7 basic-set ASCII, one line: other
// characters become '?', "…" becomes "...".
func gsm7(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch {
		case r >= 0x20 && r < 0x7f && !strings.ContainsRune(gsm7Unsafe, r):
			sb.WriteRune(r)
		case r == '…':
			sb.WriteString("...")
		default:
			sb.WriteByte('?')
		}
	}
	return sb.String()
}

// --- lengths -------------------------------------------------------------

// Fit cuts s, text already rendered for format f, to at most n bytes (so
// at most n characters by any count a provider uses), ending it with a
// marker of the cut ("…(truncated)", "..." for SMS). It never splits a
// rune, an HTML or Slack entity, a Markdown backslash escape or a defang
// marker.
func Fit(f Format, s string, n int) string {
	if len(s) <= n {
		return s
	}
	marker := truncMarker
	if f == SMS {
		marker = "..."
	}
	for cut := n - len(marker); ; {
		if cut <= 0 { // no room for text: as much of the marker as fits
			m := marker[:max(min(n, len(marker)), 0)]
			for m != "" && !utf8.ValidString(m) {
				m = m[:len(m)-1]
			}
			return m
		}
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		// A cut can make a host name or a scheme ("x.exa", "javascript:"
		// + marker) out of text that was none: neutralise the result
		// again, and cut more if that made it longer.
		out := cutText(f, s[:cut]) + marker
		if f == SMS {
			out = stripLinks(out)
		} else {
			out = defang(out)
		}
		if len(out) <= n {
			return out
		}
		cut -= len(out) - n
	}
}

// cutText trims the end of a cut so that it splits no defang marker, HTML
// or Slack entity, or Markdown backslash escape.
func cutText(f Format, body string) string {
	if i := strings.LastIndexByte(body, '['); i >= 0 && len(body)-i < 3 && (body[i:] == "[" || body[i:] == "[." || body[i:] == "[:") {
		body = body[:i]
	}
	switch f {
	case HTML, SlackMrkdwn:
		if amp := strings.LastIndexByte(body, '&'); amp >= 0 && !strings.Contains(body[amp:], ";") {
			body = body[:amp]
		}
	case Markdown:
		trailing := len(body) - len(strings.TrimRight(body, `\`))
		if trailing%2 == 1 {
			body = body[:len(body)-1]
		}
	}
	return strings.TrimRight(body, " ")
}

// --- structured data -----------------------------------------------------

// encodeJSON is the one encoder of structured payloads (every JSON request
// body, the webhook and SNS topic messages): values stay as they are, the
// output is valid UTF-8, and every invisible character (see invisible; the
// encoding/json package escapes only C0 controls and U+2028/9) is written
// as a \uXXXX escape, so no bidi override or control character reaches a
// screen or a log raw from a payload.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return escapeInvisibleJSON(b), nil
}

// escapeInvisibleJSON rewrites encoded JSON so that invisible characters
// and bytes that are not UTF-8 (possible inside embedded json.RawMessage)
// are \uXXXX escapes. Outside strings JSON is ASCII, so every byte touched
// is inside a string, where the escape means the same character.
func escapeInvisibleJSON(b []byte) []byte {
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf && b[i] != 0x7f {
		i++
	}
	if i == len(b) {
		return b
	}
	out := bytes.NewBuffer(make([]byte, 0, len(b)+64))
	out.Write(b[:i])
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf && c != 0x7f {
			out.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			out.WriteString(`\ufffd`)
		case invisible(r):
			writeJSONEscape(out, r)
		default:
			out.Write(b[i : i+size])
		}
		i += size
	}
	return out.Bytes()
}

func writeJSONEscape(w *bytes.Buffer, r rune) {
	if r > 0xffff {
		hi, lo := utf16.EncodeRune(r)
		fmt.Fprintf(w, `\u%04x\u%04x`, hi, lo)
		return
	}
	fmt.Fprintf(w, `\u%04x`, r)
}

// markForDisplay writes every invisible character of a data value as the
// visible text \uXXXX, for structured data a provider shows people
// (PagerDuty custom_details): the value is otherwise unchanged.
func markForDisplay(s string) string {
	ok := true
	for _, r := range s {
		if invisible(r) || r == utf8.RuneError {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b bytes.Buffer
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteString(`\ufffd`)
		case invisible(r):
			writeJSONEscape(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// truncateRaw cuts a data value to at most max bytes on a rune boundary,
// with truncMarker; unlike clean it keeps every character (encodeJSON
// escapes what must not be raw).
func truncateRaw(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncMarker
}

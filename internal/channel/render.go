package channel

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"rootwatch/internal/match"
)

// The text model every channel renders from: Render turns a notification
// into a Message whose every value is a Text (cleaned and bounded), and a
// channel gets characters only through Text.In, Event.Line or Message.Body
// with its output kind (neutral.go), so no channel can forget to escape.

// Length bounds, in runes, for values placed in messages.
const (
	maxValue  = 256 // one fact or event field
	maxTitle  = 150 // titles (Slack header blocks allow 150)
	maxEvents = 10  // events listed in one message
)

// Fact is one labelled value ("Account: 123456789012"); the label is
// rootwatch's own word.
type Fact struct {
	Label string
	Value Text
}

// Event is one finding, cleaned, for the event list.
type Event struct {
	Time      time.Time
	Name      Text
	Source    Text
	IP        Text
	Region    Text
	UserAgent Text
	Error     Text   // errorCode: errorMessage, empty when the call succeeded
	MFA       string // "yes"/"no" for console sign-ins, else empty
}

// Message is the format-neutral rendering of a notification.
type Message struct {
	Kind     Kind
	Severity match.Severity // one of the known severities, or "?"
	// Title is one line: what happened, where.
	Title Text
	// Summary is one sentence for follow-ups ("3 more root events: ...").
	Summary Text
	Facts   []Fact
	Events  []Event
	// Notes are what the alert stage adds (a compliance notice, ...).
	Notes []Text
	// Omitted counts findings not listed in Events.
	Omitted    int
	IncidentID Text
	// Account and Category are the incident's, for provider fields.
	Account  string // safeToken: letters, digits and - _ . : only
	Category Text
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
	case CategoryCompliance:
		return "Root used after being unused"
	case match.CategorySessionIssued:
		return "Centralised root session opened (AssumeRoot)"
	case match.CategorySessionFailed:
		return "Failed AssumeRoot call"
	case CategoryUnusualTaskPolicy:
		return "Centralised root session with an unusual task policy"
	case CategorySessionIPMismatch:
		return "Centralised root session used from another IP"
	case "":
		return "Root activity"
	}
	return "Root activity (" + safeToken(string(c), 40) + ")"
}

// safeToken keeps only ASCII letters, digits, - and _ of s (at most max),
// for values placed in titles, subjects and provider fields as they are:
// account IDs and incident IDs are never attacker-controlled in practice,
// and without dots or colons no URL or host name can form, so this makes
// sure.
func safeToken(s string, max int) string {
	var sb strings.Builder
	for _, r := range s {
		if sb.Len() == max {
			break
		}
		if r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			sb.WriteRune(r)
		}
	}
	if sb.Len() == 0 {
		return "?"
	}
	return sb.String()
}

// Render builds the text model of n, every value cleaned and bounded;
// each channel neutralises it for its own output kind.
func Render(n *Notification) Message {
	inc := n.Incident
	acct := safeToken(inc.AccountID, 32)
	sev := inc.Severity
	if sev == "" && len(n.Findings) > 0 {
		sev = n.Findings[0].Severity
	}
	if match.SeverityRank(sev) == 0 {
		sev = "?"
	}
	m := Message{Kind: n.Kind, Severity: sev, IncidentID: Untrusted(inc.ID, 128), Account: acct,
		Category: Untrusted(string(inc.Category), 40)}
	what := categoryTitle(inc.Category)
	names := eventNames(n)
	newCount := max(n.New, len(n.Findings))
	newCalls := 0 // sts:AssumeRoot calls among the new findings: never root events
	for i := range n.Findings {
		if n.Findings[i].Rule == match.RuleRootSessionIssued {
			newCalls++
		}
	}
	newRoot := max(newCount-newCalls, 0)
	allRoot, allCalls := max(inc.Count-inc.NotRoot, 0), inc.NotRoot
	var title, summary string
	switch n.Kind {
	case KindUpdate:
		title = fmt.Sprintf("%s in account %s: %s", what, acct, eventCount(newRoot, newCalls, "more root event"))
		summary = fmt.Sprintf("%s: %s", eventCount(newRoot, newCalls, "more root event"), names)
	case KindRepeat:
		title = fmt.Sprintf("Still ongoing: %s in account %s", what, acct)
		summary = fmt.Sprintf("Still ongoing, %s so far; latest: %s", eventCount(allRoot, allCalls, "root event"), names)
	case KindResolve:
		title = fmt.Sprintf("Resolved: %s in account %s", what, acct)
		summary = fmt.Sprintf("Resolved after %s.", eventCount(allRoot, allCalls, "root event"))
	default:
		if newRoot+newCalls == 0 {
			newRoot = 1
		}
		title = fmt.Sprintf("%s in account %s", what, acct)
		summary = fmt.Sprintf("%s: %s", eventCount(newRoot, newCalls, "root event"), names)
	}
	m.Title = Untrusted(title, maxTitle)
	m.Summary = Untrusted(summary, 2*maxValue)

	m.Facts = append(m.Facts,
		Fact{"Severity", Text{strings.ToUpper(string(m.Severity))}},
		Fact{"Account", Text{acct}},
		Fact{"Category", m.Category},
	)
	if len(inc.SourceIPs) > 0 {
		m.Facts = append(m.Facts, Fact{"Source IPs", joinClean(inc.SourceIPs, 5)})
	}
	if inc.Count > 0 {
		m.Facts = append(m.Facts, Fact{"Events so far", Text{strconv.Itoa(inc.Count)}})
	}
	if !inc.OpenedAt.IsZero() {
		m.Facts = append(m.Facts, Fact{"First seen", Text{inc.OpenedAt.UTC().Format(time.RFC3339)}})
	}
	if !inc.LastSeen.IsZero() {
		m.Facts = append(m.Facts, Fact{"Last seen", Text{inc.LastSeen.UTC().Format(time.RFC3339)}})
	}
	m.Facts = append(m.Facts, Fact{"Incident", m.IncidentID})
	for i, note := range n.Notes {
		if i == 5 {
			break
		}
		m.Notes = append(m.Notes, Untrusted(note, 2*maxValue))
	}

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
		Name:      Untrusted(f.EventName, 64),
		Source:    Untrusted(f.EventSource, 64),
		IP:        Untrusted(f.SourceIPAddress, 64),
		Region:    Untrusted(f.Region, 32),
		UserAgent: Untrusted(f.UserAgent, maxValue),
	}
	if f.ErrorCode != "" || f.ErrorMessage != "" {
		e.Error = Untrusted(strings.TrimSuffix(f.ErrorCode+": "+f.ErrorMessage, ": "), maxValue)
	}
	if f.Category == match.CategoryConsoleLogin || f.Category == match.CategoryConsoleLoginFailed {
		e.MFA = "no"
		if f.MFAUsed {
			e.MFA = "yes"
		}
	}
	return e
}

// eventNames lists the distinct event names of n's findings, for summaries
// (cleaned; the summary is a Text).
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

func joinClean(vs []string, max int) Text {
	var out []string
	for i, v := range vs {
		if i == max {
			out = append(out, fmt.Sprintf("+%d more", len(vs)-max))
			break
		}
		out = append(out, clean(v, 64))
	}
	return Text{strings.Join(out, ", ")}
}

// eventCount says how many root events and sts:AssumeRoot calls (which
// are not root events) a notification speaks of: "2 root events",
// "1 root event and 1 sts:AssumeRoot call", "1 sts:AssumeRoot call".
func eventCount(root, calls int, what string) string {
	switch {
	case calls == 0:
		return plural(root, what)
	case root == 0:
		return plural(calls, "sts:AssumeRoot call")
	}
	return plural(root, what) + " and " + plural(calls, "sts:AssumeRoot call")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// Line renders an event as one line in output kind f.
func (e Event) Line(f Format) string {
	var sb strings.Builder
	if !e.Time.IsZero() {
		sb.WriteString(e.Time.Format(time.RFC3339))
		sb.WriteString(" ")
	}
	sb.WriteString(orDash(e.Name.In(f)))
	if !e.Source.IsZero() {
		sb.WriteString(" (" + e.Source.In(f) + ")")
	}
	sb.WriteString(" from " + orDash(e.IP.In(f)))
	if !e.Region.IsZero() {
		sb.WriteString(" in " + e.Region.In(f))
	}
	if e.MFA != "" {
		sb.WriteString(", MFA " + e.MFA)
	}
	if !e.Error.IsZero() {
		sb.WriteString(", error " + e.Error.In(f))
	}
	if !e.UserAgent.IsZero() {
		sb.WriteString(", agent " + e.UserAgent.In(f))
	}
	return sb.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Body renders the message as lines of text in output kind f (title,
// summary, notes, facts, events), for formats whose markup needs no
// structure of its own (plain text, Markdown).
func (m Message) Body(f Format) string {
	var sb strings.Builder
	sb.WriteString(m.Title.In(f))
	sb.WriteString("\n")
	if !m.Summary.IsZero() {
		sb.WriteString(m.Summary.In(f))
		sb.WriteString("\n")
	}
	for _, n := range m.Notes {
		sb.WriteString("Note: " + n.In(f) + "\n")
	}
	sb.WriteString("\n")
	for _, fa := range m.Facts {
		sb.WriteString(fa.Label + ": " + fa.Value.In(f) + "\n")
	}
	if len(m.Events) > 0 {
		sb.WriteString("\nEvents:\n")
		for _, e := range m.Events {
			sb.WriteString("- " + e.Line(f) + "\n")
		}
		if m.Omitted > 0 {
			sb.WriteString(fmt.Sprintf("- …and %d more\n", m.Omitted))
		}
	}
	return sb.String()
}

// maxSMS is the length of an SMS: one GSM-7 segment (160 characters).
// Twilio accepts 1,600 characters and SNS 1,600 in one Publish, split into
// segments; one segment is what reliably arrives whole.
const maxSMS = 160

// smsMessage is the short text of a notification for SMS: no link, no
// host name, GSM-7 only, one segment.
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
	s := fmt.Sprintf("rootwatch %s: %s.", prefix, m.Title.In(SMS))
	if n.Kind != KindResolve && len(m.Events) > 0 {
		e := m.Events[0]
		s += " " + orDash(e.Name.In(SMS)) + " from " + orDash(e.IP.In(SMS))
		if extra := len(n.Findings) - 1; extra > 0 {
			s += fmt.Sprintf(" (+%d more)", extra)
		}
	}
	return Fit(SMS, strings.Join(strings.Fields(s), " "), maxSMS)
}

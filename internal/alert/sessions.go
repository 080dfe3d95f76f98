package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// Centralised root sessions (docs/alert.md). An sts:AssumeRoot call in the
// management account (a root-session-issued finding) names who opened a
// session, for which member account and task policy, and the access key
// the session's actions in the member account are signed with. The call
// and the actions are findings of different accounts, so usually of
// different partitions and replicas: the owner of the call's partition
// writes the session to the state topic (key s/<accessKeyId>), every
// replica's fleet view reads every partition of it, and the owner of the
// member account's partition joins its session incidents with it, at once
// when the session is known and as an update when it arrives later.

// The notices derived from sessions (notification categories, like
// compliance; defined with the channels, which title them).
const (
	CategoryUnusualTaskPolicy = channel.CategoryUnusualTaskPolicy
	CategorySessionIPMismatch = channel.CategorySessionIPMismatch
)

// RootTaskPolicies are the task policies AWS offers for sts:AssumeRoot:
// the default of sessions.expected_task_policies.
var RootTaskPolicies = []string{
	"IAMAuditRootUserCredentials", "IAMCreateRootUserPassword", "IAMDeleteRootUserCredentials",
	"S3UnlockBucketPolicy", "SQSUnlockQueuePolicy",
}

// SessionsConfig says which centralised-root sessions are expected.
type SessionsConfig struct {
	// ExpectedTaskPolicies are the task policies (names or ARNs) the
	// organisation opens sessions with; a session opened with any other is
	// an unusual-task-policy alert. Default: the five AWS offers
	// (RootTaskPolicies); an empty list makes every session unusual.
	ExpectedTaskPolicies []string `yaml:"expected_task_policies"`
}

// checkTaskPolicy accepts a task policy name (a pattern when glob) or an
// ARN of a root-task policy.
func checkTaskPolicy(s string, glob bool) error {
	name := s
	if strings.HasPrefix(s, "arn:") {
		if !strings.Contains(s, ":policy/root-task/") {
			return fmt.Errorf("%q is not the ARN of a root-task policy (arn:aws:iam::aws:policy/root-task/NAME)", s)
		}
		name = match.TaskPolicyName(s)
	}
	if name == "" || strings.ContainsAny(name, " /:") {
		return fmt.Errorf("%q is not a task policy: want a name such as S3UnlockBucketPolicy, or its ARN", s)
	}
	if _, err := path.Match(name, ""); glob && err != nil {
		return fmt.Errorf("bad pattern %q (a task policy name, or a pattern with * and ?)", s)
	}
	return nil
}

// checkCaller accepts an ARN pattern.
func checkCaller(s string) error {
	if !strings.HasPrefix(s, "arn:") {
		return fmt.Errorf("%q is not an ARN: want who calls sts:AssumeRoot, e.g. arn:aws:sts::111111111111:assumed-role/Admin/*", s)
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("bad pattern %q (an ARN, or a pattern with * and ?)", s)
	}
	return nil
}

// matchesSession applies the task_policies and callers matchers: f's
// session must be known and match every list given.
func (m *Matchers) matchesSession(f *match.Finding) bool {
	if len(m.TaskPolicies) == 0 && len(m.Callers) == 0 {
		return true
	}
	s := f.Session
	if s == nil {
		return false
	}
	if len(m.TaskPolicies) > 0 && !globAny(m.TaskPolicies, s.TaskPolicy()) && !globAny(m.TaskPolicies, s.TaskPolicyARN) {
		return false
	}
	return len(m.Callers) == 0 || globAny(m.Callers, s.CallerARN)
}

// expectedPolicy reports whether a session's task policy is expected.
func (r *rules) expectedPolicy(s *match.Session) bool {
	name := s.TaskPolicy()
	for _, e := range r.expected {
		if match.TaskPolicyName(e) == name {
			return true
		}
	}
	return false
}

// issuedSession is a session a root-session-issued finding of this
// partition opened: the finding (raw record dropped) and when the state
// forgets it (a dedup TTL after it was seen). It is the value of the
// state record s/<access key id>.
type issuedSession struct {
	Expires int64          `json:"expires"` // unix seconds
	Finding *match.Finding `json:"finding"`
}

// sessionOf is the access key of the centralised-root session an
// assumed-root finding belongs to ("" for any other finding).
func sessionOf(f *match.Finding) string {
	if !f.AssumedRoot || f.AccessKeyID == "" || (f.Rule != match.RuleCISRoot && f.Rule != "") {
		return ""
	}
	return f.AccessKeyID
}

// issuer returns the finding of the AssumeRoot call that issued key: from
// this partition, or from the fleet view (any partition).
func (s *partState) issuer(key string) *match.Finding {
	if is, ok := s.issued[key]; ok {
		return is.Finding
	}
	if s.sessions != nil {
		return s.sessions(key)
	}
	return nil
}

// noteIssued records the session a root-session-issued finding opened (the
// state topic's s/<key>, read by every replica), joins the incidents of
// this partition that wait for it, and says what to alert about the call
// itself: nil for a usual session, else the finding to route (the call
// failed, or its task policy is not expected: a copy of category
// unusual-task-policy) and a note.
func (s *partState) noteIssued(r *rules, p *params, f *match.Finding, now time.Time, res *ingestResult) (*match.Finding, string) {
	sess := f.Session
	if sess == nil {
		sess = &match.Session{} // a producer that sent none: only the finding's own fields
	}
	if f.Category == match.CategorySessionFailed {
		return f, fmt.Sprintf("sts:AssumeRoot failed (%s): %s", orUnknown(f.ErrorCode), sessionText(f, "called by"))
	}
	if sess.AccessKeyID != "" {
		kept := *f
		kept.Record = nil
		s.issued[sess.AccessKeyID] = issuedSession{Finding: &kept, Expires: now.Add(p.dedupTTL).Unix()}
		s.mark(prefixSession + sess.AccessKeyID)
		for _, inc := range s.incidents {
			if inc.SessionKey == sess.AccessKeyID && inc.Issuer == nil {
				res.notices = append(res.notices, s.attachIssuer(r, p, inc, &kept, now)...)
				res.joinedLate++
			}
		}
	}
	if r.expectedPolicy(sess) {
		return nil, ""
	}
	u := *f
	u.Category, u.Severity = CategoryUnusualTaskPolicy, match.SeverityHigh
	return &u, fmt.Sprintf("unusual task policy %s (expected: %s): %s", orUnknown(sess.TaskPolicy()), expectedList(r.expected), issuerText(f))
}

// joinSession makes a new finding of a session incident say who opened
// the session: the issuer is attached when it is known and was not
// before, and an action from another IP than the session's issue opens a
// session-ip-mismatch notice.
func (s *partState) joinSession(r *rules, p *params, inc *incident, f *match.Finding, now time.Time, res *ingestResult) {
	if inc.Issuer == nil {
		if iss := s.issuer(inc.SessionKey); iss != nil {
			res.notices = append(res.notices, s.attachIssuer(r, p, inc, iss, now)...)
			if res.outcome == OutcomeOpened {
				res.joinedAtOpen++
			} else {
				res.joinedLate++
			}
		}
		return
	}
	if n := s.ipNotice(r, p, inc, f, now); n != nil {
		res.notices = append(res.notices, n)
	}
}

// attachIssuer records who opened inc's session: the AssumeRoot call joins
// the incident as a finding (so every channel is owed an update that says
// so), and each action so far from another IP than the call's opens a
// notice.
func (s *partState) attachIssuer(r *rules, p *params, inc *incident, iss *match.Finding, now time.Time) []*incident {
	inc.Issuer = iss
	var actions []match.Finding
	for _, sf := range inc.Recent {
		actions = append(actions, sf.Finding)
	}
	add := *iss
	inc.add(&add, now, p.maxFindings) // every notification says who opened it (sessionNotes)
	s.mark(prefixIncident + inc.ID)
	var out []*incident
	for i := range actions {
		if n := s.ipNotice(r, p, inc, &actions[i], now); n != nil {
			out = append(out, n)
		}
	}
	return out
}

// ipNotice opens a session-ip-mismatch notice when f, an action of inc's
// session, came from another IP address than the AssumeRoot call (both
// must be IP addresses: "AWS Internal" or a service name says nothing),
// once per session and address. The notice is routed and silenced like a
// finding of that category.
func (s *partState) ipNotice(r *rules, p *params, inc *incident, f *match.Finding, now time.Time) *incident {
	iss := inc.Issuer
	if iss == nil || iss.Session == nil || f.Rule == match.RuleRootSessionIssued || slices.Contains(inc.NoticedIPs, f.SourceIPAddress) {
		return nil
	}
	from, err1 := netip.ParseAddr(iss.Session.CallerSourceIP)
	used, err2 := netip.ParseAddr(f.SourceIPAddress)
	if err1 != nil || err2 != nil || from.Unmap() == used.Unmap() {
		return nil
	}
	inc.NoticedIPs = append(inc.NoticedIPs, f.SourceIPAddress)
	s.mark(prefixIncident + inc.ID)
	nf := *f
	nf.Category, nf.Severity, nf.Session = CategorySessionIPMismatch, match.SeverityHigh, iss.Session
	text := fmt.Sprintf("the session was opened from %s and used from %s (%s in account %s; the session is incident %s): %s",
		iss.Session.CallerSourceIP, f.SourceIPAddress, f.EventName, f.AccountID, inc.ID, issuerText(iss))
	n := s.openNotice(r, p, "session-ip|"+inc.SessionKey+"|"+f.SourceIPAddress, &nf, text, now)
	if n != nil {
		for i := range inc.Recent {
			if inc.Recent[i].Finding.EventID == f.EventID && inc.Recent[i].Note == "" {
				inc.Recent[i].Note = fmt.Sprintf("this action came from %s, not from %s where the session was opened (notice %s)",
					f.SourceIPAddress, iss.Session.CallerSourceIP, n.ID)
			}
		}
	}
	return n
}

// openNotice opens a one-finding incident of a notice category (never
// grouped), routed and silenced like a finding of that category; nil when
// silenced or routed nowhere.
func (s *partState) openNotice(r *rules, p *params, key string, f *match.Finding, note string, now time.Time) *incident {
	if _, ok := r.silenced(f, now); ok {
		return nil
	}
	chans := r.route(f, nil)
	if len(chans) == 0 {
		return nil
	}
	inc := newIncident(key, f, now)
	inc.Notice = true
	inc.add(f, now, p.maxFindings)
	inc.Recent[len(inc.Recent)-1].Note = note
	for _, c := range chans {
		inc.Out[c] = &delivery{}
	}
	s.incidents[inc.ID] = inc
	s.mark(prefixIncident + inc.ID)
	return inc
}

// sessionNotes are said first in every notification of a session
// incident: who opened the session, or that it is not known yet.
func (inc *incident) sessionNotes() []string {
	switch {
	case inc.SessionKey == "":
		return nil
	case inc.Issuer != nil:
		return []string{"session " + issuerText(inc.Issuer)}
	}
	return []string{fmt.Sprintf("who opened this centralised root session is not known yet: the sts:AssumeRoot call that issued access key %s "+
		"(in the management or delegated administrator account) has not reached alert; this incident is updated when it does", inc.SessionKey)}
}

// issuerText says who opened a session, from where, for what:
// "opened by arn:… from 192.0.2.1 for S3UnlockBucketPolicy (account 222222222222, sts:AssumeRoot at …)".
func issuerText(f *match.Finding) string { return sessionText(f, "opened by") }

// sessionText is issuerText with another verb (a failed call opened nothing).
func sessionText(f *match.Finding, verb string) string {
	s := f.Session
	if s == nil {
		return verb + " " + orUnknown(f.PrincipalARN) + " from " + orUnknown(f.SourceIPAddress)
	}
	text := fmt.Sprintf("%s %s from %s for %s (account %s, sts:AssumeRoot at %s in account %s", verb,
		orUnknown(s.CallerARN), orUnknown(s.CallerSourceIP), orUnknown(s.TaskPolicy()), orUnknown(s.TargetAccountID),
		s.IssuedAt.UTC().Format(time.RFC3339), orUnknown(s.CallerAccountID))
	if !s.Expiration.IsZero() {
		text += ", expires " + s.Expiration.UTC().Format(time.RFC3339)
	}
	return text + ")"
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func expectedList(e []string) string {
	if len(e) == 0 {
		return "none"
	}
	names := make([]string, len(e))
	for i, x := range e {
		names[i] = match.TaskPolicyName(x)
	}
	return strings.Join(names, ", ")
}

// sessionRecord encodes the s/<key> value of an issued session.
func sessionRecord(is issuedSession) ([]byte, error) {
	b, err := json.Marshal(is)
	if err != nil {
		return nil, fmt.Errorf("encode session %s: %w", is.Finding.EventID, err)
	}
	return b, nil
}

// decodeSession reads an s/<key> value back.
func decodeSession(key string, v []byte) (issuedSession, error) {
	var is issuedSession
	if err := json.Unmarshal(v, &is); err != nil {
		return is, fmt.Errorf("state record %q: %w", key, err)
	}
	if is.Finding == nil || is.Finding.Session == nil || is.Finding.Session.AccessKeyID != key[len(prefixSession):] {
		return is, errors.New("state record " + strconv.Quote(key) + ": not the session of its key")
	}
	return is, nil
}

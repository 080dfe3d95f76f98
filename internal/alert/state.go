package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// Record is one entry of the compacted state topic: the latest value of a
// key wins, a nil Value deletes it (a tombstone).
type Record struct {
	Key   string
	Value []byte
}

// Record key prefixes. One key per dedup entry, per incident (with its
// per-channel delivery log inside, so an incident and what was sent about it
// change atomically), per account's last root use, and per centralised-root
// session issued by an AssumeRoot finding of the partition (sessions.go).
const (
	prefixDedup    = "d/"
	prefixIncident = "i/"
	prefixRootUse  = "r/"
	prefixSession  = "s/"
)

// RootUse is the last root activity seen for an account (issue 6, the
// stream half of "was root used in the last N days").
type RootUse struct {
	AccountID string    `json:"accountId"`
	Time      time.Time `json:"time"`
	EventID   string    `json:"eventID"`
	EventName string    `json:"eventName"`
	SourceIP  string    `json:"sourceIPAddress"`
	// Console is true for console sign-ins and console sessions, false for API use.
	Console bool `json:"console"`
	MFA     bool `json:"mfaUsed"`
}

// incident is an open group of findings plus, per channel, what was
// delivered about it (the delivery log).
type incident struct {
	channel.Incident
	// UpdatedAt is the wall-clock time of the last finding; the incident
	// expires a grouping window after it.
	UpdatedAt time.Time `json:"updatedAt"`
	// Recent holds the latest findings (raw record dropped), numbered by
	// their position in the incident, so a channel gets those it has not seen.
	Recent []seqFinding `json:"recent"`
	// Out is the delivery log per channel name.
	Out map[string]*delivery `json:"out"`
	// SessionKey is the access key of the centralised-root session whose
	// actions the incident groups (one incident per session); Issuer the
	// AssumeRoot finding that opened it, once known; NoticedIPs the
	// addresses a session-ip-mismatch notice was opened for (sessions.go).
	SessionKey string         `json:"sessionKey,omitempty"`
	Issuer     *match.Finding `json:"issuer,omitempty"`
	NoticedIPs []string       `json:"noticedIPs,omitempty"`
	// Notice marks a one-notification incident that is never grouped (a
	// compliance or session notice).
	Notice bool `json:"notice,omitempty"`
}

// isNotice reports whether inc is a notice (state written before the
// Notice field marks compliance notices by their category only).
func (inc *incident) isNotice() bool { return inc.Notice || inc.Category == CategoryCompliance }

// IsNoticeCategory reports whether incidents of category c are notices:
// one-notification incidents (openNotice) about events that also have an
// incident of their own — a compliance notice, a session used from another
// address. Whoever checks deliveries per event (the chaos judge) sets
// them aside.
func IsNoticeCategory(c match.Category) bool {
	return c == CategoryCompliance || c == CategorySessionIPMismatch
}

type seqFinding struct {
	Seq     int           `json:"seq"`
	Finding match.Finding `json:"finding"`
	// Note is said with the finding to every channel (channel.Notification.Notes):
	// that it is also a compliance notice, or what became of it.
	Note string `json:"note,omitempty"`
}

// delivery is the log of one (incident, channel): written only after a
// successful send (or after giving up), so a crash in between re-sends.
type delivery struct {
	// Sent is the incident Count covered by the last successful send.
	Sent int `json:"sent"`
	// N is how many notifications this channel got; N+1 numbers the next
	// one in its idempotency key.
	N        int               `json:"n"`
	LastSent time.Time         `json:"lastSent,omitzero"`
	State    map[string]string `json:"state,omitempty"`
	// Parked is the incident Count at which delivery was given up (sent to
	// the DLQ); only newer findings try again.
	Parked int `json:"parked,omitempty"`

	inflight bool
	retryAt  time.Time
	offsets  []int64 // findings waiting for this delivery before their offset may be committed
}

// partState is what alert remembers about one partition of the findings
// topic. Only the goroutine that owns the partition touches it.
type partState struct {
	partition int
	dedup     map[string]int64 // eventID -> expiry (unix seconds)
	incidents map[string]*incident
	current   map[string]string // group key -> id of its newest incident
	rootUse   map[string]*RootUse
	issued    map[string]issuedSession // access key id -> the session an AssumeRoot finding of this partition opened
	dirty     map[string]struct{}
	// sessions looks up a session issued in any partition (the fleet
	// view); nil knows none but this partition's.
	sessions func(accessKeyID string) *match.Finding
	// arrivals: which path brought an event first, when, and into which
	// incident, kept in its dedup entry (paths.go).
	arrivals map[string]*arrival
}

func newPartState(p int) *partState {
	return &partState{
		partition: p,
		dedup:     map[string]int64{},
		incidents: map[string]*incident{},
		current:   map[string]string{},
		rootUse:   map[string]*RootUse{},
		issued:    map[string]issuedSession{},
		dirty:     map[string]struct{}{},
		arrivals:  map[string]*arrival{},
	}
}

func (s *partState) mark(key string) { s.dirty[key] = struct{}{} }

// records returns the changed keys with their current values (nil when
// deleted) and clears the dirty set.
func (s *partState) records() ([]Record, error) {
	if len(s.dirty) == 0 {
		return nil, nil
	}
	out := make([]Record, 0, len(s.dirty))
	for k := range s.dirty {
		r := Record{Key: k}
		switch {
		case strings.HasPrefix(k, prefixDedup):
			id := k[len(prefixDedup):]
			if exp, ok := s.dedup[id]; ok {
				r.Value = dedupValue(exp, s.arrivals[id])
			}
		case strings.HasPrefix(k, prefixIncident):
			if inc, ok := s.incidents[k[len(prefixIncident):]]; ok {
				b, err := json.Marshal(inc)
				if err != nil {
					return nil, fmt.Errorf("encode incident %s: %w", inc.ID, err)
				}
				r.Value = b
			}
		case strings.HasPrefix(k, prefixRootUse):
			if ru, ok := s.rootUse[k[len(prefixRootUse):]]; ok {
				b, _ := json.Marshal(ru)
				r.Value = b
			}
		case strings.HasPrefix(k, prefixSession):
			if is, ok := s.issued[k[len(prefixSession):]]; ok {
				b, err := sessionRecord(is)
				if err != nil {
					return nil, err
				}
				r.Value = b
			}
		}
		out = append(out, r)
	}
	clear(s.dirty)
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// apply restores one record read back from the state topic.
func (s *partState) apply(r Record, now time.Time) error {
	switch {
	case strings.HasPrefix(r.Key, prefixDedup):
		id := r.Key[len(prefixDedup):]
		delete(s.arrivals, id)
		if r.Value == nil {
			delete(s.dedup, id)
			return nil
		}
		exp, a, err := parseDedupValue(r.Value)
		if exp > now.Unix() {
			s.dedup[id] = exp
			if a != nil {
				s.arrivals[id] = a
			}
		} else {
			delete(s.dedup, id)
		}
		if err != nil {
			return fmt.Errorf("state record %q: %w", r.Key, err)
		}
	case strings.HasPrefix(r.Key, prefixIncident):
		id := r.Key[len(prefixIncident):]
		if r.Value == nil {
			delete(s.incidents, id)
			return nil
		}
		inc := &incident{}
		if err := json.Unmarshal(r.Value, inc); err != nil {
			return fmt.Errorf("state record %q: %w", r.Key, err)
		}
		if inc.Out == nil {
			inc.Out = map[string]*delivery{}
		}
		s.incidents[id] = inc
	case strings.HasPrefix(r.Key, prefixRootUse):
		acct := r.Key[len(prefixRootUse):]
		if r.Value == nil {
			delete(s.rootUse, acct)
			return nil
		}
		ru := &RootUse{}
		if err := json.Unmarshal(r.Value, ru); err != nil {
			return fmt.Errorf("state record %q: %w", r.Key, err)
		}
		s.rootUse[acct] = ru
	case strings.HasPrefix(r.Key, prefixSession):
		key := r.Key[len(prefixSession):]
		if r.Value == nil {
			delete(s.issued, key)
			return nil
		}
		is, err := decodeSession(r.Key, r.Value)
		if err != nil {
			return err
		}
		if is.Expires > now.Unix() {
			s.issued[key] = is
		} else {
			delete(s.issued, key)
		}
	default:
		return fmt.Errorf("state record %q: unknown key", r.Key)
	}
	return nil
}

// finishRestore rebuilds the derived group-key index after apply.
func (s *partState) finishRestore() {
	clear(s.current)
	for id, inc := range s.incidents {
		if inc.isNotice() {
			continue // never grouped
		}
		if cur, ok := s.incidents[s.current[inc.GroupKey]]; !ok || inc.OpenedAt.After(cur.OpenedAt) ||
			(inc.OpenedAt.Equal(cur.OpenedAt) && inc.UpdatedAt.After(cur.UpdatedAt)) {
			s.current[inc.GroupKey] = id
		}
	}
}

// Outcome is what happened to one finding.
type Outcome int

// The outcomes of ingest.
const (
	OutcomeDuplicate Outcome = iota
	OutcomeSilenced
	OutcomeAllowlisted
	OutcomeUnrouted
	OutcomeOpened
	OutcomeUpdated
	// OutcomeSession is a usual sts:AssumeRoot call: recorded in the session
	// table for the join, nothing to send.
	OutcomeSession
)

var outcomeNames = [...]string{"duplicate", "silenced", "allowlisted", "unrouted", "opened", "updated", "session"}

func (o Outcome) String() string { return outcomeNames[o] }

type ingestResult struct {
	outcome    Outcome
	reason     string      // silence or allowlist reason
	inc        *incident   // opened or updated
	compliance *incident   // opened when root use crossed the unused threshold
	notices    []*incident // session notices opened (sessions.go)
	// joinedAtOpen and joinedLate count session incidents joined with who
	// opened the session: when it opened, or later (an update).
	joinedAtOpen, joinedLate int
}

// ingest applies one finding to the state: dedup, last root use, allowlist,
// silences, routing, grouping. It does not send anything; the worker reads
// the deliveries that became due.
func (s *partState) ingest(r *rules, p *params, f *match.Finding, now time.Time, chans []string) ingestResult {
	if exp, ok := s.dedup[f.EventID]; ok && exp > now.Unix() {
		return ingestResult{outcome: OutcomeDuplicate}
	}
	s.dedup[f.EventID] = now.Add(p.dedupTTL).Unix()
	s.mark(prefixDedup + f.EventID)

	var res ingestResult
	var note string // said with the finding (sessions.go)
	if f.Rule == match.RuleRootSessionIssued {
		var alert *match.Finding
		if alert, note = s.noteIssued(r, p, f, now, &res); alert == nil {
			res.outcome = OutcomeSession
			return res
		}
		f = alert
	}
	key := r.groupKey(f)
	if sess := sessionOf(f); sess != "" {
		key = "session|" + sess // one incident per session, whatever the grouping
		if iss := s.issuer(sess); iss != nil {
			f.Session = iss.Session // routes and silences can match who opened it
		}
	}
	var prev *RootUse
	if crossed, last := s.noteRootUse(f, p.unusedAfter); crossed {
		res.compliance, prev = s.openCompliance(r, p, f, now), last
	}
	defer func() {
		if res.compliance != nil {
			s.noteCompliance(&res, f, prev, p.unusedAfter)
		}
	}()
	if reason, ok := r.allowed(f); ok {
		res.outcome, res.reason = OutcomeAllowlisted, reason
		return res
	}
	if reason, ok := r.silenced(f, now); ok {
		res.outcome, res.reason = OutcomeSilenced, reason
		return res
	}
	chans = r.route(f, chans[:0])
	if len(chans) == 0 {
		res.outcome = OutcomeUnrouted
		return res
	}
	inc := s.incidents[s.current[key]]
	if inc != nil && inc.accepts(f, p.window, now) {
		res.outcome = OutcomeUpdated
	} else {
		inc = newIncident(key, f, now)
		inc.SessionKey = sessionOf(f)
		s.incidents[inc.ID] = inc
		s.current[key] = inc.ID
		res.outcome = OutcomeOpened
	}
	inc.add(f, now, p.maxFindings)
	if note != "" {
		inc.Recent[len(inc.Recent)-1].Note = note
	}
	if inc.SessionKey != "" {
		s.joinSession(r, p, inc, f, now, &res)
	}
	for _, c := range chans {
		if inc.Out[c] == nil {
			inc.Out[c] = &delivery{}
		}
	}
	s.mark(prefixIncident + inc.ID)
	res.inc = inc
	return res
}

// noteRootUse records f as the account's last root use when it is newer, and
// reports whether the account crossed from "not used in the threshold" (or
// never seen) to "used", with the use before (nil when never seen). Only
// root activity counts (rule cis-root): context findings never do.
func (s *partState) noteRootUse(f *match.Finding, unusedAfter time.Duration) (bool, *RootUse) {
	if f.Rule != match.RuleCISRoot && f.Rule != "" {
		return false, nil
	}
	prev := s.rootUse[f.AccountID]
	if prev != nil && !f.EventTime.After(prev.Time) {
		return false, nil
	}
	s.rootUse[f.AccountID] = &RootUse{
		AccountID: f.AccountID,
		Time:      f.EventTime,
		EventID:   f.EventID,
		EventName: f.EventName,
		SourceIP:  f.SourceIPAddress,
		Console:   isConsole(f),
		MFA:       f.MFAUsed,
	}
	s.mark(prefixRootUse + f.AccountID)
	return prev == nil || f.EventTime.Sub(prev.Time) >= unusedAfter, prev
}

// noteCompliance makes a finding that is also a compliance notice say so
// wherever it is shown: the incident the finding joined notes the notice
// (so the console line of the root event says it, not only a log line),
// and the notice notes what became of the event itself.
func (s *partState) noteCompliance(res *ingestResult, f *match.Finding, prev *RootUse, unusedAfter time.Duration) {
	days := int(unusedAfter / (24 * time.Hour))
	since := "the first root use seen in this account"
	if prev != nil {
		since = fmt.Sprintf("the first root use in this account since %s (%d days before; the threshold is %d)",
			prev.Time.UTC().Format("2006-01-02"), int(f.EventTime.Sub(prev.Time)/(24*time.Hour)), days)
	}
	var where string
	switch res.outcome {
	case OutcomeOpened, OutcomeUpdated:
		where = "the event is in incident " + res.inc.ID
		if n := len(res.inc.Recent); n > 0 && res.inc.Recent[n-1].Finding.EventID == f.EventID {
			res.inc.Recent[n-1].Note = fmt.Sprintf("this event is also a compliance notice (incident %s): %s", res.compliance.ID, since)
		}
	case OutcomeAllowlisted:
		where = "the event itself was allowlisted (" + res.reason + ")"
	case OutcomeSilenced:
		where = "the event itself was silenced (" + res.reason + ")"
	default:
		where = "the event itself matched no route"
	}
	if n := len(res.compliance.Recent); n > 0 {
		res.compliance.Recent[n-1].Note = "compliance notice: " + since + "; " + where
	}
}

func isConsole(f *match.Finding) bool {
	return f.EventSource == "signin.amazonaws.com" || f.Category == match.CategoryConsoleLogin ||
		f.Category == match.CategoryConsoleLoginFailed || f.SourceIPAddress == "console.amazonaws.com" ||
		strings.Contains(f.UserAgent, "console.amazonaws.com")
}

// openCompliance opens a one-notification incident of category compliance,
// routed and silenced like a finding of that category.
func (s *partState) openCompliance(r *rules, p *params, f *match.Finding, now time.Time) *incident {
	cf := *f
	cf.Category = CategoryCompliance
	cf.Severity = match.SeverityMedium
	return s.openNotice(r, p, "compliance|"+f.AccountID+"|"+f.EventID, &cf, "", now)
}

func newIncident(key string, f *match.Finding, now time.Time) *incident {
	h := sha256.Sum256([]byte(key + "\x00" + f.EventID))
	return &incident{
		Incident: channel.Incident{
			ID:        "inc-" + hex.EncodeToString(h[:10]),
			GroupKey:  key,
			AccountID: f.AccountID,
			Category:  f.Category,
			Severity:  f.Severity,
			OpenedAt:  f.EventTime,
			LastSeen:  f.EventTime,
		},
		UpdatedAt: now,
		Out:       map[string]*delivery{},
	}
}

// accepts reports whether f falls in the incident's grouping window (event
// time) and the incident has not expired (wall clock).
func (inc *incident) accepts(f *match.Finding, window time.Duration, now time.Time) bool {
	if inc.isNotice() || now.Sub(inc.UpdatedAt) > window {
		return false
	}
	return !f.EventTime.After(inc.LastSeen.Add(window)) && !f.EventTime.Before(inc.OpenedAt.Add(-window))
}

const maxListed = 50

func (inc *incident) add(f *match.Finding, now time.Time, maxFindings int) {
	inc.Count++
	if f.Rule == match.RuleRootSessionIssued {
		inc.NotRoot++
	}
	if f.EventTime.After(inc.LastSeen) {
		inc.LastSeen = f.EventTime
	}
	if match.SeverityRank(f.Severity) > match.SeverityRank(inc.Severity) {
		inc.Severity = f.Severity
	}
	if len(inc.EventNames) < maxListed && !slices.Contains(inc.EventNames, f.EventName) {
		inc.EventNames = append(inc.EventNames, f.EventName)
	}
	if len(inc.SourceIPs) < maxListed && !slices.Contains(inc.SourceIPs, f.SourceIPAddress) {
		inc.SourceIPs = append(inc.SourceIPs, f.SourceIPAddress)
	}
	sf := seqFinding{Seq: inc.Count, Finding: *f}
	sf.Finding.Record = nil // the raw record stays in the findings topic; state stays small
	if len(inc.Recent) >= maxFindings {
		// Drop the oldest but keep the first finding: it is what opened the incident.
		from := 0
		if inc.Recent[0].Seq == 1 && maxFindings > 1 {
			from = 1
		}
		inc.Recent = slices.Delete(inc.Recent, from, from+len(inc.Recent)-maxFindings+1)
	}
	inc.Recent = append(inc.Recent, sf)
	inc.UpdatedAt = now
}

// pending reports whether some channel still owes a notification.
func (inc *incident) pending() bool {
	for _, d := range inc.Out {
		if d.inflight || (d.Sent < inc.Count && d.Parked < inc.Count) {
			return true
		}
	}
	return false
}

// due says which notification (if any) channel d of inc owes at now, and
// when it will be due otherwise (zero: nothing scheduled).
func (inc *incident) due(d *delivery, now time.Time, groupInterval, repeatInterval, window time.Duration) (channel.Kind, bool, time.Time) {
	if d.inflight {
		return "", false, time.Time{}
	}
	var kind channel.Kind
	var at time.Time
	switch {
	case d.Sent < inc.Count && d.Parked < inc.Count && d.N == 0:
		kind, at = channel.KindOpen, now
	case d.Sent < inc.Count && d.Parked < inc.Count:
		kind, at = channel.KindUpdate, d.LastSent.Add(groupInterval)
	case repeatInterval > 0 && !inc.isNotice() && d.N > 0 && now.Sub(inc.UpdatedAt) <= window:
		kind, at = channel.KindRepeat, d.LastSent.Add(repeatInterval)
	default:
		return "", false, time.Time{}
	}
	if d.retryAt.After(at) {
		at = d.retryAt
	}
	if at.After(now) {
		return "", false, at
	}
	return kind, true, time.Time{}
}

// notification builds what channel name is owed about inc.
func (inc *incident) notification(name string, d *delivery, kind channel.Kind) *channel.Notification {
	n := &channel.Notification{
		Kind:           kind,
		Incident:       inc.Incident,
		State:          maps.Clone(d.State),
		IdempotencyKey: fmt.Sprintf("%s/%s/%d", inc.ID, name, d.N+1),
		New:            inc.Count - d.Sent,
	}
	n.Incident.EventNames = slices.Clone(inc.EventNames)
	n.Incident.SourceIPs = slices.Clone(inc.SourceIPs)
	n.Notes = inc.sessionNotes()
	for _, sf := range inc.Recent {
		if sf.Seq > d.Sent {
			n.Findings = append(n.Findings, sf.Finding)
			if sf.Note != "" {
				n.Notes = append(n.Notes, sf.Note)
			}
		}
	}
	if n.State == nil {
		n.State = map[string]string{}
	}
	return n
}

// expire drops dedup entries and issued sessions past their TTL, and
// incidents a window past their last finding with nothing left to deliver.
func (s *partState) expire(now time.Time, window time.Duration) (dedup, incidents int) {
	nowU := now.Unix()
	for key, is := range s.issued {
		if is.Expires <= nowU {
			delete(s.issued, key)
			s.mark(prefixSession + key)
		}
	}
	for id, exp := range s.dedup {
		if exp <= nowU {
			delete(s.dedup, id)
			delete(s.arrivals, id)
			s.mark(prefixDedup + id)
			dedup++
		}
	}
	for id, inc := range s.incidents {
		if now.Sub(inc.UpdatedAt) > window && !inc.pending() {
			delete(s.incidents, id)
			if s.current[inc.GroupKey] == id {
				delete(s.current, inc.GroupKey)
			}
			s.mark(prefixIncident + id)
			incidents++
		}
	}
	return dedup, incidents
}

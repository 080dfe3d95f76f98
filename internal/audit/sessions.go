package audit

import (
	"slices"
	"sort"
	"time"

	"rootwatch/internal/match"
)

// RootSession is one centralised-root session of an account (sts:AssumeRoot
// from the management account or the delegated administrator for IAM),
// as the logs read tell it: who opened it (the AssumeRoot event, in the
// caller's account) joined with what it did (the member account's root
// records carrying the access key the call issued).
type RootSession struct {
	// AccessKeyID is the session's key; empty for a failed call.
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// Status is issued (the AssumeRoot call was read), failed (the call
	// failed: no session), or unattributed (actions were read but not the
	// AssumeRoot event: the caller's account's logs were not among those read).
	Status string `json:"status"`
	// Issuer is the AssumeRoot caller (userIdentity.arn), IssuerAccountID
	// its account, SourceIP where it called from.
	Issuer          string `json:"issuer,omitempty"`
	IssuerAccountID string `json:"issuerAccountId,omitempty"`
	SourceIP        string `json:"sourceIPAddress,omitempty"`
	// TaskPolicy is the task policy's name (S3UnlockBucketPolicy).
	TaskPolicy string     `json:"taskPolicy,omitempty"`
	IssuedAt   *time.Time `json:"issuedAt,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	// IssueEventID is the AssumeRoot event's eventID; ErrorCode says why a failed call failed.
	IssueEventID string `json:"issueEventID,omitempty"`
	ErrorCode    string `json:"errorCode,omitempty"`
	// Actions counts the session's root records in the member account;
	// FirstAction, LastAction and EventNames describe them.
	Actions     int        `json:"actions"`
	FirstAction *time.Time `json:"firstAction,omitempty"`
	LastAction  *time.Time `json:"lastAction,omitempty"`
	EventNames  []string   `json:"eventNames,omitempty"`

	account string
}

// Session statuses.
const (
	SessionIssued       = "issued"
	SessionFailed       = "failed"
	SessionUnattributed = "unattributed"
)

// maxSessionEventNames bounds EventNames.
const maxSessionEventNames = 20

// at is when the session happened: its issue, else its first action.
func (s *RootSession) at() time.Time {
	if s.IssuedAt != nil {
		return *s.IssuedAt
	}
	if s.FirstAction != nil {
		return *s.FirstAction
	}
	return time.Time{}
}

// sessionOf returns the session a finding belongs to (created on first
// sight), or nil when it belongs to none. t.mu is held.
func (t *Tracker) sessionOf(f *match.Finding) *RootSession {
	switch {
	case f.Rule == match.RuleRootSessionIssued && f.Session != nil:
		key := f.Session.AccessKeyID
		if key == "" {
			key = "failed/" + f.EventID // a failed call issued no key
		}
		s := t.sessions[key]
		if s == nil {
			s = &RootSession{AccessKeyID: f.Session.AccessKeyID}
			t.sessions[key] = s
		}
		iss := f.Session
		s.account, s.Issuer, s.IssuerAccountID, s.SourceIP = iss.TargetAccountID, iss.CallerARN, iss.CallerAccountID, iss.CallerSourceIP
		s.TaskPolicy, s.IssueEventID, s.ErrorCode = iss.TaskPolicy(), iss.IssueEventID, f.ErrorCode
		issued := iss.IssuedAt.UTC()
		s.IssuedAt = &issued
		if !iss.Expiration.IsZero() {
			exp := iss.Expiration.UTC()
			s.ExpiresAt = &exp
		}
		s.Status = SessionIssued
		if f.Category == match.CategorySessionFailed {
			s.Status = SessionFailed
		}
		return s
	case f.AssumedRoot && f.AccessKeyID != "" && (f.Rule == match.RuleCISRoot || f.Rule == ""):
		s := t.sessions[f.AccessKeyID]
		if s == nil {
			s = &RootSession{AccessKeyID: f.AccessKeyID, Status: SessionUnattributed, account: f.AccountID}
			t.sessions[f.AccessKeyID] = s
		}
		if s.account == "" {
			s.account = f.AccountID
		}
		at := f.EventTime.UTC()
		s.Actions++
		if s.FirstAction == nil || at.Before(*s.FirstAction) {
			s.FirstAction = &at
		}
		if s.LastAction == nil || at.After(*s.LastAction) {
			last := at
			s.LastAction = &last
		}
		if len(s.EventNames) < maxSessionEventNames && !slices.Contains(s.EventNames, f.EventName) {
			s.EventNames = append(s.EventNames, f.EventName)
		}
		return s
	}
	return nil
}

// sessionsIn returns each account's sessions that happened at or after
// from, oldest first. t.mu is held.
func (t *Tracker) sessionsIn(from time.Time) map[string][]RootSession {
	out := map[string][]RootSession{}
	for _, s := range t.sessions {
		if s.at().Before(from) && (s.LastAction == nil || s.LastAction.Before(from)) {
			continue
		}
		c := *s
		c.EventNames = slices.Clone(s.EventNames)
		out[s.account] = append(out[s.account], c)
	}
	for _, ss := range out {
		sort.Slice(ss, func(i, j int) bool {
			if a, b := ss[i].at(), ss[j].at(); !a.Equal(b) {
				return a.Before(b)
			}
			return ss[i].AccessKeyID+ss[i].IssueEventID < ss[j].AccessKeyID+ss[j].IssueEventID
		})
	}
	return out
}

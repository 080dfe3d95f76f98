package audit

import (
	"fmt"
	"time"
)

// Status is the outcome of one check, or of an account as a whole.
type Status string

// The statuses. An account's status is StatusError when it could not be
// audited, else StatusFail when any check failed, else StatusPass.
const (
	StatusPass Status = "pass"
	StatusFail Status = "fail"
	// StatusUnknown is a check the source cannot answer (CloudTrail logs
	// say nothing about MFA or active keys).
	StatusUnknown Status = "unknown"
	StatusError   Status = "error"
)

// The checks, by name (the JSON and CSV column names).
const (
	CheckRootUsed    = "root_used"
	CheckAccessKeys  = "root_access_keys"
	CheckSigningCert = "root_signing_certs"
	CheckMFA         = "root_mfa"
)

// CheckNames lists the checks in output order.
var CheckNames = []string{CheckRootUsed, CheckAccessKeys, CheckSigningCert, CheckMFA}

// Check is one question asked of an account's root user.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Use is the most recent use of a root credential.
type Use struct {
	// Credential is password or access_key_1/2 (credential report), or
	// console-login, api or assumed-root (CloudTrail).
	Credential string    `json:"credential"`
	Time       time.Time `json:"time"`
	// EventName and EventID name the CloudTrail record (logs only).
	EventName string `json:"eventName,omitempty"`
	EventID   string `json:"eventID,omitempty"`
}

// Result is the audit of one account.
type Result struct {
	AccountID   string `json:"accountId"`
	AccountName string `json:"accountName,omitempty"`
	// Source is credential-report or cloudtrail.
	Source string `json:"source"`
	Status Status `json:"status"`
	// LastUsed is the most recent root use on record, at any age; nil when
	// the root user was never used (as far as the source knows).
	LastUsed *Use `json:"lastUsed,omitempty"`
	// DaysSince is whole days from LastUsed to the audit time.
	DaysSince *int    `json:"daysSince,omitempty"`
	Checks    []Check `json:"checks"`
	// Error says why the account could not be audited (Status error).
	Error string `json:"error,omitempty"`
	// Days is the window the root_used check looked at.
	Days int `json:"days"`
	// AuditedAt is the "now" the window was measured from.
	AuditedAt time.Time `json:"auditedAt"`
	// Sessions are the account's centralised-root sessions in the window,
	// with who opened them (CloudTrail logs only).
	Sessions []RootSession `json:"sessions,omitempty"`
}

// Check returns the named check's status (StatusUnknown if absent).
func (r *Result) Check(name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{Name: name, Status: StatusUnknown}
}

// ErrorResult is the result for an account that could not be audited.
func ErrorResult(account, name, source string, days int, now time.Time, err error) Result {
	return Result{AccountID: account, AccountName: name, Source: source, Status: StatusError,
		Error: err.Error(), Days: days, AuditedAt: now.UTC()}
}

// Window is the judgement's time rule: a use at time t is "in the last
// days days" when t >= now - days*24h. The boundary itself is inside the
// window, so a use exactly N days old fails a N-day audit; a use in the
// future (clock skew) is inside too.
func Window(now time.Time, days int) (cutoff time.Time) {
	return now.Add(-time.Duration(days) * 24 * time.Hour)
}

// InWindow reports whether t falls in the window (see Window).
func InWindow(t, now time.Time, days int) bool {
	return !t.Before(Window(now, days))
}

// DaysBetween is the whole days from t to now, rounded down (0 for the future).
func DaysBetween(t, now time.Time) int {
	d := now.Sub(t)
	if d < 0 {
		return 0
	}
	return int(d / (24 * time.Hour))
}

// Judge audits a credential report's root row as of now.
func Judge(rc RootCredentials, now time.Time, days int) Result {
	res := Result{AccountID: rc.AccountID, Source: "credential-report", Days: days, AuditedAt: now.UTC()}
	cands := []struct {
		cred string
		lu   LastUse
	}{{"password", rc.PasswordLastUsed}, {"access_key_1", rc.AccessKeyLastUse[0]}, {"access_key_2", rc.AccessKeyLastUse[1]}}
	for _, c := range cands {
		if !c.lu.Known {
			continue
		}
		if res.LastUsed == nil || c.lu.Time.After(res.LastUsed.Time) {
			res.LastUsed = &Use{Credential: c.cred, Time: c.lu.Time}
		}
	}
	res.Checks = append(res.Checks, usedCheck(res.LastUsed, now, days))

	keys := Check{Name: CheckAccessKeys, Status: StatusPass, Detail: "no active root access keys"}
	switch {
	case rc.AccessKeyActive[0] && rc.AccessKeyActive[1]:
		keys = Check{Name: CheckAccessKeys, Status: StatusFail, Detail: "access keys 1 and 2 are active"}
	case rc.AccessKeyActive[0]:
		keys = Check{Name: CheckAccessKeys, Status: StatusFail, Detail: "access key 1 is active"}
	case rc.AccessKeyActive[1]:
		keys = Check{Name: CheckAccessKeys, Status: StatusFail, Detail: "access key 2 is active"}
	}
	res.Checks = append(res.Checks, keys)

	certs := Check{Name: CheckSigningCert, Status: StatusPass, Detail: "no active root signing certificates"}
	switch {
	case rc.CertActive[0] && rc.CertActive[1]:
		certs = Check{Name: CheckSigningCert, Status: StatusFail, Detail: "signing certificates 1 and 2 are active"}
	case rc.CertActive[0]:
		certs = Check{Name: CheckSigningCert, Status: StatusFail, Detail: "signing certificate 1 is active"}
	case rc.CertActive[1]:
		certs = Check{Name: CheckSigningCert, Status: StatusFail, Detail: "signing certificate 2 is active"}
	}
	res.Checks = append(res.Checks, certs)

	mfa := Check{Name: CheckMFA, Status: StatusPass, Detail: "MFA is active"}
	if !rc.MFAActive {
		if rc.PasswordEnabled == "false" && !rc.AccessKeyActive[0] && !rc.AccessKeyActive[1] {
			// Centralised root access removed the root credentials:
			// there is nothing to protect with MFA.
			mfa = Check{Name: CheckMFA, Status: StatusPass, Detail: "no MFA, but the root user has no password"}
		} else {
			mfa = Check{Name: CheckMFA, Status: StatusFail, Detail: "root user has no MFA device"}
		}
	}
	res.Checks = append(res.Checks, mfa)
	res.finish(now)
	return res
}

func usedCheck(last *Use, now time.Time, days int) Check {
	c := Check{Name: CheckRootUsed, Status: StatusPass}
	switch {
	case last == nil:
		c.Detail = "no root use on record"
	case InWindow(last.Time, now, days):
		c.Status = StatusFail
		c.Detail = fmt.Sprintf("root %s used %s, within the last %d days", last.Credential, last.Time.UTC().Format(time.RFC3339), days)
	default:
		c.Detail = fmt.Sprintf("last root use %s, before the last %d days", last.Time.UTC().Format(time.RFC3339), days)
	}
	return c
}

// finish sets DaysSince and the overall status from the checks.
func (r *Result) finish(now time.Time) {
	if r.LastUsed != nil {
		d := DaysBetween(r.LastUsed.Time, now)
		r.DaysSince = &d
	}
	r.Status = StatusPass
	if r.Error != "" {
		r.Status = StatusError
		return
	}
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			r.Status = StatusFail
		}
	}
}

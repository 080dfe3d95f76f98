package match

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/fixtures"
)

// sessionWithEncodingJSON is the session rule written the slow, obvious
// way: the top-level eventSource and eventName of the decoded record.
func sessionWithEncodingJSON(t testing.TB, raw []byte) bool {
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("record is not JSON: %v", err)
	}
	return r["eventSource"] == "sts.amazonaws.com" && r["eventName"] == "AssumeRoot"
}

// Every fixture, root or not, is an AssumeRoot call exactly when its label
// says so, by the matcher and by encoding/json; a record that is both
// (root calling AssumeRoot) is root activity, never a session finding.
func TestSessionRule(t *testing.T) {
	now := time.Date(2024, 10, 25, 21, 0, 0, 0, time.UTC)
	all := append(append([]fixtures.Record(nil), fixtures.Records...), fixtures.SessionRecords...)
	for _, fx := range all {
		t.Run(fx.Name, func(t *testing.T) {
			raw := []byte(fx.JSON)
			isSession := sessionWithEncodingJSON(t, raw) && !ruleWithEncodingJSON(t, raw)
			if isSession != fx.Session {
				t.Fatalf("fixture label Session=%v disagrees with the rule applied by encoding/json (%v)", fx.Session, isSession)
			}
			if got := IsSessionIssue(raw) && !IsRoot(raw); got != fx.Session {
				t.Fatalf("IsSessionIssue = %v, want %v", got, fx.Session)
			}
			if got := Matches(raw); got != (fx.Root || fx.Session) {
				t.Fatalf("Matches = %v, want %v", got, fx.Root || fx.Session)
			}
			f, ok := Find(raw, ObjectRef{Bucket: "b", Key: "k"}, now)
			if ok != (fx.Root || fx.Session) {
				t.Fatalf("Find ok = %v", ok)
			}
			if !ok {
				return
			}
			wantRule := RuleCISRoot
			if fx.Session {
				wantRule = RuleRootSessionIssued
			}
			if f.Rule != wantRule {
				t.Fatalf("rule %s, want %s", f.Rule, wantRule)
			}
			if f.AccountID == "" {
				f.AccountID = "x" // a fixture without an account (pretty-printed)
			}
			if err := f.Validate(); err != nil {
				t.Fatalf("finding does not validate: %v", err)
			}
			if fx.Session {
				if f.Category != Category(fx.Category) || f.Severity != Severity(fx.Severity) {
					t.Errorf("classified %s/%s, want %s/%s", f.Category, f.Severity, fx.Category, fx.Severity)
				}
				if f.AssumedRoot {
					t.Errorf("an AssumeRoot call is not an action of a root session")
				}
				if f.Session == nil || f.Session.IssueEventID != f.EventID {
					t.Errorf("no session on a session finding: %+v", f.Session)
				}
			} else if f.Session != nil {
				t.Errorf("session on a root finding: %+v", f.Session)
			}
		})
	}
}

// The documented example gives every field of the session, and the
// member account's action of that session carries its key.
func TestSessionFields(t *testing.T) {
	s := fixtures.DefaultSession()
	f, ok := Find([]byte(fixtures.AssumeRootRecord(s)), ObjectRef{Key: "k"}, time.Now())
	if !ok {
		t.Fatal("AssumeRoot not matched")
	}
	want := Session{
		AccessKeyID: s.KeyID, CallerARN: s.Caller, CallerAccountID: fixtures.ManagementAccount, CallerSourceIP: s.CallerIP,
		CallerUserAgent: f.UserAgent, TargetAccountID: fixtures.MemberAccount,
		TaskPolicyARN: "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
		IssuedAt:      s.Issued, IssueEventID: s.IssueID, Expiration: s.Expiration(),
	}
	if *f.Session != want {
		t.Fatalf("session\n got %+v\nwant %+v", *f.Session, want)
	}
	if f.AccountID != fixtures.ManagementAccount || f.PrincipalARN != s.Caller || f.AccessKeyID != "ASIACALLEREXAMPLE001" || f.Region != s.Region {
		t.Errorf("finding fields: %+v", f)
	}
	if f.Session.TaskPolicy() != "S3UnlockBucketPolicy" {
		t.Errorf("task policy name %q", f.Session.TaskPolicy())
	}
	a, ok := Find([]byte(fixtures.SessionAction(s, "ev-act-1", "DeleteBucketPolicy", "192.0.2.1", "us-west-2", s.Issued.Add(time.Minute))), ObjectRef{}, time.Now())
	if !ok || a.Rule != RuleCISRoot || a.Category != CategoryAssumedRoot || a.Severity != SeverityHigh || !a.AssumedRoot {
		t.Fatalf("session action: ok %v %+v", ok, a)
	}
	if a.AccessKeyID != s.KeyID || a.AccountID != fixtures.MemberAccount || a.Session != nil {
		t.Errorf("session action: key %q account %q session %+v", a.AccessKeyID, a.AccountID, a.Session)
	}

	// A failed call names who tried, for which account and policy; it issued no key.
	failed := s
	failed.ErrorCode, failed.ErrorMessage = "AccessDenied", "not authorized"
	f, _ = Find([]byte(fixtures.AssumeRootRecord(failed)), ObjectRef{}, time.Now())
	if f.Category != CategorySessionFailed || f.Session.AccessKeyID != "" || f.Session.CallerARN != s.Caller || !f.Session.Expiration.IsZero() ||
		f.Session.TargetAccountID != fixtures.MemberAccount {
		t.Errorf("failed AssumeRoot: %+v %+v", f, f.Session)
	}

	// targetPrincipal may be a principal ARN; taskPolicyArn a plain string.
	raw := strings.Replace(fixtures.AssumeRootRecord(s), `"targetPrincipal":"222222222222"`, `"targetPrincipal":"arn:aws:iam::222222222222:root"`, 1)
	raw = strings.Replace(raw, `{"arn":"arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"}`, `"arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy"`, 1)
	f, _ = Find([]byte(raw), ObjectRef{}, time.Now())
	if f.Session.TargetAccountID != fixtures.MemberAccount || f.Session.TaskPolicy() != "SQSUnlockQueuePolicy" {
		t.Errorf("ARN target / string policy: %+v", f.Session)
	}
}

// Records that are neither root activity nor an AssumeRoot call cost no
// allocation, look-alikes of either included.
func TestNoAllocationOnNonMatchingPathWithSessions(t *testing.T) {
	for _, fx := range fixtures.Records {
		if fx.Root || fx.Session {
			continue
		}
		raw := []byte(fx.JSON)
		if n := testing.AllocsPerRun(100, func() { Matches(raw) }); n != 0 {
			t.Errorf("%s: %v allocations per non-matching record", fx.Name, n)
		}
	}
}

// A forged finding cannot pass session context off as root activity, or
// the other way round.
func TestValidateRuleAndCategoryAgree(t *testing.T) {
	f := Finding{EventID: "e", AccountID: "1", Severity: SeverityLow, Category: CategorySessionIssued, Rule: RuleCISRoot}
	if err := f.Validate(); err == nil {
		t.Error("a cis-root finding of category root-session-issued was accepted")
	}
	f.Rule = ""
	if err := f.Validate(); err == nil {
		t.Error("a finding without rule (cis-root) of category root-session-issued was accepted")
	}
	f.Rule, f.Category = RuleRootSessionIssued, CategoryAssumedRoot
	if err := f.Validate(); err == nil {
		t.Error("a root-session-issued finding of category assumed-root was accepted")
	}
	f.Category = CategorySessionFailed
	if err := f.Validate(); err != nil {
		t.Errorf("valid session finding: %v", err)
	}
}

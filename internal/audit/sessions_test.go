package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/audit"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/fixtures"
)

func writeLogs(t *testing.T, dir string, files map[string][]string) {
	t.Helper()
	if err := fixtures.WriteFiles(dir, fixtures.GzipLogs(files)); err != nil {
		t.Fatal(err)
	}
}

// The audit of logs lists each account's centralised-root sessions in the
// window with who opened them: two issuers in one account, a failed call,
// a session whose AssumeRoot event is not in the logs read, and one before
// the window; an AssumeRoot call is never a root use.
func TestAuditListsSessionsWithIssuers(t *testing.T) {
	dir := t.TempDir()
	at := now.Add(-2 * 24 * time.Hour).Truncate(time.Second)
	jane := fixtures.DefaultSession()
	jane.Issued = at
	bob := jane
	bob.Caller, bob.CallerIP, bob.KeyID, bob.IssueID, bob.TaskPolicy = "arn:aws:sts::111111111111:assumed-role/Admin/bob", "198.51.100.20", "ASIABOBEXAMPLE000001", "issue-bob", "IAMDeleteRootUserCredentials"
	bob.Issued = at.Add(time.Hour)
	failed := jane
	failed.IssueID, failed.ErrorCode, failed.ErrorMessage, failed.Issued = "issue-failed", "AccessDenied", "not authorized", at.Add(2*time.Hour)
	ghost := jane // its AssumeRoot is in an account whose logs are not read
	ghost.KeyID, ghost.Issued = "ASIAGHOSTEXAMPLE0001", at.Add(3*time.Hour)
	old := jane
	old.KeyID, old.IssueID, old.Issued = "ASIAOLDEXAMPLE000001", "issue-old", now.Add(-30*24*time.Hour)
	mgmt := fixtures.LogKey("o-exampleorg1", fixtures.ManagementAccount, "CloudTrail", "us-west-2", "2026/01/01", "20260101T0000Z", "m", ".json.gz")
	member := fixtures.LogKey("o-exampleorg1", fixtures.MemberAccount, "CloudTrail", "us-west-2", "2026/01/01", "20260101T0000Z", "a", ".json.gz")
	writeLogs(t, dir, map[string][]string{
		mgmt: {fixtures.AssumeRootRecord(jane), fixtures.AssumeRootRecord(bob), fixtures.AssumeRootRecord(failed), fixtures.AssumeRootRecord(old)},
		member: {
			fixtures.SessionAction(jane, "j1", "GetBucketPolicy", jane.CallerIP, "us-west-2", jane.Issued.Add(time.Minute)),
			fixtures.SessionAction(jane, "j2", "DeleteBucketPolicy", jane.CallerIP, "us-east-1", jane.Issued.Add(2*time.Minute)),
			fixtures.SessionAction(bob, "b1", "DeleteLoginProfile", bob.CallerIP, "us-east-1", bob.Issued.Add(time.Minute)),
			fixtures.SessionAction(ghost, "g1", "ListAccessKeys", "203.0.113.50", "us-east-1", ghost.Issued.Add(time.Minute)),
		},
	})
	tr := audit.NewTracker()
	if err := audit.ScanLocal(context.Background(), []string{dir}, tr, cloudtrail.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	rs := tr.Results(now, 7)
	if len(rs) != 2 || rs[0].AccountID != fixtures.ManagementAccount || rs[1].AccountID != fixtures.MemberAccount {
		t.Fatalf("results %+v", rs)
	}
	if m := rs[0]; m.Status != audit.StatusPass || m.LastUsed != nil || len(m.Sessions) != 0 {
		t.Errorf("the management account called AssumeRoot: that is not root use: %+v", m)
	}
	r := rs[1]
	if r.Status != audit.StatusFail || r.LastUsed == nil || r.LastUsed.Credential != "assumed-root" || r.LastUsed.EventID != "g1" {
		t.Errorf("member: %+v %+v", r, r.LastUsed)
	}
	if len(r.Sessions) != 4 {
		t.Fatalf("want 4 sessions in the window (jane, bob, failed, unattributed), got %+v", r.Sessions)
	}
	j, b, f, g := r.Sessions[0], r.Sessions[1], r.Sessions[2], r.Sessions[3]
	if j.Issuer != jane.Caller || j.SourceIP != jane.CallerIP || j.TaskPolicy != "S3UnlockBucketPolicy" || j.Actions != 2 || j.Status != audit.SessionIssued ||
		j.AccessKeyID != jane.KeyID || strings.Join(j.EventNames, ",") != "GetBucketPolicy,DeleteBucketPolicy" || !j.ExpiresAt.Equal(jane.Expiration()) {
		t.Errorf("jane's session: %+v", j)
	}
	if b.Issuer != bob.Caller || b.TaskPolicy != "IAMDeleteRootUserCredentials" || b.Actions != 1 {
		t.Errorf("bob's session: %+v", b)
	}
	if f.Status != audit.SessionFailed || f.ErrorCode != "AccessDenied" || f.Issuer != jane.Caller || f.Actions != 0 || f.AccessKeyID != "" {
		t.Errorf("failed call: %+v", f)
	}
	if g.Status != audit.SessionUnattributed || g.Issuer != "" || g.Actions != 1 || g.AccessKeyID != ghost.KeyID {
		t.Errorf("unattributed session: %+v", g)
	}

	// JSON carries them per account; CSV counts them and names the issuers; the table lists them.
	var out bytes.Buffer
	if err := audit.Write(&out, audit.FormatJSON, 7, now, rs); err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Accounts []struct {
			AccountID string              `json:"accountId"`
			Sessions  []audit.RootSession `json:"sessions"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || len(rep.Accounts[1].Sessions) != 4 || rep.Accounts[1].Sessions[0].Issuer != jane.Caller {
		t.Fatalf("JSON: %v %s", err, out.String())
	}
	out.Reset()
	if err := audit.Write(&out, audit.FormatCSV, 7, now, rs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&out).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := len(audit.CSVHeader)
	if rows[2][n-2] != "4" || rows[2][n-1] != jane.Caller+" "+bob.Caller+" unknown" || rows[1][n-2] != "0" {
		t.Errorf("CSV session columns: %v / %v", rows[1][n-2:], rows[2][n-2:])
	}
	out.Reset()
	if err := audit.Write(&out, audit.FormatTable, 7, now, rs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Centralised root sessions", jane.Caller, bob.Caller, "IAMDeleteRootUserCredentials", "failed (AccessDenied)",
		"unknown (AssumeRoot event not in the logs read)", "2: GetBucketPolicy, DeleteBucketPolicy"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// A session opened for an account whose own logs were not read leaves
// that account unjudged: its actions are in the logs that were not read.
func TestAuditSessionForAccountNotRead(t *testing.T) {
	dir := t.TempDir()
	s := fixtures.DefaultSession()
	s.Issued = now.Add(-time.Hour).Truncate(time.Second)
	writeLogs(t, dir, map[string][]string{
		fixtures.LogKey("", fixtures.ManagementAccount, "CloudTrail", "us-west-2", "2026/01/01", "20260101T0000Z", "m", ".json.gz"): {fixtures.AssumeRootRecord(s)},
	})
	tr := audit.NewTracker()
	if err := audit.ScanLocal(context.Background(), []string{dir}, tr, cloudtrail.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	rs := tr.Results(now, 7)
	if len(rs) != 2 || rs[1].AccountID != fixtures.MemberAccount || rs[1].Status != audit.StatusError ||
		!strings.Contains(rs[1].Error, "no log file of this account was read") || len(rs[1].Sessions) != 1 || rs[1].Sessions[0].Issuer != s.Caller {
		t.Fatalf("results %+v", rs)
	}
	if audit.ExitCode(rs) != 2 {
		t.Errorf("exit code %d, want 2 (incomplete)", audit.ExitCode(rs))
	}
}

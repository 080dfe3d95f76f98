package audit_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"rootwatch/internal/audit"
	"rootwatch/internal/audit/fakeaws"
)

var now = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func report(account, pwLastUsed, mfa, key1Active string) string {
	return "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n" +
		"<root_account>,arn:aws:iam::" + account + ":root,2015-01-01T00:00:00+00:00,not_supported," + pwLastUsed + ",not_supported,not_supported," + mfa + "," + key1Active + ",N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
}

func clients(t *testing.T, srv *fakeaws.Server) *audit.Clients {
	t.Helper()
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	c, err := audit.NewClients(context.Background(), audit.ClientOptions{
		Region:      "us-east-1",
		EndpointURL: srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider(srv.CallerKey, "callerSecret", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFetchReportPollsUntilComplete(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("111111111111", "2026-01-03T10:00:00+00:00", "true", "false"), PollsBeforeComplete: 2})
	c := clients(t, srv)
	r := audit.AuditIAM(context.Background(), c.IAM, "111111111111", now, 7, audit.PollOptions{Interval: time.Millisecond, Timeout: 30 * time.Second})
	if r.Status != audit.StatusFail || r.Error != "" {
		t.Fatalf("result %+v", r)
	}
	if r.LastUsed == nil || r.LastUsed.Credential != "password" || *r.DaysSince != 2 {
		t.Errorf("last used %+v days %v", r.LastUsed, r.DaysSince)
	}
	var actions []string
	for _, c := range srv.Calls() {
		actions = append(actions, c.Action)
	}
	want := "GenerateCredentialReport,GenerateCredentialReport,GenerateCredentialReport,GetCredentialReport"
	if strings.Join(actions, ",") != want {
		t.Errorf("calls %v, want %s", actions, want)
	}
}

func TestFetchReportBounded(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("111111111111", "N/A", "true", "false"), PollsBeforeComplete: 1 << 30})
	c := clients(t, srv)
	_, _, err := audit.FetchReport(context.Background(), c.IAM, audit.PollOptions{Interval: 5 * time.Millisecond, Timeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not ready within 100ms") {
		t.Fatalf("err = %v", err)
	}
	for _, call := range srv.Calls() {
		if call.Action == "GetCredentialReport" {
			t.Error("GetCredentialReport called before COMPLETE")
		}
	}
}

func TestAuditIAMWrongAccount(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("999999999999", "N/A", "true", "false")})
	c := clients(t, srv)
	r := audit.AuditIAM(context.Background(), c.IAM, "111111111111", now, 7, audit.PollOptions{Interval: time.Millisecond})
	if r.Status != audit.StatusError || !strings.Contains(r.Error, "999999999999") {
		t.Fatalf("result %+v", r)
	}
}

// orgAuditCalls runs a small organisation audit and returns the calls made.
func orgAuditCalls(t *testing.T) (*fakeaws.Server, []fakeaws.Call) {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("111111111111", "N/A", "true", "false")})
	srv.Add(&fakeaws.Account{ID: "222222222222", Report: report("222222222222", "N/A", "true", "false")})
	c := clients(t, srv)
	ctx := context.Background()
	caller, err := audit.WhoAmI(ctx, c.STS)
	if err != nil {
		t.Fatal(err)
	}
	accts, err := audit.ListActiveAccounts(ctx, c.Org)
	if err != nil {
		t.Fatal(err)
	}
	a := &audit.Auditor{Days: 7, Poll: audit.PollOptions{Interval: time.Millisecond}, RoleName: "OrganizationAccountAccessRole",
		STS: c.STS, CallerIAM: c.IAM, IAMFor: c.IAMFor}
	for _, r := range a.AuditAccounts(ctx, caller, accts) {
		if r.Status != audit.StatusPass {
			t.Fatalf("%+v", r)
		}
	}
	return srv, srv.Calls()
}

func TestAuditOrganisation(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.ExternalID = "ext-42"
	srv.Add(&fakeaws.Account{ID: "111111111111", Name: "management", Report: report("111111111111", "no_information", "true", "false")})
	srv.Add(&fakeaws.Account{ID: "222222222222", Name: "prod", Report: report("222222222222", "2026-01-04T09:00:00+00:00", "true", "false"), PollsBeforeComplete: 1})
	srv.Add(&fakeaws.Account{ID: "333333333333", Name: "locked", Report: report("333333333333", "N/A", "true", "false"), DenyAssume: true})
	srv.Add(&fakeaws.Account{ID: "444444444444", Name: "suspended", State: "SUSPENDED", Report: report("444444444444", "N/A", "true", "false")})
	srv.Add(&fakeaws.Account{ID: "555555555555", Name: "no-iam", IAMDenied: true})
	srv.Add(&fakeaws.Account{ID: "666666666666", Name: "keys", Report: report("666666666666", "N/A", "false", "true")})
	c := clients(t, srv)
	ctx := context.Background()

	caller, err := audit.WhoAmI(ctx, c.STS)
	if err != nil {
		t.Fatal(err)
	}
	if caller.Account != "111111111111" || caller.Partition != "aws" {
		t.Fatalf("caller %+v", caller)
	}
	accts, err := audit.ListActiveAccounts(ctx, c.Org)
	if err != nil {
		t.Fatal(err)
	}
	if len(accts) != 5 {
		t.Fatalf("active accounts %+v, want 5 (suspended left out, 3 pages read)", accts)
	}
	a := &audit.Auditor{Days: 7, Now: func() time.Time { return now }, Poll: audit.PollOptions{Interval: time.Millisecond},
		Concurrency: 2, RoleName: "OrganizationAccountAccessRole", ExternalID: "ext-42", STS: c.STS, CallerIAM: c.IAM, IAMFor: c.IAMFor}
	rs := a.AuditAccounts(ctx, caller, accts)

	want := map[string]audit.Status{
		"111111111111": audit.StatusPass,
		"222222222222": audit.StatusFail,
		"333333333333": audit.StatusError,
		"555555555555": audit.StatusError,
		"666666666666": audit.StatusFail,
	}
	if len(rs) != len(want) {
		t.Fatalf("%d results, want %d", len(rs), len(want))
	}
	for i, r := range rs {
		if i > 0 && rs[i-1].AccountID >= r.AccountID {
			t.Errorf("results not sorted: %s after %s", r.AccountID, rs[i-1].AccountID)
		}
		if r.Status != want[r.AccountID] {
			t.Errorf("%s: status %s (%s), want %s", r.AccountID, r.Status, r.Error, want[r.AccountID])
		}
	}
	byID := map[string]audit.Result{}
	for _, r := range rs {
		byID[r.AccountID] = r
	}
	if e := byID["333333333333"].Error; !strings.Contains(e, "AssumeRole") || !strings.Contains(e, "AccessDenied") {
		t.Errorf("denied account error %q", e)
	}
	if e := byID["555555555555"].Error; !strings.Contains(e, "GenerateCredentialReport") || !strings.Contains(e, "AccessDenied") {
		t.Errorf("IAM-denied account error %q", e)
	}
	if byID["222222222222"].AccountName != "prod" {
		t.Errorf("name %q", byID["222222222222"].AccountName)
	}
	if r := byID["666666666666"]; r.Check(audit.CheckAccessKeys).Status != audit.StatusFail || r.Check(audit.CheckMFA).Status != audit.StatusFail {
		t.Errorf("keys account checks %+v", r.Checks)
	}

	assumed := map[string]bool{}
	for _, call := range srv.Calls() {
		switch {
		case call.Action == "AssumeRole":
			arn := call.Form.Get("RoleArn")
			if !strings.HasSuffix(arn, ":role/OrganizationAccountAccessRole") || call.Form.Get("ExternalId") != "ext-42" || call.Form.Get("RoleSessionName") != "rootwatch-audit" {
				t.Errorf("AssumeRole form %v", call.Form)
			}
			assumed[strings.Split(arn, ":")[4]] = true
		case call.Service == "iam" && call.AccessKey == srv.CallerKey:
			// only the management account is read with the caller's key
		case call.Service == "iam" && !strings.HasPrefix(call.AccessKey, "ASIA"):
			t.Errorf("IAM call with key %s", call.AccessKey)
		}
	}
	if assumed["111111111111"] {
		t.Error("assumed a role in the management account instead of using the caller's credentials")
	}
	for _, id := range []string{"222222222222", "333333333333", "555555555555", "666666666666"} {
		if !assumed[id] {
			t.Errorf("no AssumeRole into %s", id)
		}
	}
}

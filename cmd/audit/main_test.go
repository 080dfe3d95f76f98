package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"rootwatch/internal/audit"
	"rootwatch/internal/audit/fakeaws"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/testutil"
)

func report(account string, pwLastUsed time.Time, mfa, key1Active string) string {
	pw := "no_information"
	if !pwLastUsed.IsZero() {
		pw = pwLastUsed.UTC().Format("2006-01-02T15:04:05+00:00")
	}
	return "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n" +
		"<root_account>,arn:aws:iam::" + account + ":root,2015-01-01T00:00:00+00:00,not_supported," + pw + ",not_supported,not_supported," + mfa + "," + key1Active + ",N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
}

// awsEnv points the SDK's default chain at the fake caller, and nowhere else.
func awsEnv(t *testing.T, srv *fakeaws.Server) {
	t.Setenv("AWS_ACCESS_KEY_ID", srv.CallerKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "callerSecretValue")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

type outcome struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, envs map[string]string, tty bool, args ...string) outcome {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := run(ctx, args, testutil.Env(envs), &out, &errb, tty)
	return outcome{code, out.String(), errb.String()}
}

func oneAccount(t *testing.T, rep string) *fakeaws.Server {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: rep, PollsBeforeComplete: 1})
	awsEnv(t, srv)
	return srv
}

func decodeJSON(t *testing.T, s string) audit.Report {
	t.Helper()
	var r audit.Report
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, s)
	}
	return r
}

func TestPassExitsZeroJSON(t *testing.T) {
	srv := oneAccount(t, report("111111111111", time.Now().Add(-30*24*time.Hour), "true", "false"))
	o := runCLI(t, nil, false, "--endpoint-url", srv.URL, "--poll-interval", "1ms", "--format", "json")
	if o.code != 0 {
		t.Fatalf("exit %d, stderr %s", o.code, o.stderr)
	}
	r := decodeJSON(t, o.stdout)
	if r.Days != 7 || r.Summary.Pass != 1 || len(r.Accounts) != 1 || r.Accounts[0].AccountID != "111111111111" || *r.Accounts[0].DaysSince != 30 {
		t.Errorf("report %+v", r)
	}
	if strings.Contains(o.stdout+o.stderr, "callerSecretValue") {
		t.Error("secret printed")
	}
}

func TestFailExitsOneCSV(t *testing.T) {
	srv := oneAccount(t, report("111111111111", time.Now().Add(-2*24*time.Hour), "false", "true"))
	o := runCLI(t, nil, false, "--endpoint-url", srv.URL, "--poll-interval", "1ms", "--format", "csv")
	if o.code != 1 {
		t.Fatalf("exit %d, stderr %s", o.code, o.stderr)
	}
	rows, err := csv.NewReader(strings.NewReader(o.stdout)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("csv %v %q", err, o.stdout)
	}
	if strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") {
		t.Errorf("header %v", rows[0])
	}
	row := map[string]string{}
	for i, h := range rows[0] {
		row[h] = rows[1][i]
	}
	want := map[string]string{"account_id": "111111111111", "status": "fail", "last_used_credential": "password", "days_since": "2",
		"root_used": "fail", "root_access_keys": "fail", "root_signing_certs": "pass", "root_mfa": "fail", "source": "credential-report"}
	for k, v := range want {
		if row[k] != v {
			t.Errorf("%s = %q, want %q", k, row[k], v)
		}
	}
}

func TestDefaultFormatFollowsTerminal(t *testing.T) {
	srv := oneAccount(t, report("111111111111", time.Time{}, "true", "false"))
	o := runCLI(t, nil, true, "--endpoint-url", srv.URL, "--poll-interval", "1ms")
	if o.code != 0 || !strings.HasPrefix(o.stdout, "ACCOUNT") || !strings.Contains(o.stdout, "111111111111") || !strings.Contains(o.stdout, "never") {
		t.Errorf("terminal: exit %d\n%s", o.code, o.stdout)
	}
	o = runCLI(t, nil, false, "--endpoint-url", srv.URL, "--poll-interval", "1ms")
	decodeJSON(t, o.stdout)
}

func TestOrgWithUnassumableMember(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.ExternalID = "ext-from-config"
	now := time.Now()
	srv.Add(&fakeaws.Account{ID: "111111111111", Name: "management", Report: report("111111111111", time.Time{}, "true", "false")})
	srv.Add(&fakeaws.Account{ID: "222222222222", Name: "prod", Report: report("222222222222", now.Add(-40*24*time.Hour), "true", "false")})
	srv.Add(&fakeaws.Account{ID: "333333333333", Name: "locked", Report: report("333333333333", time.Time{}, "true", "false"), DenyAssume: true})
	srv.Add(&fakeaws.Account{ID: "444444444444", Name: "dev", Report: report("444444444444", now.Add(-1*time.Hour), "true", "false")})
	awsEnv(t, srv)
	cfg := testutil.WriteFile(t, "audit.yaml", "external_id: ext-from-config\nrole_name: OrganizationAccountAccessRole\nconcurrency: 2\npoll_interval: 1ms\n")
	env := map[string]string{"ROOTWATCH_AUDIT_ORG": "true", "ROOTWATCH_AUDIT_ENDPOINT_URL": srv.URL, "ROOTWATCH_AUDIT_CONFIG": cfg}

	o := runCLI(t, env, false, "--format", "table")
	if o.code != 2 {
		t.Fatalf("exit %d, want 2 (one account not audited)\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	lines := strings.Split(o.stdout, "\n")
	find := func(id string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, id) {
				return l
			}
		}
		t.Fatalf("no row for %s in\n%s", id, o.stdout)
		return ""
	}
	if l := find("111111111111"); !strings.Contains(l, "PASS") {
		t.Errorf("management row %q", l)
	}
	if l := find("222222222222"); !strings.Contains(l, "PASS") || !strings.Contains(l, "password") {
		t.Errorf("prod row %q", l)
	}
	if l := find("333333333333"); !strings.Contains(l, "ERROR") || !strings.Contains(l, "AccessDenied") {
		t.Errorf("locked row %q", l)
	}
	if l := find("444444444444"); !strings.Contains(l, "FAIL") {
		t.Errorf("dev row %q", l)
	}
	if !strings.Contains(o.stdout, "4 account(s): 2 pass, 1 fail, 1 not audited") {
		t.Errorf("summary missing:\n%s", o.stdout)
	}
	if strings.Contains(o.stdout+o.stderr, "fakeSecretFor") || strings.Contains(o.stdout+o.stderr, "callerSecretValue") {
		t.Error("credentials printed")
	}
}

func TestPrecedenceFlagEnvConfig(t *testing.T) {
	srv := oneAccount(t, report("111111111111", time.Time{}, "true", "false"))
	cfg := testutil.WriteFile(t, "audit.yaml", "days: 60\nformat: csv\nendpoint_url: "+srv.URL+"\npoll_interval: 1ms\n")
	days := func(o outcome) int {
		t.Helper()
		if o.code != 0 {
			t.Fatalf("exit %d: %s", o.code, o.stderr)
		}
		return decodeJSON(t, o.stdout).Days
	}
	env := map[string]string{"ROOTWATCH_AUDIT_FORMAT": "json"}
	if d := days(runCLI(t, env, false, "--config", cfg)); d != 60 {
		t.Errorf("config: days %d", d)
	}
	env["ROOTWATCH_AUDIT_DAYS"] = "30"
	if d := days(runCLI(t, env, false, "--config", cfg)); d != 30 {
		t.Errorf("env over config: days %d", d)
	}
	if d := days(runCLI(t, env, false, "--config", cfg, "--days", "1")); d != 1 {
		t.Errorf("flag over env: days %d", d)
	}
	// Every layer over the default, in the merged settings themselves.
	merged := func(e map[string]string, args ...string) settings {
		var s settings
		if err := command(&s).Merge(args, testutil.Env(e)); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if s := merged(nil); s.Days != 7 || s.Format != "auto" || s.PollInterval != 2*time.Second || s.RoleName != "OrganizationAccountAccessRole" || s.LogLevel != "warn" {
		t.Errorf("defaults: %+v", s)
	}
	if s := merged(nil, "--config", cfg); s.PollInterval != time.Millisecond || s.Format != "csv" || s.EndpointURL != srv.URL {
		t.Errorf("file: %+v", s)
	}
	if s := merged(map[string]string{"ROOTWATCH_AUDIT_POLL_INTERVAL": "5ms", "ROOTWATCH_AUDIT_ORG": "true"}, "--config", cfg, "--format", "table"); s.PollInterval != 5*time.Millisecond || !s.Org || s.Format != "table" || s.Days != 60 {
		t.Errorf("env and flag: %+v", s)
	}
}

func TestUsageErrors(t *testing.T) {
	bad := testutil.WriteFile(t, "bad.yaml", "dayz: 3\npoll_interval: often\n")
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"unknown flag":       {[]string{"--nope"}, "audit: unknown flag --nope"},
		"bad format":         {[]string{"--format", "xml"}, `audit: --format: want auto, table, json or csv, got "xml"`},
		"negative days":      {[]string{"--days", "-1"}, "audit: --days: must be 0 or more"},
		"unknown config key": {[]string{"--config", bad}, "audit: config " + bad + ": line 1: dayz: unknown key (did you mean days?)"},
		"bad config value":   {[]string{"--config", bad}, "audit: config " + bad + `: line 2: poll_interval: want a duration such as 30s, 5m or 1h30m, got "often"`},
		"stray argument":     {[]string{"extra"}, `audit: unexpected argument "extra"`},
		"missing log folder": {[]string{"--from-logs", filepath.Join(t.TempDir(), "absent")}, "audit: --from-logs: "},
	} {
		o := runCLI(t, nil, false, c.args...)
		if o.code != 2 || !strings.Contains(o.stderr, c.want) {
			t.Errorf("%s: exit %d stderr %q, want %q", name, o.code, o.stderr, c.want)
		}
		if strings.Contains(o.stderr, "!!") || strings.Contains(o.stderr, "main.settings") || strings.Contains(o.stderr, "time.Duration") {
			t.Errorf("%s: error speaks Go: %s", name, o.stderr)
		}
	}
	o := runCLI(t, nil, false, "--help")
	if o.code != 0 || o.stderr != "" || !strings.Contains(o.stdout, "Exit status") || !strings.Contains(o.stdout, "--role-name string") || !strings.Contains(o.stdout, "ROOTWATCH_AUDIT_") {
		t.Errorf("help: %d %q", o.code, o.stdout)
	}
}

func TestUnreachableIAMExitsTwo(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.Add(&fakeaws.Account{ID: "111111111111", IAMDenied: true})
	awsEnv(t, srv)
	o := runCLI(t, nil, false, "--endpoint-url", srv.URL, "--format", "json")
	if o.code != 2 {
		t.Fatalf("exit %d", o.code)
	}
	r := decodeJSON(t, o.stdout)
	if r.Summary.Error != 1 || !strings.Contains(r.Accounts[0].Error, "AccessDenied") {
		t.Errorf("report %+v", r)
	}
}

func TestNotifyWebhookPerFailingAccount(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	now := time.Now()
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("111111111111", time.Time{}, "true", "false")})
	srv.Add(&fakeaws.Account{ID: "222222222222", Report: report("222222222222", now.Add(-time.Hour), "true", "false")})
	srv.Add(&fakeaws.Account{ID: "333333333333", Report: report("333333333333", time.Time{}, "false", "true")})
	awsEnv(t, srv)

	var mu sync.Mutex
	var bodies []map[string]any
	var keys []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil {
			t.Errorf("webhook got %s %s %q", r.Method, r.Header.Get("Content-Type"), b)
		}
		mu.Lock()
		bodies = append(bodies, m)
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	t.Setenv("AUDIT_TEST_HOOK_URL", hook.URL+"/hooks/audit")
	nc := testutil.WriteFile(t, "notify.yaml", "channels:\n  - name: audit-hook\n    type: webhook\n    url: ${AUDIT_TEST_HOOK_URL}\nroutes: []\n")

	o := runCLI(t, nil, false, "--org", "--endpoint-url", srv.URL, "--poll-interval", "1ms", "--format", "json", "--notify-config", nc)
	if o.code != 1 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("%d notifications, want 2 (one per failing account)", len(bodies))
	}
	got := map[string]bool{}
	for i, b := range bodies {
		inc, _ := b["incident"].(map[string]any)
		acct, _ := inc["accountId"].(string)
		got[acct] = true
		if inc["category"] != string(audit.CategoryAudit) || !strings.HasPrefix(keys[i], "root-audit-"+acct+"-") {
			t.Errorf("notification %d: incident %v key %q", i, inc, keys[i])
		}
		fs, _ := b["findings"].([]any)
		if len(fs) == 0 {
			t.Errorf("notification %d lists no failed checks", i)
		}
	}
	if !got["222222222222"] || !got["333333333333"] || got["111111111111"] {
		t.Errorf("notified accounts %v", got)
	}
}

func TestFromLogsLocalFolder(t *testing.T) {
	dir := t.TempDir()
	at := time.Now().UTC()
	d3, d10 := at.Add(-3*24*time.Hour), at.Add(-10*24*time.Hour)
	files := map[string][]byte{
		fakeaws.LogKey("", "111111111111", d3, 1):  fakeaws.LogFile(fakeaws.UserAPICall("111111111111", d3, "u1"), fakeaws.RootConsoleLogin("111111111111", d3, "r3")),
		fakeaws.LogKey("", "222222222222", d10, 1): fakeaws.LogFile(fakeaws.RootConsoleLogin("222222222222", d10, "r10")),
	}
	for k, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := runCLI(t, nil, false, "--from-logs", dir, "--format", "json")
	if o.code != 1 {
		t.Fatalf("exit %d: %s\n%s", o.code, o.stderr, o.stdout)
	}
	r := decodeJSON(t, o.stdout)
	if len(r.Accounts) != 2 {
		t.Fatalf("accounts %+v", r.Accounts)
	}
	a, b := r.Accounts[0], r.Accounts[1]
	if a.AccountID != "111111111111" || a.Status != audit.StatusFail || a.LastUsed.EventID != "r3" || *a.DaysSince != 3 {
		t.Errorf("3 days old: %+v", a)
	}
	if b.AccountID != "222222222222" || b.Status != audit.StatusPass || b.LastUsed.EventID != "r10" || *b.DaysSince != 10 {
		t.Errorf("10 days old: %+v", b)
	}
	// With an 11-day window the older sign-in is inside too.
	o = runCLI(t, nil, false, "--from-logs", dir, "--format", "csv", "--days", "11")
	if rows, err := csv.NewReader(strings.NewReader(o.stdout)).ReadAll(); o.code != 1 || err != nil || len(rows) != 3 || rows[1][3] != "fail" || rows[2][3] != "fail" {
		t.Errorf("--days 11: exit %d\n%s", o.code, o.stdout)
	}
}

func TestOrgListDeniedExitsTwo(t *testing.T) {
	srv := fakeaws.New(t, "111111111111")
	srv.OrgDenied = true
	srv.Add(&fakeaws.Account{ID: "111111111111", Report: report("111111111111", time.Time{}, "true", "false")})
	awsEnv(t, srv)
	o := runCLI(t, nil, false, "--org", "--endpoint-url", srv.URL, "--format", "json")
	if o.code != 2 || o.stdout != "" || !strings.Contains(o.stderr, "organizations ListAccounts: AccessDeniedException") {
		t.Errorf("exit %d stdout %q stderr %q", o.code, o.stdout, o.stderr)
	}
}

func TestFromLogsS3(t *testing.T) {
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer s3srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDS3EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s3SecretValue")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	cl := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDS3EXAMPLE", "s3SecretValue", "")})
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC()
	d3, d10 := at.Add(-3*24*time.Hour), at.Add(-10*24*time.Hour)
	for k, b := range map[string][]byte{
		fakeaws.LogKey("", "111111111111", d3, 1):  fakeaws.LogFile(fakeaws.RootConsoleLogin("111111111111", d3, "r3")),
		fakeaws.LogKey("", "222222222222", d10, 1): fakeaws.LogFile(fakeaws.RootConsoleLogin("222222222222", d10, "r10")),
	} {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(k), Body: bytes.NewReader(b)}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"ROOTWATCH_AUDIT_S3_ENDPOINT_URL": s3srv.URL}
	o := runCLI(t, env, false, "--from-logs", "s3://trail/AWSLogs/", "--format", "json")
	if o.code != 1 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	r := decodeJSON(t, o.stdout)
	if len(r.Accounts) != 2 || r.Accounts[0].Status != audit.StatusFail || r.Accounts[1].Status != audit.StatusPass ||
		r.Accounts[0].Source != "cloudtrail" || r.Accounts[1].LastUsed == nil || *r.Accounts[1].DaysSince != 10 {
		t.Errorf("report %+v", r.Accounts)
	}
}

// audit --from-logs lists each account's centralised root sessions with
// who opened them, in every format; the AssumeRoot call is no root use.
func TestFromLogsListsSessions(t *testing.T) {
	dir := t.TempDir()
	s := fixtures.DefaultSession()
	s.Issued = time.Now().UTC().Add(-2 * 24 * time.Hour).Truncate(time.Second)
	logs := map[string][]string{
		fixtures.LogKey("", fixtures.ManagementAccount, "CloudTrail", s.Region, "2026/01/01", "20260101T0000Z", "m", ".json.gz"): {fixtures.AssumeRootRecord(s)},
		fixtures.LogKey("", fixtures.MemberAccount, "CloudTrail", s.Region, "2026/01/01", "20260101T0000Z", "a", ".json.gz"): {
			fixtures.SessionAction(s, "act-1", "DeleteBucketPolicy", s.CallerIP, s.Region, s.Issued.Add(time.Minute))},
	}
	if err := fixtures.WriteFiles(dir, fixtures.GzipLogs(logs)); err != nil {
		t.Fatal(err)
	}
	o := runCLI(t, nil, false, "--from-logs", dir, "--format", "json")
	var rep struct {
		Accounts []struct {
			AccountID string              `json:"accountId"`
			Status    audit.Status        `json:"status"`
			Sessions  []audit.RootSession `json:"sessions"`
		} `json:"accounts"`
	}
	if err := json.Unmarshal([]byte(o.stdout), &rep); err != nil || o.code != 1 || len(rep.Accounts) != 2 {
		t.Fatalf("exit %d, %v: %s", o.code, err, o.stdout)
	}
	mgmt, member := rep.Accounts[0], rep.Accounts[1]
	if mgmt.Status != audit.StatusPass || len(mgmt.Sessions) != 0 {
		t.Errorf("the management account called AssumeRoot; that is no root use: %+v", mgmt)
	}
	if member.Status != audit.StatusFail || len(member.Sessions) != 1 || member.Sessions[0].Issuer != s.Caller || member.Sessions[0].Actions != 1 {
		t.Errorf("member: %+v", member)
	}
	o = runCLI(t, nil, false, "--from-logs", dir, "--format", "csv")
	rows, err := csv.NewReader(strings.NewReader(o.stdout)).ReadAll()
	n := len(audit.CSVHeader)
	if err != nil || len(rows) != 3 || rows[2][n-2] != "1" || rows[2][n-1] != s.Caller {
		t.Errorf("CSV: %v\n%s", err, o.stdout)
	}
	o = runCLI(t, nil, true, "--from-logs", dir)
	if !strings.Contains(o.stdout, "Centralised root sessions") || !strings.Contains(o.stdout, s.Caller) || !strings.Contains(o.stdout, "S3UnlockBucketPolicy") {
		t.Errorf("table:\n%s", o.stdout)
	}
}

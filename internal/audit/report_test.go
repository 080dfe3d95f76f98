package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fixtureNow is the audit time the fixtures were written against.
var fixtureNow = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseAndJudgeFixtures(t *testing.T) {
	type want struct {
		account           string
		status            Status
		cred              string // "" = never used
		days              int
		used, keys, certs Status
		mfa               Status
	}
	cases := map[string]want{
		"root_password_recent.csv":           {"111111111111", StatusFail, "password", 4, StatusFail, StatusPass, StatusPass, StatusPass},
		"root_never_used.csv":                {"222222222222", StatusPass, "", 0, StatusPass, StatusPass, StatusPass, StatusPass},
		"root_keys_active_unused_no_mfa.csv": {"333333333333", StatusFail, "", 0, StatusPass, StatusFail, StatusFail, StatusFail},
		"root_key2_recent.csv":               {"444444444444", StatusFail, "access_key_2", 2, StatusFail, StatusPass, StatusFail, StatusPass},
		"root_credentials_removed.csv":       {"555555555555", StatusPass, "", 0, StatusPass, StatusPass, StatusPass, StatusPass},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			rc, err := ParseReport(readFixture(t, name))
			if err != nil {
				t.Fatal(err)
			}
			r := Judge(rc, fixtureNow, 7)
			if r.AccountID != w.account || r.Status != w.status {
				t.Errorf("account %s status %s, want %s %s", r.AccountID, r.Status, w.account, w.status)
			}
			if w.cred == "" {
				if r.LastUsed != nil || r.DaysSince != nil {
					t.Errorf("last used %+v, want never", r.LastUsed)
				}
			} else {
				if r.LastUsed == nil || r.LastUsed.Credential != w.cred {
					t.Fatalf("last used %+v, want %s", r.LastUsed, w.cred)
				}
				if r.DaysSince == nil || *r.DaysSince != w.days {
					t.Errorf("days since %v, want %d", r.DaysSince, w.days)
				}
			}
			for check, st := range map[string]Status{CheckRootUsed: w.used, CheckAccessKeys: w.keys, CheckSigningCert: w.certs, CheckMFA: w.mfa} {
				if got := r.Check(check); got.Status != st {
					t.Errorf("%s = %s (%s), want %s", check, got.Status, got.Detail, st)
				}
			}
		})
	}
}

func TestParseReportSpecialValues(t *testing.T) {
	rc, err := ParseReport(readFixture(t, "root_never_used.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if rc.PasswordLastUsed.Known || rc.PasswordLastUsed.Raw != ValueNoInformation {
		t.Errorf("password_last_used = %+v, want no_information", rc.PasswordLastUsed)
	}
	if rc.AccessKeyLastUse[0].Known || rc.AccessKeyLastUse[0].Raw != ValueNA {
		t.Errorf("access_key_1_last_used_date = %+v, want N/A", rc.AccessKeyLastUse[0])
	}
	if rc.PasswordEnabled != ValueNotSupported {
		t.Errorf("password_enabled = %q", rc.PasswordEnabled)
	}
	rc, err = ParseReport(readFixture(t, "root_key2_recent.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)
	if !rc.AccessKeyLastUse[1].Known || !rc.AccessKeyLastUse[1].Time.Equal(want) {
		t.Errorf("access_key_2_last_used_date = %+v, want %s", rc.AccessKeyLastUse[1], want)
	}
	if rc.CertActive[0] || !rc.CertActive[1] {
		t.Errorf("certs = %v", rc.CertActive)
	}
}

func TestParseReportErrors(t *testing.T) {
	if _, err := ParseReport(readFixture(t, "no_root_row.csv")); !errors.Is(err, ErrNoRootRow) {
		t.Errorf("no root row: %v", err)
	}
	full := string(readFixture(t, "root_never_used.csv"))
	noMFA := strings.Replace(full, ",mfa_active,", ",mfa_whatever,", 1)
	if _, err := ParseReport([]byte(noMFA)); err == nil || !strings.Contains(err.Error(), "mfa_active") {
		t.Errorf("missing column: %v", err)
	}
	badTime := strings.Replace(full, "no_information", "yesterday", 1)
	if _, err := ParseReport([]byte(badTime)); err == nil || !strings.Contains(err.Error(), "password_last_used") {
		t.Errorf("bad time: %v", err)
	}
	badBool := strings.Replace(full, "not_supported,true,false", "not_supported,maybe,false", 1)
	if _, err := ParseReport([]byte(badBool)); err == nil || !strings.Contains(err.Error(), "mfa_active") {
		t.Errorf("bad bool: %v", err)
	}
	if _, err := ParseReport(nil); err == nil {
		t.Error("empty report parsed")
	}
}

// reportWith renders a one-root-row report with the password last used at ts.
func reportWith(account, passwordLastUsed string) []byte {
	return []byte("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n" +
		"<root_account>,arn:aws:iam::" + account + ":root,2015-01-01T00:00:00+00:00,not_supported," + passwordLastUsed + ",not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
}

func TestRootUsedBoundary(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 30, 0, 0, time.UTC)
	cases := []struct {
		name string
		used time.Time
		days int
		want Status
		ago  int
	}{
		{"exactly N days ago is inside", now.Add(-7 * 24 * time.Hour), 7, StatusFail, 7},
		{"one second before the window", now.Add(-7*24*time.Hour - time.Second), 7, StatusPass, 7},
		{"one second inside", now.Add(-7*24*time.Hour + time.Second), 7, StatusFail, 6},
		{"just now", now, 7, StatusFail, 0},
		{"future (clock skew) is inside", now.Add(time.Hour), 7, StatusFail, 0},
		{"one-day window, 25h ago", now.Add(-25 * time.Hour), 1, StatusPass, 1},
		{"zero-day window, used a second ago", now.Add(-time.Second), 0, StatusPass, 0},
		{"zero-day window, used now", now, 0, StatusFail, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Through the CSV, with a non-UTC offset, to test parsing too.
			ts := c.used.In(time.FixedZone("", 2*3600)).Format("2006-01-02T15:04:05-07:00")
			rc, err := ParseReport(reportWith("123456789012", ts))
			if err != nil {
				t.Fatal(err)
			}
			r := Judge(rc, now, c.days)
			if got := r.Check(CheckRootUsed); got.Status != c.want {
				t.Errorf("root_used = %s (%s), want %s", got.Status, got.Detail, c.want)
			}
			if r.DaysSince == nil || *r.DaysSince != c.ago {
				t.Errorf("days since = %v, want %d", r.DaysSince, c.ago)
			}
			if r.Status != c.want {
				t.Errorf("status = %s, want %s", r.Status, c.want)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	p, f, e := Result{Status: StatusPass}, Result{Status: StatusFail}, Result{Status: StatusError}
	for _, c := range []struct {
		rs   []Result
		want int
	}{{nil, 0}, {[]Result{p, p}, 0}, {[]Result{p, f}, 1}, {[]Result{p, e}, 2}, {[]Result{f, e}, 2}} {
		if got := ExitCode(c.rs); got != c.want {
			t.Errorf("ExitCode(%v) = %d, want %d", c.rs, got, c.want)
		}
	}
}

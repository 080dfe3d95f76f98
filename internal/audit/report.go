// Package audit answers "was the account root user used in the last N days,
// and is it left in a risky state?" for one account or a whole AWS
// Organization. It reads the IAM credential report (the authoritative
// record of root sign-ins and root access-key use) and, where that report
// cannot be reached, historic CloudTrail logs. The stream half of rootwatch
// (cmd/alert) sees root use as it happens; this package is the periodic,
// after-the-fact check.
package audit

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// RootUser is the value of the credential report's user column on the row
// that describes the account root user.
const RootUser = "<root_account>"

// Special values the credential report uses instead of a timestamp or boolean.
const (
	// ValueNA means not applicable: no such credential, or never used.
	ValueNA = "N/A"
	// ValueNoInformation means the password has not been used since IAM
	// started tracking sign-ins (20 October 2014).
	ValueNoInformation = "no_information"
	// ValueNotSupported is what the root row holds in the password_enabled,
	// password_last_changed and password_next_rotation columns.
	ValueNotSupported = "not_supported"
)

// reportColumns are the columns this package reads. AWS documents 22
// columns; the report is parsed by header name so that added columns and
// reordering do not break it.
var reportColumns = []string{
	"user", "arn", "password_enabled", "password_last_used", "mfa_active",
	"access_key_1_active", "access_key_1_last_used_date",
	"access_key_2_active", "access_key_2_last_used_date",
	"cert_1_active", "cert_2_active",
}

// LastUse is a last-used column: a time when Known, else the report's
// reason (N/A, no_information).
type LastUse struct {
	Time  time.Time
	Known bool
	// Raw is the column's value as written in the report.
	Raw string
}

// RootCredentials is the root user's row of a credential report.
type RootCredentials struct {
	ARN string
	// AccountID is taken from the ARN (arn:aws:iam::<account>:root).
	AccountID string
	// PasswordEnabled is the raw password_enabled value: "not_supported"
	// for a root user with a password, "false" where centralised root
	// access removed it.
	PasswordEnabled  string
	PasswordLastUsed LastUse
	MFAActive        bool
	AccessKeyActive  [2]bool
	AccessKeyLastUse [2]LastUse
	CertActive       [2]bool
}

// ErrNoRootRow means the report parsed but has no <root_account> row.
var ErrNoRootRow = errors.New("credential report has no <root_account> row")

// ParseReport reads a credential report (CSV, as GetCredentialReport
// returns it after base64 decoding) and returns the root user's row.
func ParseReport(b []byte) (RootCredentials, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = 0 // every row has as many fields as the header
	r.ReuseRecord = true  // only the root row is kept, and parsed at once
	header, err := r.Read()
	if err != nil {
		return RootCredentials{}, fmt.Errorf("credential report header: %w", err)
	}
	col := make(map[string]int, len(header))
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	for _, c := range reportColumns {
		if _, ok := col[c]; !ok {
			return RootCredentials{}, fmt.Errorf("credential report has no %q column", c)
		}
	}
	for {
		row, err := r.Read()
		if err == io.EOF {
			return RootCredentials{}, ErrNoRootRow
		}
		if err != nil {
			return RootCredentials{}, fmt.Errorf("credential report: %w", err)
		}
		if row[col["user"]] != RootUser {
			continue
		}
		return parseRoot(row, col)
	}
}

func parseRoot(row []string, col map[string]int) (RootCredentials, error) {
	get := func(name string) string { return strings.TrimSpace(row[col[name]]) }
	rc := RootCredentials{ARN: get("arn"), PasswordEnabled: strings.ToLower(get("password_enabled"))}
	rc.AccountID = accountFromARN(rc.ARN)
	var err error
	if rc.PasswordLastUsed, err = parseLastUse("password_last_used", get("password_last_used")); err != nil {
		return rc, err
	}
	if rc.MFAActive, err = parseBool("mfa_active", get("mfa_active")); err != nil {
		return rc, err
	}
	for i := 0; i < 2; i++ {
		n := fmt.Sprint(i + 1)
		if rc.AccessKeyActive[i], err = parseBool("access_key_"+n+"_active", get("access_key_"+n+"_active")); err != nil {
			return rc, err
		}
		if rc.AccessKeyLastUse[i], err = parseLastUse("access_key_"+n+"_last_used_date", get("access_key_"+n+"_last_used_date")); err != nil {
			return rc, err
		}
		if rc.CertActive[i], err = parseBool("cert_"+n+"_active", get("cert_"+n+"_active")); err != nil {
			return rc, err
		}
	}
	return rc, nil
}

// accountFromARN returns the account of arn:aws:iam::<account>:root (any partition).
func accountFromARN(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) == 6 && parts[0] == "arn" && parts[2] == "iam" {
		return parts[4]
	}
	return ""
}

func parseLastUse(column, v string) (LastUse, error) {
	switch strings.ToLower(v) {
	case "", "n/a", ValueNoInformation, ValueNotSupported:
		return LastUse{Raw: v}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return LastUse{}, fmt.Errorf("credential report column %s: %q is not an ISO 8601 time or N/A", column, v)
	}
	return LastUse{Time: t.UTC(), Known: true, Raw: v}, nil
}

func parseBool(column, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false", "", "n/a", ValueNotSupported:
		return false, nil
	}
	return false, fmt.Errorf("credential report column %s: %q is not true or false", column, v)
}

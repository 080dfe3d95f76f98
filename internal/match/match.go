// Package match decides, on a record's raw bytes, whether it is root
// activity (the CIS AWS Foundations rule in docs/rule.md) or an
// sts:AssumeRoot call (who opened a centralised-root session: context,
// not root activity), and classifies it into a Finding. Most records are
// neither: byte searches for the quoted words "Root" and "AssumeRoot"
// reject them without parsing, and gjson looks only at the few
// candidates. The non-matching path does not allocate.
package match

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/tidwall/gjson"

	"rootwatch/internal/mutant"
)

// rootNeedle is the only way userIdentity.type can be "Root" in JSON that
// AWS writes: the string token "Root". Records without it cannot match.
var rootNeedle = []byte(`"Root"`)

// IsRoot reports whether raw (one CloudTrail record) is root activity:
// userIdentity.type == "Root", userIdentity.invokedBy absent or null, and
// eventType != "AwsServiceEvent". Failed calls and failed sign-ins count.
func IsRoot(raw []byte) bool {
	if bytes.Index(raw, rootNeedle) < 0 {
		return false
	}
	return isRoot(str(raw))
}

// isRoot applies the rule with gjson. It allocates nothing for records
// without escapes in the fields it reads.
func isRoot(s string) bool {
	if mutant.Enabled && mutant.On("match-no-console-login") && gjson.Get(s, "eventName").Str == "ConsoleLogin" { // mutant (make mutants): root console sign-ins missed
		return false
	}
	ui := gjson.Get(s, "userIdentity")
	if !ui.IsObject() {
		return false
	}
	t := gjson.Get(ui.Raw, "type")
	if t.Type != gjson.String || t.Str != "Root" {
		return false
	}
	if inv := gjson.Get(ui.Raw, "invokedBy"); inv.Exists() && inv.Type != gjson.Null {
		return false
	}
	if et := gjson.Get(s, "eventType"); et.Type == gjson.String && et.Str == "AwsServiceEvent" {
		return false
	}
	return true
}

// sessionNeedle is the only way AWS writes eventName "AssumeRoot": the
// string token "AssumeRoot". Records without it cannot be an AssumeRoot call.
var sessionNeedle = []byte(`"AssumeRoot"`)

// IsSessionIssue reports whether raw (one CloudTrail record) is an
// sts:AssumeRoot call, successful or failed: the top-level eventSource is
// "sts.amazonaws.com" and eventName is "AssumeRoot". Such a call opens a
// centralised-root session in a member account; it is not root activity.
// The word elsewhere (request parameters, role names, escaped strings,
// nested objects) does not count.
func IsSessionIssue(raw []byte) bool {
	if bytes.Index(raw, sessionNeedle) < 0 {
		return false
	}
	return isSessionIssue(str(raw))
}

// isSessionIssue applies the session rule with gjson, without allocating.
func isSessionIssue(s string) bool {
	if n := gjson.Get(s, "eventName"); n.Type != gjson.String || n.Str != "AssumeRoot" {
		return false
	}
	src := gjson.Get(s, "eventSource")
	return src.Type == gjson.String && src.Str == "sts.amazonaws.com"
}

// Find returns the Finding for raw when it is root activity (rule
// cis-root) or an sts:AssumeRoot call (rule root-session-issued, which is
// not root activity). obj names where the record came from; detectedAt is
// stamped on the finding. The finding holds its own copy of every byte it
// keeps: raw may be reused afterwards.
func Find(raw []byte, obj ObjectRef, detectedAt time.Time) (Finding, bool) {
	switch {
	case IsRoot(raw):
		return classify(raw, obj, detectedAt, RuleCISRoot), true
	case IsSessionIssue(raw):
		return classify(raw, obj, detectedAt, RuleRootSessionIssued), true
	}
	return Finding{}, false
}

// Matches reports whether Find has a finding for raw: the cheap test a
// reader makes on every record before it reads the clock. It does not
// allocate when the answer is no.
func Matches(raw []byte) bool {
	root, session := candidate(raw)
	return root && isRoot(str(raw)) || session && isSessionIssue(str(raw))
}

// rootSuffix ends both needles ("Root" and "AssumeRoot"), so that one
// byte search finds the candidates of both rules.
var rootSuffix = []byte(`Root"`)

// candidate reports whether raw holds the token "Root" and whether it
// holds "AssumeRoot", in one pass.
func candidate(raw []byte) (root, session bool) {
	for off := 0; !(root && session); {
		i := bytes.Index(raw[off:], rootSuffix)
		if i < 0 {
			break
		}
		i += off
		switch {
		case i > 0 && raw[i-1] == '"':
			root = true
		case i >= 7 && string(raw[i-7:i]) == `"Assume`:
			session = true
		}
		off = i + len(rootSuffix)
	}
	return root, session
}

var paths = []string{
	"eventID", "eventTime", "recipientAccountId", "awsRegion", "eventSource", // 0-4
	"eventName", "eventType", "sourceIPAddress", "userAgent", "errorCode", // 5-9
	"errorMessage", "readOnly", "userIdentity", "additionalEventData.MFAUsed", "responseElements", // 10-14
	"requestParameters", // 15
}

func classify(raw []byte, obj ObjectRef, detectedAt time.Time, rule Rule) Finding {
	var rec []byte
	if utf8.Valid(raw) {
		rec = bytes.Clone(raw)
	} else {
		rec = validUTF8(raw)
	}
	s := str(rec) // the finding's strings point into its own copy of the record
	v := gjson.GetMany(s, paths...)
	ui := v[12]
	f := Finding{
		EventID:         v[0].String(),
		AccountID:       v[2].String(),
		Region:          v[3].String(),
		EventSource:     v[4].String(),
		EventName:       v[5].String(),
		EventType:       v[6].String(),
		SourceIPAddress: v[7].String(),
		UserAgent:       v[8].String(),
		ErrorCode:       v[9].String(),
		ErrorMessage:    v[10].String(),
		PrincipalARN:    ui.Get("arn").String(),
		AccessKeyID:     ui.Get("accessKeyId").String(),
		Rule:            rule,
		Path:            PathS3,
		Object:          obj,
		DetectedAt:      detectedAt.UTC(),
		Record:          rec,
	}
	if t, err := time.Parse(time.RFC3339, v[1].String()); err == nil {
		f.EventTime = t.UTC()
	}
	if f.AccountID == "" {
		f.AccountID = ui.Get("accountId").String()
	}
	consoleSignIn := f.EventType == "AwsConsoleSignIn" || (f.EventSource == "signin.amazonaws.com" && f.EventName == "ConsoleLogin")
	if consoleSignIn {
		f.MFAUsed = v[13].String() == "Yes"
	} else {
		f.MFAUsed = ui.Get("sessionContext.attributes.mfaAuthenticated").String() == "true"
	}
	if ro := v[11]; ro.Type == gjson.True || ro.Type == gjson.False {
		f.ReadOnly = ro.Type == gjson.True
	} else if ro.Type == gjson.String {
		f.ReadOnly = ro.Str == "true"
	} else {
		f.ReadOnly = !consoleSignIn && isReadName(f.EventName)
	}
	if rule == RuleRootSessionIssued {
		classifySession(&f, v[15], v[14])
	} else {
		classifyRoot(&f, ui, v[14], consoleSignIn)
	}
	if len(rec) > MaxEmbeddedRecord {
		// A record this large is forged or damaged: keep the finding small
		// (and its strings off the big copy, so that it can be freed).
		f.Record, f.RecordTruncated, f.RecordBytes = nil, true, len(raw)
		for _, p := range f.stringFields() {
			*p = strings.Clone(boundField(*p))
		}
	} else if len(rec) > MaxFieldBytes {
		for _, p := range f.stringFields() {
			*p = boundField(*p)
		}
	}
	return f
}

// classifyRoot gives a root-activity finding its category and severity
// (docs/rule.md, Classification).
func classifyRoot(f *Finding, ui, resp gjson.Result, consoleSignIn bool) {
	assumed := ui.Get("sessionContext.assumedRoot")
	f.AssumedRoot = assumed.Type == gjson.True || (assumed.Type == gjson.String && strings.EqualFold(assumed.Str, "true"))
	switch {
	case consoleSignIn && signInFailed(*f, resp):
		f.Category, f.Severity = CategoryConsoleLoginFailed, SeverityHigh
	case consoleSignIn && !credentialEvents[f.EventName]:
		f.Category = CategoryConsoleLogin
		if f.MFAUsed {
			f.Severity = SeverityHigh
		} else {
			f.Severity = SeverityCritical
		}
	case f.AssumedRoot:
		f.Category, f.Severity = CategoryAssumedRoot, SeverityMedium
		if !f.ReadOnly && f.ErrorCode == "" {
			f.Severity = SeverityHigh
		}
	case credentialEvents[f.EventName]:
		f.Category, f.Severity = CategoryCredentialChange, SeverityCritical
		if IsDenied(f.ErrorCode) {
			f.Severity = SeverityHigh
		}
	case IsDenied(f.ErrorCode):
		f.Category, f.Severity = CategoryDenied, SeverityHigh
	case f.ReadOnly:
		f.Category, f.Severity = CategoryReadOnly, SeverityMedium
	default:
		f.Category, f.Severity = CategoryMutating, SeverityHigh
	}
}

// classifySession reads the session an sts:AssumeRoot call opened (or
// tried to) from its request and response (docs/rule.md, Context).
func classifySession(f *Finding, req, resp gjson.Result) {
	sess := &Session{
		AccessKeyID:     resp.Get("credentials.accessKeyId").String(),
		CallerARN:       f.PrincipalARN,
		CallerAccountID: f.AccountID,
		CallerSourceIP:  f.SourceIPAddress,
		CallerUserAgent: f.UserAgent,
		TargetAccountID: targetAccount(req.Get("targetPrincipal").String()),
		IssuedAt:        f.EventTime,
		IssueEventID:    f.EventID,
		Expiration:      cloudTrailTime(resp.Get("credentials.expiration").String()),
	}
	if tp := req.Get("taskPolicyArn"); tp.IsObject() {
		sess.TaskPolicyARN = tp.Get("arn").String()
	} else {
		sess.TaskPolicyARN = tp.String()
	}
	f.Session = sess
	f.AssumedRoot = false // the caller is not in a root session, whatever its sessionContext says
	switch {
	case f.ErrorCode != "" || f.ErrorMessage != "":
		f.Category, f.Severity = CategorySessionFailed, SeverityMedium
		if IsDenied(f.ErrorCode) {
			f.Severity = SeverityHigh
		}
	default:
		f.Category, f.Severity = CategorySessionIssued, SeverityLow
	}
}

// targetAccount is the account of an AssumeRoot targetPrincipal: an
// account id, or a principal ARN (arn:aws:iam::222222222222:root).
func targetAccount(p string) string {
	if !strings.HasPrefix(p, "arn:") {
		return p
	}
	parts := strings.SplitN(p, ":", 6)
	if len(parts) < 5 {
		return p
	}
	return parts[4]
}

// cloudTrailTime parses a time as CloudTrail writes it in response
// elements ("Oct 25, 2024, 9:07:11 PM", UTC) or as RFC 3339; zero when it
// is neither.
func cloudTrailTime(s string) time.Time {
	for _, layout := range [...]string{"Jan 2, 2006, 3:04:05 PM", "Jan 2, 2006 3:04:05 PM", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// stringFields are the finding's strings taken from the record.
func (f *Finding) stringFields() []*string {
	fs := []*string{&f.EventID, &f.AccountID, &f.Region, &f.EventSource, &f.EventName, &f.EventType,
		&f.SourceIPAddress, &f.UserAgent, &f.ErrorCode, &f.ErrorMessage, &f.PrincipalARN, &f.AccessKeyID}
	if s := f.Session; s != nil {
		fs = append(fs, &s.AccessKeyID, &s.CallerARN, &s.CallerAccountID, &s.CallerSourceIP, &s.CallerUserAgent,
			&s.TargetAccountID, &s.TaskPolicyARN, &s.IssueEventID)
	}
	return fs
}

// boundField cuts s to MaxFieldBytes on a rune boundary, marker included.
func boundField(s string) string {
	if len(s) <= MaxFieldBytes {
		return s
	}
	cut := MaxFieldBytes - len(FieldTruncMarker)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + FieldTruncMarker
}

// validUTF8 copies a JSON record with every byte that is not valid UTF-8
// written as the escape \ufffd. In JSON such bytes can only be inside
// strings, where the escape means U+FFFD, so the copy is the same record
// as valid UTF-8 that strict decoders accept.
func validUTF8(raw []byte) []byte {
	out := make([]byte, 0, len(raw)+64)
	for len(raw) > 0 {
		i := 0
		for i < len(raw) && raw[i] < utf8.RuneSelf {
			i++
		}
		out, raw = append(out, raw[:i]...), raw[i:]
		if len(raw) == 0 {
			break
		}
		r, size := utf8.DecodeRune(raw)
		if r == utf8.RuneError && size <= 1 {
			out = append(out, `\ufffd`...)
		} else {
			out = append(out, raw[:size]...)
		}
		raw = raw[size:]
	}
	return out
}

// signInFailed: CloudTrail marks a failed console sign-in with
// responseElements.ConsoleLogin (or CheckMfa) "Failure" and an errorMessage.
func signInFailed(f Finding, resp gjson.Result) bool {
	if r := resp.Get(f.EventName); r.Exists() {
		return r.String() == "Failure"
	}
	if r := resp.Get("ConsoleLogin"); r.Exists() {
		return r.String() == "Failure"
	}
	return f.ErrorMessage != "" || f.ErrorCode != ""
}

// credentialEvents change root credentials: password, access keys, MFA
// devices and signing certificates (IAM API calls, and the sign-in
// service's password events).
var credentialEvents = map[string]bool{
	"ChangePassword": true, "CreateLoginProfile": true, "UpdateLoginProfile": true, "DeleteLoginProfile": true,
	"PasswordUpdated": true, "PasswordRecoveryRequested": true, "PasswordRecoveryCompleted": true,
	"CreateAccessKey": true, "UpdateAccessKey": true, "DeleteAccessKey": true,
	"CreateVirtualMFADevice": true, "EnableMFADevice": true, "DeactivateMFADevice": true,
	"DeleteVirtualMFADevice": true, "ResyncMFADevice": true,
	"UploadSigningCertificate": true, "UpdateSigningCertificate": true, "DeleteSigningCertificate": true,
}

// IsCredentialChange reports whether an event name changes root credentials.
func IsCredentialChange(eventName string) bool { return credentialEvents[eventName] }

// IsDenied reports whether a CloudTrail errorCode means AWS refused the call
// for lack of permission (as opposed to, say, a missing resource).
func IsDenied(code string) bool {
	if code == "" {
		return false
	}
	c := strings.TrimPrefix(code, "Client.")
	return strings.HasPrefix(c, "AccessDenied") || strings.HasPrefix(c, "Unauthorized") ||
		c == "Forbidden" || c == "InvalidClientTokenId" || c == "SignatureDoesNotMatch" ||
		strings.HasSuffix(c, "AccessDeniedException")
}

// isReadName guesses read-only from the verb when a record has no readOnly field.
func isReadName(name string) bool {
	for _, p := range [...]string{"Get", "List", "Describe", "Head", "Lookup", "Search", "View", "BatchGet", "Check"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// str views b as a string without copying; the string must not outlive b.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

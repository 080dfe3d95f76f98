package match

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Category says what kind of root activity a finding is, so that routing and
// grouping can treat a root console sign-in differently from a root API read.
type Category string

// The categories, from most to least specific. A record gets the first that applies.
const (
	// CategoryConsoleLogin is a successful root console sign-in.
	CategoryConsoleLogin Category = "console-login"
	// CategoryConsoleLoginFailed is a failed root console sign-in (wrong password, MFA failure).
	CategoryConsoleLoginFailed Category = "console-login-failed"
	// CategoryAssumedRoot is an action in a centralised-root-access session (sts:AssumeRoot, sessionContext.assumedRoot);
	// it ranks before credential-change: deleting root credentials is what such sessions are for.
	CategoryAssumedRoot Category = "assumed-root"
	// CategoryCredentialChange changes root credentials: password, access keys, MFA devices, signing certificates.
	CategoryCredentialChange Category = "credential-change"
	// CategoryDenied is a root API call that AWS refused (errorCode is an access-denied code).
	CategoryDenied Category = "denied"
	// CategoryMutating is any other root API call that may change state.
	CategoryMutating Category = "api-mutating"
	// CategoryReadOnly is any other root API call that only reads.
	CategoryReadOnly Category = "api-read"

	// CategorySessionIssued is a successful sts:AssumeRoot call (rule
	// root-session-issued): a centralised-root session was opened. It is
	// not root activity.
	CategorySessionIssued Category = "root-session-issued"
	// CategorySessionFailed is an sts:AssumeRoot call that failed (any
	// errorCode): someone tried to open a centralised-root session.
	CategorySessionFailed Category = "root-session-failed"
)

// Severity orders findings for routing and paging.
type Severity string

// The severities, most urgent first.
const (
	SeverityCritical Severity = "critical"
	SeverityHigh     Severity = "high"
	SeverityMedium   Severity = "medium"
	SeverityLow      Severity = "low"
)

// SeverityRank orders severities: critical is 4, low is 1, unknown is 0.
func SeverityRank(s Severity) int {
	switch s {
	case SeverityCritical:
		return 4
	case SeverityHigh:
		return 3
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// Rule names the rule a finding was made under. Only RuleCISRoot is root
// activity; every other rule marks context that travels on the same topic
// (so alert can use it) but is never counted as root use.
type Rule string

// The rules (docs/rule.md).
const (
	// RuleCISRoot is root activity under the CIS rule.
	RuleCISRoot Rule = "cis-root"
	// RuleRootSessionIssued is an sts:AssumeRoot call: who opened a
	// centralised-root session. It is not root activity.
	RuleRootSessionIssued Rule = "root-session-issued"
)

// Path says how a finding reached rootwatch.
type Path string

// The paths.
const (
	// PathS3 is a record read from a CloudTrail log file (S3 notification,
	// backfill or a local file): complete, minutes late.
	PathS3 Path = "s3"
	// PathEventBridge is a record delivered as an EventBridge event:
	// seconds late, best effort.
	PathEventBridge Path = "eventbridge"
)

// ObjectRef names the S3 object (or local file) a record was read from, so a
// finding can be traced back and replayed.
type ObjectRef struct {
	Bucket string `json:"bucket,omitempty"`
	Key    string `json:"key"`
}

// Finding is one root-activity record, extracted and classified. It is the
// value of the cloudtrail.root-activity topic and the line format of
// `ingest --sink stdout`; its JSON field names are a contract (docs/architecture.md, docs/rule.md).
type Finding struct {
	EventID         string    `json:"eventID"`
	EventTime       time.Time `json:"eventTime"`
	AccountID       string    `json:"accountId"`
	Region          string    `json:"region"`
	EventSource     string    `json:"eventSource"`
	EventName       string    `json:"eventName"`
	EventType       string    `json:"eventType"`
	SourceIPAddress string    `json:"sourceIPAddress"`
	UserAgent       string    `json:"userAgent"`
	// Rule is the rule the finding was made under; only RuleCISRoot is root activity.
	Rule Rule `json:"rule"`
	// Path is how the record arrived (PathS3 or PathEventBridge).
	Path         Path     `json:"path"`
	Category     Category `json:"category"`
	Severity     Severity `json:"severity"`
	MFAUsed      bool     `json:"mfaUsed"`
	ReadOnly     bool     `json:"readOnly"`
	ErrorCode    string   `json:"errorCode,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	// AssumedRoot is true for centralised-root-access sessions (sts:AssumeRoot).
	AssumedRoot bool `json:"assumedRoot"`
	// PrincipalARN is userIdentity.arn, e.g. arn:aws:iam::123456789012:root.
	PrincipalARN string `json:"principalArn,omitempty"`
	// AccessKeyID is userIdentity.accessKeyId. On the actions of a
	// centralised-root session (assumedRoot) it is the key the session's
	// sts:AssumeRoot call issued: the key alert joins the two by.
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// Session is the centralised-root session: on a root-session-issued
	// finding, the one its sts:AssumeRoot call opened (or tried to); on an
	// assumed-root finding, the one its action belongs to, set by alert
	// once it knows who opened it (docs/alert.md).
	Session *Session `json:"session,omitempty"`
	// Insight is true when the record came from a CloudTrail-Insight file.
	Insight    bool      `json:"insight,omitempty"`
	Object     ObjectRef `json:"object"`
	DetectedAt time.Time `json:"detectedAt"`
	// Record is the CloudTrail record itself, as valid UTF-8 JSON (invalid
	// bytes in its strings written as \ufffd). It is left out of a finding
	// when larger than MaxEmbeddedRecord (RecordTruncated says so; the
	// record stays in its log file, Object, and on cloudtrail.records), and
	// alert never forwards it.
	Record json.RawMessage `json:"record,omitempty"`
	// RecordTruncated is true when Record was left out for its size;
	// RecordBytes is then the record's size in the log file.
	RecordTruncated bool `json:"recordTruncated,omitempty"`
	RecordBytes     int  `json:"recordBytes,omitempty"`
}

// Session is a centralised-root session as its sts:AssumeRoot call
// (eventSource sts.amazonaws.com, in the management or delegated
// administrator account) records it: who opened it, from where, for which
// member account and task policy, and the access key the member account's
// records of the session carry.
type Session struct {
	// AccessKeyID is responseElements.credentials.accessKeyId: the key the
	// session's actions are signed with (empty when the call failed).
	AccessKeyID string `json:"accessKeyId,omitempty"`
	// CallerARN, CallerAccountID, CallerSourceIP and CallerUserAgent are
	// the AssumeRoot call's userIdentity.arn, account, sourceIPAddress and
	// userAgent: the person or automation behind the session.
	CallerARN       string `json:"callerArn"`
	CallerAccountID string `json:"callerAccountId"`
	CallerSourceIP  string `json:"callerSourceIPAddress"`
	CallerUserAgent string `json:"callerUserAgent,omitempty"`
	// TargetAccountID is requestParameters.targetPrincipal (an account id,
	// or the account of a principal ARN): the member account.
	TargetAccountID string `json:"targetAccountId,omitempty"`
	// TaskPolicyARN is requestParameters.taskPolicyArn.arn, e.g.
	// arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy.
	TaskPolicyARN string `json:"taskPolicyArn,omitempty"`
	// IssuedAt is the AssumeRoot call's eventTime, IssueEventID its eventID.
	IssuedAt     time.Time `json:"issuedAt"`
	IssueEventID string    `json:"issueEventID"`
	// Expiration is responseElements.credentials.expiration (zero when the
	// call failed or the value could not be read).
	Expiration time.Time `json:"expiration,omitzero"`
}

// TaskPolicy is the task policy's name: the part of TaskPolicyARN after
// its last "/" (S3UnlockBucketPolicy), or the value as given when it has
// none.
func (s *Session) TaskPolicy() string { return TaskPolicyName(s.TaskPolicyARN) }

// TaskPolicyName is the name of a task policy given as an ARN
// (arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy) or as a name.
func TaskPolicyName(arnOrName string) string {
	if i := strings.LastIndexByte(arnOrName, '/'); i >= 0 {
		return arnOrName[i+1:]
	}
	return arnOrName
}

// Size bounds of a finding, so that every finding ingest writes is a line
// alert can read whatever the record: CloudTrail records are a few KB, so
// only a forged or damaged record is ever left out.
const (
	// MaxEmbeddedRecord is the largest record embedded in a finding.
	MaxEmbeddedRecord = 1 << 20
	// MaxFieldBytes bounds each string field copied from the record
	// (userAgent, errorMessage, ...); a longer value is cut on a rune
	// boundary and ends with FieldTruncMarker.
	MaxFieldBytes = 64 << 10
	// MaxLineBytes bounds one encoded finding: every field at MaxFieldBytes
	// and the record at MaxEmbeddedRecord, each JSON-escaped at worst six
	// bytes per byte (\u003c), stays below it.
	MaxLineBytes = 16 << 20
)

// FieldTruncMarker ends a field value that was cut at MaxFieldBytes.
const FieldTruncMarker = "…(truncated)"

// Validate reports why f cannot be processed as a finding: it must name
// its event and account, and its severity, category, rule and path must be
// ones this version knows (a finding is shown to people and routed by
// them, so an unknown value is refused, never displayed). An empty rule is
// an older producer's finding and means RuleCISRoot; an empty path means
// PathS3.
func (f *Finding) Validate() error {
	var errs []error
	if f.EventID == "" {
		errs = append(errs, errors.New("no eventID"))
	}
	if f.AccountID == "" {
		errs = append(errs, errors.New("no accountId"))
	}
	if SeverityRank(f.Severity) == 0 {
		errs = append(errs, fmt.Errorf("unknown severity %s", quoteShort(string(f.Severity))))
	}
	if !knownCategories[f.Category] {
		errs = append(errs, fmt.Errorf("unknown category %s", quoteShort(string(f.Category))))
	}
	switch f.Rule {
	case "", RuleCISRoot:
		if sessionCategories[f.Category] {
			errs = append(errs, fmt.Errorf("category %s is not root activity (rule %s)", f.Category, RuleRootSessionIssued))
		}
	case RuleRootSessionIssued:
		if knownCategories[f.Category] && !sessionCategories[f.Category] {
			errs = append(errs, fmt.Errorf("category %s is root activity, not rule %s", f.Category, RuleRootSessionIssued))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown rule %s", quoteShort(string(f.Rule))))
	}
	switch f.Path {
	case "", PathS3, PathEventBridge:
	default:
		errs = append(errs, fmt.Errorf("unknown path %s", quoteShort(string(f.Path))))
	}
	return errors.Join(errs...)
}

var knownCategories = map[Category]bool{
	CategoryConsoleLogin: true, CategoryConsoleLoginFailed: true, CategoryAssumedRoot: true,
	CategoryCredentialChange: true, CategoryDenied: true, CategoryMutating: true, CategoryReadOnly: true,
	CategorySessionIssued: true, CategorySessionFailed: true,
}

// sessionCategories are the categories of rule root-session-issued.
var sessionCategories = map[Category]bool{CategorySessionIssued: true, CategorySessionFailed: true}

// quoteShort quotes an untrusted value for an error message, at most 40
// bytes of it, with every non-printable character escaped.
func quoteShort(s string) string {
	if len(s) > 40 {
		cut := 40
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		return fmt.Sprintf("%+q…", s[:cut])
	}
	return fmt.Sprintf("%+q", s)
}

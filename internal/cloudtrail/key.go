package cloudtrail

import (
	"strings"
	"time"
)

// FileKind tells a log file from the other files CloudTrail writes.
type FileKind string

// The file kinds in AWSLogs/[o-id/]<account>/<kind>/<region>/YYYY/MM/DD/.
const (
	KindLog     FileKind = "CloudTrail"
	KindDigest  FileKind = "CloudTrail-Digest"
	KindInsight FileKind = "CloudTrail-Insight"
)

// Key is what an object key in AWS's CloudTrail layout says about the file.
type Key struct {
	// Prefix is whatever precedes "AWSLogs/" (the trail's S3 key prefix), with its trailing slash.
	Prefix  string
	OrgID   string // "o-xxxxxxxxxx" for organisation trails, else ""
	Account string
	Kind    FileKind
	Region  string
	Date    time.Time // UTC midnight of the YYYY/MM/DD folder
	File    string    // the base name
}

// ParseKey recognises AWSLogs/[o-id/]<account>/CloudTrail[-Digest|-Insight]/<region>/YYYY/MM/DD/<file>
// anywhere in key (after an optional trail prefix). ok is false for keys in
// any other layout; such files may still be read, they just carry no metadata.
func ParseKey(key string) (k Key, ok bool) {
	i := strings.Index(key, "AWSLogs/")
	if i < 0 || (i > 0 && key[i-1] != '/') {
		return Key{}, false
	}
	k.Prefix = key[:i]
	parts := strings.Split(key[i+len("AWSLogs/"):], "/")
	if len(parts) > 0 && strings.HasPrefix(parts[0], "o-") {
		k.OrgID = parts[0]
		parts = parts[1:]
	}
	if len(parts) != 7 {
		return Key{}, false
	}
	if !isAccount(parts[0]) {
		return Key{}, false
	}
	k.Account = parts[0]
	switch FileKind(parts[1]) {
	case KindLog, KindDigest, KindInsight:
		k.Kind = FileKind(parts[1])
	default:
		return Key{}, false
	}
	k.Region = parts[2]
	d, err := time.Parse("2006/01/02", parts[3]+"/"+parts[4]+"/"+parts[5])
	if err != nil || k.Region == "" || parts[6] == "" {
		return Key{}, false
	}
	k.Date = d
	k.File = parts[6]
	return k, true
}

// IsDigest reports whether key (an object key or a slash-separated path)
// names a CloudTrail digest file (no Records; read only for integrity
// validation), by layout or by AWS's file naming. It is the one digest
// rule: notifications, backfill listings, local walks and the audit all
// skip digest files by it.
func IsDigest(key string) bool { return isKind(key, KindDigest) }

// IsInsight reports whether key names a CloudTrail Insights file (records
// of unusual API activity, not API calls), by layout or by AWS's file naming.
func IsInsight(key string) bool { return isKind(key, KindInsight) }

func isKind(key string, kind FileKind) bool {
	if k, ok := ParseKey(key); ok {
		return k.Kind == kind
	}
	return strings.Contains(key, "/"+string(kind)+"/") || strings.Contains(key, "_"+string(kind)+"_")
}

func isAccount(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

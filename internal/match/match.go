// Package match decides, on a record's raw bytes, whether it is root
// activity (the CIS AWS Foundations rule in ARCHITECTURE.md), and classifies
// it into a Finding. The non-matching path does not allocate.
package match

import "time"

// IsRoot reports whether raw (one CloudTrail record) is root activity.
func IsRoot(raw []byte) bool { return false }

// Find returns the Finding for raw when it is root activity. obj names where
// the record came from; detectedAt is stamped on the finding.
func Find(raw []byte, obj ObjectRef, detectedAt time.Time) (Finding, bool) {
	return Finding{}, false
}

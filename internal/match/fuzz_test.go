package match

import (
	"encoding/json"
	"rootwatch/internal/fixtures"
	"testing"
	"time"
)

// FuzzMatch: the matcher never panics, and on records without duplicate
// keys or gratuitous escapes (json.Marshal's canonical form) it agrees with
// the rule applied by encoding/json.
func FuzzMatch(f *testing.F) {
	for _, fx := range append(append([]fixtures.Record(nil), fixtures.Records...), fixtures.SessionRecords...) {
		if len(fx.JSON) < 4096 {
			f.Add([]byte(fx.JSON))
		}
	}
	f.Add([]byte(`{"userIdentity":{"type":"Root","invokedBy":null},"eventType":"AwsServiceEvent"}`))
	f.Add([]byte(`{"userIdentity":{"type":"Root"}`))
	f.Add([]byte(`"Root"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if Matches(raw) != (IsRoot(raw) || IsSessionIssue(raw)) {
			t.Fatalf("Matches disagrees with IsRoot || IsSessionIssue on %q", raw)
		}
		Find(raw, ObjectRef{}, time.Time{})
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return
		}
		canon, err := json.Marshal(m)
		if err != nil {
			return
		}
		if got, want := IsRoot(canon), ruleWithEncodingJSON(t, canon); got != want {
			t.Fatalf("IsRoot(%s) = %v, the rule says %v", canon, got, want)
		}
		if got, want := IsSessionIssue(canon), sessionWithEncodingJSON(t, canon); got != want {
			t.Fatalf("IsSessionIssue(%s) = %v, the rule says %v", canon, got, want)
		}
		if f, ok := Find(canon, ObjectRef{}, time.Time{}); ok && (f.Category == "" || f.Severity == "") {
			t.Fatalf("unclassified finding for %s", canon)
		}
	})
}

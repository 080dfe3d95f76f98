package match

import (
	"testing"
	"time"

	"rootwatch/internal/fixtures"
)

// The records EventBridge carries (the documented event shapes in
// internal/fixtures) are labelled by the rule, checked here against the
// matcher and the encoding/json version of the rule: a service event is
// never root activity, even when it names the root identity, and an
// assumed-root session action is ordinary cis-root activity.
func TestEventBridgeFixtureRecords(t *testing.T) {
	for _, ev := range fixtures.Events {
		t.Run(ev.Name, func(t *testing.T) {
			raw := []byte(ev.Detail())
			if got := ruleWithEncodingJSON(t, raw); got != ev.Root {
				t.Fatalf("fixture label %v disagrees with the rule applied by encoding/json (%v)", ev.Root, got)
			}
			f, ok := Find(raw, ObjectRef{}, time.Now())
			if ok != ev.Root {
				t.Fatalf("Find ok = %v, want %v", ok, ev.Root)
			}
			if ok && (f.Rule != RuleCISRoot || f.Category != Category(ev.Category) || f.Severity != Severity(ev.Severity) || f.EventID != ev.EventID()) {
				t.Errorf("finding %s %s/%s %s, want cis-root %s/%s %s", f.Rule, f.Category, f.Severity, f.EventID, ev.Category, ev.Severity, ev.EventID())
			}
		})
	}
}

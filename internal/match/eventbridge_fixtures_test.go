package match

import (
	"testing"
	"time"

	"rootwatch/internal/fixtures"
)

// The records EventBridge carries (the documented event shapes in
// internal/fixtures) are labelled by the rule, checked here against the
// matcher and the encoding/json version of the rule: a service event is
// never root activity, even when it names the root identity; an
// assumed-root session action is ordinary cis-root activity; an
// sts:AssumeRoot call, successful or failed, is a root-session-issued
// finding and never root activity; a call that merely mentions AssumeRoot
// is nothing.
func TestEventBridgeFixtureRecords(t *testing.T) {
	rules := map[Rule]int{}
	for _, ev := range fixtures.Events {
		t.Run(ev.Name, func(t *testing.T) {
			raw := []byte(ev.Detail())
			if ev.Root != (ev.Rule == string(RuleCISRoot)) {
				t.Fatalf("fixture says root %v under rule %q", ev.Root, ev.Rule)
			}
			if got := ruleWithEncodingJSON(t, raw); got != ev.Root {
				t.Fatalf("fixture label %v disagrees with the rule applied by encoding/json (%v)", ev.Root, got)
			}
			if got := IsRoot(raw); got != ev.Root {
				t.Fatalf("IsRoot = %v, want %v", got, ev.Root)
			}
			if got := IsSessionIssue(raw); got != (ev.Rule == string(RuleRootSessionIssued)) {
				t.Fatalf("IsSessionIssue = %v, want rule %q", got, ev.Rule)
			}
			f, ok := Find(raw, ObjectRef{}, time.Now())
			if want := ev.Rule != ""; ok != want || Matches(raw) != want {
				t.Fatalf("Find ok = %v, Matches = %v, want %v", ok, Matches(raw), want)
			}
			if !ok {
				return
			}
			rules[f.Rule]++
			if f.Rule != Rule(ev.Rule) || f.Category != Category(ev.Category) || f.Severity != Severity(ev.Severity) || f.EventID != ev.EventID() {
				t.Errorf("finding %s %s/%s %s, want %s %s/%s %s", f.Rule, f.Category, f.Severity, f.EventID, ev.Rule, ev.Category, ev.Severity, ev.EventID())
			}
			if err := f.Validate(); err != nil {
				t.Errorf("finding does not validate: %v", err)
			}
			if f.Rule == RuleRootSessionIssued && (f.Session == nil || f.Session.TargetAccountID != fixtures.MemberAccount || f.AssumedRoot) {
				t.Errorf("AssumeRoot finding: session %+v, assumedRoot %v; want the member account's session, not a root action", f.Session, f.AssumedRoot)
			}
		})
	}
	if rules[RuleCISRoot] < 4 || rules[RuleRootSessionIssued] < 2 {
		t.Errorf("findings by rule %v: the fixtures lost their root activity or their AssumeRoot calls", rules)
	}
}

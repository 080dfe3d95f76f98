package audit_test

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"
)

// TestPolicyGrantsWhatTheAuditCalls checks deploy/iam/audit-policy.json against
// the calls an organisation audit makes (recorded by the fake endpoint):
// every call but sts:GetCallerIdentity (which needs no permission) is
// allowed, and nothing beyond those and the --from-logs S3 reads is.
func TestPolicyGrantsWhatTheAuditCalls(t *testing.T) {
	b, err := os.ReadFile("../../deploy/iam/audit-policy.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   any
			Resource any
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Version != "2012-10-17" {
		t.Errorf("Version %q", doc.Version)
	}
	granted := map[string]bool{}
	for _, s := range doc.Statement {
		if s.Effect != "Allow" {
			t.Errorf("unexpected effect %q", s.Effect)
		}
		switch a := s.Action.(type) {
		case string:
			granted[a] = true
		case []any:
			for _, x := range a {
				granted[x.(string)] = true
			}
		}
	}
	for a := range granted {
		if strings.Contains(a, "*") {
			t.Errorf("wildcard action %q is not least privilege", a)
		}
	}

	// The calls, as the SDK makes them against the fake (see TestAuditOrganisation).
	used := map[string]bool{}
	_, calls := orgAuditCalls(t)
	for _, c := range calls {
		if c.Service == "sts" && c.Action == "GetCallerIdentity" {
			continue
		}
		used[c.Service+":"+c.Action] = true
	}
	used["s3:ListBucket"], used["s3:GetObject"] = true, true // --from-logs s3://
	var missing, extra []string
	for a := range used {
		if !granted[a] {
			missing = append(missing, a)
		}
	}
	for a := range granted {
		if !used[a] {
			extra = append(extra, a)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("policy missing %v, grants unused %v", missing, extra)
	}
}

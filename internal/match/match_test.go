package match

import (
	"encoding/json"
	"errors"
	"io"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/testutil"
	"testing"
	"time"

	"rootwatch/internal/cloudtrail"
)

func TestFixturesAreValidJSON(t *testing.T) {
	for _, f := range fixtures.Records {
		if !json.Valid([]byte(f.JSON)) {
			t.Fatalf("%s: fixture is not valid JSON", f.Name)
		}
	}
}

func TestRule(t *testing.T) {
	now := time.Date(2024, 5, 2, 10, 16, 0, 0, time.UTC)
	for _, fx := range fixtures.Records {
		t.Run(fx.Name, func(t *testing.T) {
			if got := IsRoot([]byte(fx.JSON)); got != fx.Root {
				t.Fatalf("IsRoot = %v, want %v", got, fx.Root)
			}
			if got := ruleWithEncodingJSON(t, []byte(fx.JSON)); got != fx.Root {
				t.Fatalf("fixture label %v disagrees with the rule applied by encoding/json (%v)", fx.Root, got)
			}
			f, ok := Find([]byte(fx.JSON), ObjectRef{Bucket: "b", Key: "k"}, now)
			if ok != fx.Root {
				t.Fatalf("Find ok = %v", ok)
			}
			if !ok {
				return
			}
			if f.Category != Category(fx.Category) || f.Severity != Severity(fx.Severity) {
				t.Errorf("classified %s/%s, want %s/%s", f.Category, f.Severity, Category(fx.Category), Severity(fx.Severity))
			}
			if f.MFAUsed != fx.MFA {
				t.Errorf("mfaUsed = %v, want %v", f.MFAUsed, fx.MFA)
			}
			if f.ReadOnly != fx.ReadOnly {
				t.Errorf("readOnly = %v, want %v", f.ReadOnly, fx.ReadOnly)
			}
			if string(f.Record) != fx.JSON {
				t.Errorf("record not embedded verbatim")
			}
			var generic map[string]any
			_ = json.Unmarshal([]byte(fx.JSON), &generic)
			if id, _ := generic["eventID"].(string); f.EventID != id {
				t.Errorf("eventID = %q, want %q", f.EventID, id)
			}
			if f.Object.Bucket != "b" || !f.DetectedAt.Equal(now) {
				t.Errorf("object/detectedAt not set: %+v", f.Object)
			}
		})
	}
}

// ruleWithEncodingJSON is the rule written the slow, obvious way, as an
// independent check of the fixtures' labels and of the fast matcher.
func ruleWithEncodingJSON(t testing.TB, raw []byte) bool {
	var r map[string]any
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("record is not JSON: %v", err)
	}
	ui, ok := r["userIdentity"].(map[string]any)
	if !ok {
		return false
	}
	if ui["type"] != "Root" {
		return false
	}
	if inv, present := ui["invokedBy"]; present && inv != nil {
		return false
	}
	return r["eventType"] != "AwsServiceEvent"
}

func TestFindingJSONShape(t *testing.T) {
	f, ok := Find([]byte(fixtures.Records[3].JSON), ObjectRef{Bucket: "trail", Key: "AWSLogs/x.json.gz"}, time.Now())
	if !ok {
		t.Fatal("fixture 3 must match")
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"eventID", "eventTime", "accountId", "region", "eventSource", "eventName", "eventType",
		"sourceIPAddress", "userAgent", "rule", "path", "category", "severity", "mfaUsed", "readOnly", "object", "detectedAt", "record"} {
		if _, ok := m[k]; !ok {
			t.Errorf("finding JSON lacks %q", k)
		}
	}
	if rec, _ := m["record"].(map[string]any); rec["eventName"] != "ConsoleLogin" {
		t.Errorf("record not embedded as an object: %v", m["record"])
	}
	if m["rule"] != string(RuleCISRoot) || m["path"] != string(PathS3) {
		t.Errorf("rule/path: %v %v", m["rule"], m["path"])
	}
	if m["accountId"] != fixtures.Account || m["region"] != "us-east-1" {
		t.Errorf("account/region: %v %v", m["accountId"], m["region"])
	}
}

func TestNoAllocationOnNonMatchingPath(t *testing.T) {
	for _, fx := range fixtures.Records {
		if fx.Root {
			continue
		}
		raw := []byte(fx.JSON)
		if n := testing.AllocsPerRun(100, func() { IsRoot(raw) }); n != 0 {
			t.Errorf("%s: %v allocations per non-matching record", fx.Name, n)
		}
	}
}

func TestRealFilesHaveNoRootActivity(t *testing.T) {
	_, files := testutil.RealCloudTrailFiles(t)
	n := 0
	for _, path := range files {
		r, err := cloudtrail.OpenFile(path, cloudtrail.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			n++
			if IsRoot(raw) != ruleWithEncodingJSON(t, raw) {
				t.Fatalf("%s: matcher and encoding/json rule disagree on %s", path, raw)
			}
			if IsRoot(raw) {
				t.Errorf("%s: unexpected root finding %s", path, raw)
			}
		}
		r.Close()
	}
	if n < 1000 {
		t.Fatalf("only %d records read", n)
	}
}

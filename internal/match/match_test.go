package match

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"rootwatch/internal/cloudtrail"
)

func TestFixturesAreValidJSON(t *testing.T) {
	for _, f := range fixtures {
		if !json.Valid([]byte(f.record)) {
			t.Fatalf("%s: fixture is not valid JSON", f.name)
		}
	}
}

func TestRule(t *testing.T) {
	now := time.Date(2024, 5, 2, 10, 16, 0, 0, time.UTC)
	for _, fx := range fixtures {
		t.Run(fx.name, func(t *testing.T) {
			if got := IsRoot([]byte(fx.record)); got != fx.root {
				t.Fatalf("IsRoot = %v, want %v", got, fx.root)
			}
			if got := ruleWithEncodingJSON(t, []byte(fx.record)); got != fx.root {
				t.Fatalf("fixture label %v disagrees with the rule applied by encoding/json (%v)", fx.root, got)
			}
			f, ok := Find([]byte(fx.record), ObjectRef{Bucket: "b", Key: "k"}, now)
			if ok != fx.root {
				t.Fatalf("Find ok = %v", ok)
			}
			if !ok {
				return
			}
			if f.Category != fx.category || f.Severity != fx.severity {
				t.Errorf("classified %s/%s, want %s/%s", f.Category, f.Severity, fx.category, fx.severity)
			}
			if f.MFAUsed != fx.mfa {
				t.Errorf("mfaUsed = %v, want %v", f.MFAUsed, fx.mfa)
			}
			if f.ReadOnly != fx.readOnly {
				t.Errorf("readOnly = %v, want %v", f.ReadOnly, fx.readOnly)
			}
			if string(f.Record) != fx.record {
				t.Errorf("record not embedded verbatim")
			}
			var generic map[string]any
			_ = json.Unmarshal([]byte(fx.record), &generic)
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
	f, ok := Find([]byte(fixtures[3].record), ObjectRef{Bucket: "trail", Key: "AWSLogs/x.json.gz"}, time.Now())
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
		"sourceIPAddress", "userAgent", "category", "severity", "mfaUsed", "readOnly", "object", "detectedAt", "record"} {
		if _, ok := m[k]; !ok {
			t.Errorf("finding JSON lacks %q", k)
		}
	}
	if rec, _ := m["record"].(map[string]any); rec["eventName"] != "ConsoleLogin" {
		t.Errorf("record not embedded as an object: %v", m["record"])
	}
	if m["accountId"] != acct || m["region"] != "us-east-1" {
		t.Errorf("account/region: %v %v", m["accountId"], m["region"])
	}
}

func TestNoAllocationOnNonMatchingPath(t *testing.T) {
	for _, fx := range fixtures {
		if fx.root {
			continue
		}
		raw := []byte(fx.record)
		if n := testing.AllocsPerRun(100, func() { IsRoot(raw) }); n != 0 {
			t.Errorf("%s: %v allocations per non-matching record", fx.name, n)
		}
	}
}

func TestRealFilesHaveNoRootActivity(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/testdata/cloudtrail-real/invictus/*.json")
	if len(files) == 0 {
		t.Skip("real CloudTrail files not present")
	}
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
	_ = os.Getenv
}

package match

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// rootRecord is a minimal root record whose userAgent is ua (raw JSON
// string content, already escaped as needed) and which carries extra
// top-level fields.
func rootRecord(ua, extra string) []byte {
	return []byte(`{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},` +
		`"eventTime":"2026-01-05T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"ListBuckets","awsRegion":"us-east-1",` +
		`"sourceIPAddress":"203.0.113.9","userAgent":"` + ua + `","eventID":"ev-1","eventType":"AwsApiCall","readOnly":true,` +
		`"recipientAccountId":"111122223333"` + extra + `}`)
}

// encode writes f the two ways ingest does: json.Marshal (Kafka) and an
// encoder without HTML escaping (--sink stdout).
func encode(t *testing.T, f Finding) [][]byte {
	t.Helper()
	a, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		t.Fatal(err)
	}
	return [][]byte{a, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
}

// A record with bytes that are not UTF-8 inside its strings gives a finding
// that is valid UTF-8 JSON, with U+FFFD where the bytes were, in the
// fields and in the embedded record.
func TestFindingOfInvalidUTF8IsValidJSON(t *testing.T) {
	raw := rootRecord("bad\xff\xfe agent \xc3", ",\"requestParameters\":{\"k\x80\":\"v\xed\xa0\x80\"}")
	if utf8.Valid(raw) {
		t.Fatal("test record should not be valid UTF-8")
	}
	f, ok := Find(raw, ObjectRef{Key: "k"}, time.Now())
	if !ok {
		t.Fatal("root record not matched")
	}
	if f.UserAgent != "bad\ufffd\ufffd agent \ufffd" {
		t.Errorf("userAgent = %q", f.UserAgent)
	}
	for _, b := range encode(t, f) {
		if !utf8.Valid(b) || !json.Valid(b) {
			t.Fatalf("finding is not valid UTF-8 JSON: %q", b)
		}
		var back Finding
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		var rec map[string]any
		if err := json.Unmarshal(back.Record, &rec); err != nil {
			t.Fatal(err)
		}
		if rec["userAgent"] != f.UserAgent || rec["requestParameters"].(map[string]any)["k\ufffd"] != "v\ufffd\ufffd\ufffd" {
			t.Errorf("record strings not repaired as expected: %v", rec)
		}
	}
	// Valid records keep their bytes exactly.
	good := rootRecord("aws-cli/2.15 \u00e9\u202e", "")
	f, _ = Find(good, ObjectRef{}, time.Now())
	if !bytes.Equal(f.Record, good) {
		t.Error("a valid record was changed")
	}
}

// A record larger than MaxEmbeddedRecord is left out of its finding, which
// says so; the fields are kept, each bounded to MaxFieldBytes.
func TestFindingOfHugeRecordIsBounded(t *testing.T) {
	ua := strings.Repeat("<", 6<<20) // escaped to \u003c: six bytes each
	raw := rootRecord(ua, `,"requestParameters":{"blob":"`+strings.Repeat("&", 6<<20)+`"}`)
	f, ok := Find(raw, ObjectRef{Bucket: "b", Key: "k"}, time.Now())
	if !ok {
		t.Fatal("root record not matched")
	}
	if f.Record != nil || !f.RecordTruncated || f.RecordBytes != len(raw) {
		t.Fatalf("record kept=%v truncated=%v bytes=%d (want %d)", f.Record != nil, f.RecordTruncated, f.RecordBytes, len(raw))
	}
	if len(f.UserAgent) > MaxFieldBytes || !strings.HasSuffix(f.UserAgent, FieldTruncMarker) || !strings.HasPrefix(f.UserAgent, "<<<<") {
		t.Errorf("userAgent not bounded: %d bytes", len(f.UserAgent))
	}
	if f.EventID != "ev-1" || f.AccountID != "111122223333" || f.EventName != "ListBuckets" {
		t.Errorf("small fields changed: %+v", f)
	}
	for _, b := range encode(t, f) {
		if len(b) > MaxLineBytes || !json.Valid(b) {
			t.Fatalf("encoded finding of %d bytes (limit %d), valid %v", len(b), MaxLineBytes, json.Valid(b))
		}
		if !bytes.Contains(b, []byte(`"recordTruncated":true`)) || bytes.Contains(b, []byte(`"record":`)) {
			t.Errorf("finding does not say the record was left out")
		}
	}

	// The worst case: a record just under the embedding limit whose every
	// byte is escaped six-fold, and fields at their bound.
	worst := rootRecord(strings.Repeat("<", MaxFieldBytes*2), `,"errorMessage":"`+strings.Repeat(">", MaxFieldBytes*2)+`"`)
	pad := MaxEmbeddedRecord - len(worst) - len(`,"x":""`)
	worst = rootRecord(strings.Repeat("<", MaxFieldBytes*2), `,"errorMessage":"`+strings.Repeat(">", MaxFieldBytes*2)+`","x":"`+strings.Repeat("&", pad)+`"`)
	f, _ = Find(worst, ObjectRef{}, time.Now())
	if f.Record == nil {
		t.Fatalf("record of %d bytes should be embedded", len(worst))
	}
	for _, b := range encode(t, f) {
		if len(b) > MaxLineBytes {
			t.Fatalf("worst-case finding encodes to %d bytes, over MaxLineBytes %d", len(b), MaxLineBytes)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Finding{EventID: "e", AccountID: "1", Severity: SeverityHigh, Category: CategoryMutating}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid finding: %v", err)
	}
	for r, c := range map[Rule]Category{RuleCISRoot: CategoryMutating, RuleRootSessionIssued: CategorySessionIssued} {
		f := ok
		f.Rule, f.Path, f.Category = r, PathEventBridge, c
		if err := f.Validate(); err != nil {
			t.Errorf("rule %s: %v", r, err)
		}
	}
	for name, c := range map[string]struct {
		mut  func(*Finding)
		want string
	}{
		"severity":    {func(f *Finding) { f.Severity = "ultra" }, `unknown severity "ultra"`},
		"category":    {func(f *Finding) { f.Category = "<!channel>" }, `unknown category "<!channel>"`},
		"compliance":  {func(f *Finding) { f.Category = "compliance" }, `unknown category "compliance"`},
		"rule":        {func(f *Finding) { f.Rule = "cis" }, `unknown rule "cis"`},
		"path":        {func(f *Finding) { f.Path = "ftp" }, `unknown path "ftp"`},
		"no event id": {func(f *Finding) { f.EventID = "" }, "no eventID"},
		"long":        {func(f *Finding) { f.Severity = Severity(strings.Repeat("\u202e", 100)) }, `"\u202e`},
	} {
		f := ok
		c.mut(&f)
		err := f.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
		if err != nil && len(err.Error()) > 400 {
			t.Errorf("%s: error of %d bytes echoes the value", name, len(err.Error()))
		}
	}
}

package audit_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"rootwatch/internal/audit"
	"rootwatch/internal/audit/fakeaws"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
)

func TestTrackerLastUse(t *testing.T) {
	tr := audit.NewTracker()
	base := now.Add(-10 * 24 * time.Hour)
	tr.Observe(match.Finding{AccountID: "111111111111", EventTime: base, EventName: "ListBuckets", Category: match.CategoryReadOnly, EventID: "a"})
	tr.Observe(match.Finding{AccountID: "111111111111", EventTime: now.Add(-3 * 24 * time.Hour), EventName: "ConsoleLogin", Category: match.CategoryConsoleLogin, EventID: "b"})
	tr.Observe(match.Finding{AccountID: "111111111111", EventTime: now.Add(-5 * 24 * time.Hour), EventName: "GetCallerIdentity", Category: match.CategoryReadOnly, EventID: "c"})
	// A failed sign-in is not a use, however recent.
	tr.Observe(match.Finding{AccountID: "222222222222", EventTime: now.Add(-time.Hour), EventName: "ConsoleLogin", Category: match.CategoryConsoleLoginFailed})
	tr.Observe(match.Finding{AccountID: "333333333333", EventTime: now.Add(-7 * 24 * time.Hour), EventName: "DeleteBucket", Category: match.CategoryMutating, AssumedRoot: true, EventID: "d"})
	tr.SawAccount("444444444444")
	tr.ReadError("logs/AWSLogs/444444444444/CloudTrail/us-east-1/2026/01/01/x.json.gz", errors.New("corrupt gzip"))
	tr.ReadError("elsewhere/x.json", errors.New("invalid JSON"))

	rs := tr.Results(now, 7)
	if len(rs) != 5 {
		t.Fatalf("%d results: %+v", len(rs), rs)
	}
	r := rs[0]
	if r.AccountID != "111111111111" || r.Status != audit.StatusFail || r.LastUsed.EventID != "b" || r.LastUsed.Credential != "console-login" || *r.DaysSince != 3 {
		t.Errorf("111: %+v %+v", r, r.LastUsed)
	}
	if r.Check(audit.CheckMFA).Status != audit.StatusUnknown || r.Source != "cloudtrail" {
		t.Errorf("logs cannot answer MFA: %+v", r.Checks)
	}
	if r := rs[1]; r.Status != audit.StatusPass || r.LastUsed != nil || !strings.Contains(r.Check(audit.CheckRootUsed).Detail, "1 failed root sign-in") {
		t.Errorf("222: %+v", r)
	}
	if r := rs[2]; r.Status != audit.StatusFail || r.LastUsed.Credential != "assumed-root" {
		t.Errorf("333 (exactly 7 days, boundary inside): %+v", r)
	}
	if r := rs[3]; r.Status != audit.StatusError || !strings.Contains(r.Error, "corrupt gzip") {
		t.Errorf("444: %+v", r)
	}
	if r := rs[4]; r.AccountID != "" || r.Status != audit.StatusError || !strings.Contains(r.Error, "elsewhere/x.json") {
		t.Errorf("unknown account: %+v", r)
	}
}

func TestParseS3URL(t *testing.T) {
	for in, want := range map[string][2]string{"s3://b/p/q/": {"b", "p/q/"}, "s3://b": {"b", ""}} {
		b, p, ok := audit.ParseS3URL(in)
		if !ok || b != want[0] || p != want[1] {
			t.Errorf("%s -> %s %s %v", in, b, p, ok)
		}
	}
	for _, in := range []string{"s3://", "/tmp/x", "s3:///p"} {
		if _, _, ok := audit.ParseS3URL(in); ok {
			t.Errorf("%s accepted", in)
		}
	}
}

func TestScanS3(t *testing.T) {
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	defer srv.Close()
	ctx := context.Background()
	cl := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")})
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("trail")}); err != nil {
		t.Fatal(err)
	}
	put := func(key string, body []byte) {
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("trail"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	realNow := time.Now().UTC()
	d3, d10 := realNow.Add(-3*24*time.Hour), realNow.Add(-10*24*time.Hour)
	put(fakeaws.LogKey("org/", "111111111111", d3, 1), fakeaws.LogFile(fakeaws.UserAPICall("111111111111", d3, "u1"), fakeaws.RootConsoleLogin("111111111111", d3, "r3")))
	put(fakeaws.LogKey("org/", "222222222222", d10, 1), fakeaws.LogFile(fakeaws.RootConsoleLogin("222222222222", d10, "r10")))
	put(fakeaws.LogKey("org/", "333333333333", d3, 1), fakeaws.LogFile(fakeaws.UserAPICall("333333333333", d3, "u2")))
	put(fakeaws.LogKey("org/", "444444444444", d3, 1), []byte("\x1f\x8b not really gzip"))
	put("org/AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/01/01/digest.json.gz", []byte("{}"))
	put("other/AWSLogs/555555555555/CloudTrail/us-east-1/2026/01/01/x.json.gz", fakeaws.LogFile(fakeaws.RootConsoleLogin("555555555555", d3, "outside")))

	tr := audit.NewTracker()
	if err := audit.ScanS3(ctx, cl, "trail", "org/", 2, tr, cloudtrail.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	rs := tr.Results(realNow, 7)
	got := map[string]audit.Result{}
	for _, r := range rs {
		got[r.AccountID] = r
	}
	if len(rs) != 4 {
		t.Fatalf("results %+v", rs)
	}
	if r := got["111111111111"]; r.Status != audit.StatusFail || r.LastUsed == nil || r.LastUsed.EventID != "r3" || *r.DaysSince != 3 {
		t.Errorf("111: %+v", r)
	}
	if r := got["222222222222"]; r.Status != audit.StatusPass || r.LastUsed == nil || r.LastUsed.EventID != "r10" || *r.DaysSince != 10 {
		t.Errorf("222: %+v", r)
	}
	if r := got["333333333333"]; r.Status != audit.StatusPass || r.LastUsed != nil {
		t.Errorf("333 (no root activity): %+v", r)
	}
	if r := got["444444444444"]; r.Status != audit.StatusError || !strings.Contains(r.Error, "s3://trail/org/AWSLogs/444444444444") {
		t.Errorf("444 (corrupt object): %+v", r)
	}
}

// scanImplemented skips when the lead's offline scan is still the stub.
// WriteLogTree writes a root sign-in 3 days old for 111111111111 and one
// 10 days old for 222222222222, in the AWSLogs layout under dir.
func writeLogTree(t *testing.T, dir string, at time.Time) {
	t.Helper()
	d3, d10 := at.Add(-3*24*time.Hour), at.Add(-10*24*time.Hour)
	files := map[string][]byte{
		fakeaws.LogKey("", "111111111111", d3, 1):  fakeaws.LogFile(fakeaws.UserAPICall("111111111111", d3, "u1"), fakeaws.RootConsoleLogin("111111111111", d3, "r3")),
		fakeaws.LogKey("", "222222222222", d10, 1): fakeaws.LogFile(fakeaws.RootConsoleLogin("222222222222", d10, "r10")),
	}
	if err := fixtures.WriteFiles(dir, files); err != nil {
		t.Fatal(err)
	}
}

func TestScanLocal(t *testing.T) {
	dir := t.TempDir()
	realNow := time.Now().UTC()
	writeLogTree(t, dir, realNow)
	tr := audit.NewTracker()
	if err := audit.ScanLocal(context.Background(), []string{dir}, tr, cloudtrail.Options{}, nil); err != nil {
		t.Fatal(err)
	}
	rs := tr.Results(realNow, 7)
	if len(rs) != 2 || rs[0].Status != audit.StatusFail || rs[1].Status != audit.StatusPass || rs[1].LastUsed == nil || rs[1].LastUsed.EventID != "r10" {
		t.Fatalf("results %+v", rs)
	}
}

package source

import (
	"reflect"
	"testing"
	"time"
)

func TestParseBackfillURL(t *testing.T) {
	now := time.Date(2026, 3, 4, 15, 0, 0, 0, time.UTC)
	d := func(s string) time.Time { v, _ := time.Parse("2006-01-02", s); return v }
	cases := []struct {
		in   string
		want Backfill
		bad  bool
	}{
		{in: "s3://b?from=2026-01-01", want: Backfill{Bucket: "b", From: d("2026-01-01"), To: d("2026-03-04")}},
		{in: "s3://b/trail?from=2026-01-01&to=2026-01-31&accounts=222222222222,111111111111&regions=us-east-1",
			want: Backfill{Bucket: "b", Prefix: "trail/", From: d("2026-01-01"), To: d("2026-01-31"), Accounts: []string{"111111111111", "222222222222"}, Regions: []string{"us-east-1"}}},
		{in: "s3://b/trail/AWSLogs/o-abc123/?from=2026-01-01&to=2026-01-01",
			want: Backfill{Bucket: "b", Prefix: "trail/", OrgID: "o-abc123", From: d("2026-01-01"), To: d("2026-01-01")}},
		{in: "s3://b/AWSLogs/123456789012/?from=2026-01-01&to=2026-01-02",
			want: Backfill{Bucket: "b", OrgID: "", Accounts: []string{"123456789012"}, From: d("2026-01-01"), To: d("2026-01-02")}},
		{in: "s3://b/", bad: true},
		{in: "s3://b/?from=2026-13-01", bad: true},
		{in: "s3://b/?from=2026-01-02&to=2026-01-01", bad: true},
		{in: "s3://b/?from=2026-01-01&accounts=12", bad: true},
		{in: "s3://b/?from=2026-01-01&since=x", bad: true},
		{in: "s3://b/AWSLogs/123456789012/CloudTrail/us-east-1/?from=2026-01-01", bad: true},
		{in: "sqs://q?from=2026-01-01", bad: true},
	}
	for _, c := range cases {
		got, err := ParseBackfillURL(c.in, now)
		if c.bad {
			if err == nil {
				t.Errorf("%s: no error, got %+v", c.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", c.in, got, err, c.want)
		}
	}
}

func TestPositionOrder(t *testing.T) {
	a := Position{Day: "2026/01/05", Account: "o-x/111111111111", Region: "us-east-1"}
	b := Position{Day: "2026/01/05", Account: "o-x/111111111111", Region: "us-west-2"}
	c := Position{Day: "2026/01/06", Account: "o-x/000000000000", Region: "af-south-1"}
	if a.Folder().Compare(b.Folder()) >= 0 || b.Folder().Compare(c.Folder()) >= 0 || a.Folder().Compare(a.Folder()) != 0 || c.Folder().Compare(a.Folder()) <= 0 {
		t.Error("folders are not ordered by day, account, region")
	}
}

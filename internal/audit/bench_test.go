package audit

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/match"
)

// BenchmarkParseReport parses a credential report of 5,000 IAM users with
// the root row last (the worst case: every row is read).
func BenchmarkParseReport(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n")
	for i := range 5000 {
		fmt.Fprintf(&sb, "user%d,arn:aws:iam::123456789012:user/user%d,2020-03-01T09:00:00+00:00,true,2026-01-05T09:00:00+00:00,2025-12-01T09:00:00+00:00,N/A,true,true,2025-06-01T09:00:00+00:00,2026-01-05T08:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n", i, i)
	}
	sb.WriteString("<root_account>,arn:aws:iam::123456789012:root,2015-01-01T00:00:00+00:00,not_supported,2026-01-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n")
	rep := []byte(sb.String())
	b.SetBytes(int64(len(rep)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseReport(rep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrackerObserve is the per-finding cost of the backfill tracker.
func BenchmarkTrackerObserve(b *testing.B) {
	t := NewTracker()
	f := match.Finding{AccountID: "123456789012", EventTime: time.Now(), EventName: "ListBuckets", Category: match.CategoryReadOnly}
	b.ReportAllocs()
	for b.Loop() {
		t.Observe(f)
	}
}

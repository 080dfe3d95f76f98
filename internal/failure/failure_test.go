package failure

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"rootwatch/internal/cloudtrail"
)

func TestClassify(t *testing.T) {
	netErr := errors.New("connection reset by peer")
	cases := []struct {
		name      string
		err       error
		reason    string
		permanent bool
	}{
		{"nil", nil, "", false},
		{"marked permanent", fmt.Errorf("get: %w", Permanent(ReasonAccessDenied, errors.New("403"))), ReasonAccessDenied, true},
		{"corrupt gzip", &cloudtrail.FormatError{Kind: cloudtrail.ErrCorrupt}, ReasonCorrupt, true},
		{"truncated", fmt.Errorf("read x: %w", &cloudtrail.FormatError{Kind: cloudtrail.ErrTruncated}), ReasonTruncated, true},
		{"syntax", &cloudtrail.FormatError{Kind: cloudtrail.ErrSyntax}, ReasonSyntax, true},
		{"not cloudtrail", &cloudtrail.FormatError{Kind: cloudtrail.ErrNotCloudTrail}, ReasonNotCloudTrail, true},
		{"record too large", &cloudtrail.FormatError{Kind: cloudtrail.ErrRecordTooLarge}, ReasonRecordTooLarge, true},
		{"object too large", &cloudtrail.FormatError{Kind: cloudtrail.ErrObjectTooLarge}, ReasonObjectTooLarge, true},
		// A network failure mid-body may look like a damaged file; marked transient, it is retried.
		{"marked transient", MarkTransient(fmt.Errorf("%w: %w", netErr, cloudtrail.ErrTruncated)), Transient, false},
		{"unknown", netErr, Transient, false},
		{"cancelled", fmt.Errorf("read: %w", context.Canceled), Shutdown, false},
		{"deadline", context.DeadlineExceeded, Shutdown, false},
		{"stopped", ErrShutdown, Shutdown, false},
		// Cancellation wins over what the last attempt said (backoff.Retry wraps both).
		{"cancelled while retrying a missing object", fmt.Errorf("%w (last error: %w)", context.Canceled, Permanent(ReasonObjectMissing, errors.New("404"))), Shutdown, false},
	}
	for _, c := range cases {
		r, p := Classify(c.err)
		if r != c.reason || p != c.permanent {
			t.Errorf("%s: Classify = %q, %v; want %q, %v", c.name, r, p, c.reason, c.permanent)
		}
	}
	if Permanent(ReasonCorrupt, nil) != nil || MarkTransient(nil) != nil {
		t.Error("marking nil must stay nil")
	}
	if !Is(Permanent(ReasonObjectMissing, netErr), ReasonObjectMissing) || Is(netErr, ReasonObjectMissing) {
		t.Error("Is")
	}
}

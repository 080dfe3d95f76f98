package pipeline_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/testutil"
)

// An S3 that answers a 5xx for a while (longer than the SDK's own retries)
// and then recovers must deliver the object in the end: the message is
// left for redelivery, never dropped or dead-lettered, whichever 5xx it is
// (500 InternalError as well as 503 SlowDown: a classification by one status
// must not hide the other).
func TestS3ServerErrorsThenRecovery(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusInternalServerError, "InternalError"},
		{http.StatusBadGateway, "BadGateway"},
		{http.StatusServiceUnavailable, "SlowDown"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			// The SDK tries a GetObject 3 times; failing 7 makes at least one
			// whole read fail past its retries before S3 recovers.
			const failures = 7
			var failed atomic.Int64
			e := newEnv(t, 30, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/AWSLogs/") && failed.Load() < failures {
						failed.Add(1)
						http.Error(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+tc.code+`</Code><Message>injected</Message></Error>`, tc.status)
						return
					}
					h.ServeHTTP(w, r)
				})
			})
			ls := e.logs(11, 1, 40, true)
			e.send(s3EventBody(bucket, ls.keys[0]))
			r := e.start(runOpts{backoff: 200 * time.Millisecond})
			checkRecords(t, e.kcfg, ls.all(), 60*time.Second)
			testutil.WaitFor(t, 30*time.Second, "message deleted", func() bool { return e.queued() == 0 })
			if n := failed.Load(); n < failures {
				t.Fatalf("S3 failed only %d GETs; the test proved nothing", n)
			}
			if v := value(r.metrics.MessagesReleased.WithLabelValues("transient")); v < 1 {
				t.Errorf("messages_released_total{reason=transient} = %v; the failure was not left for redelivery", v)
			}
			if v := total(r.metrics.MessagesDLQ); v != 0 {
				t.Errorf("%v dead-letter entries for a transient %d", v, tc.status)
			}
		})
	}
}

package source

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"rootwatch/internal/failure"
	"rootwatch/internal/source/s3test"
)

// TestS3OpenerAbandonsStalledBody: S3 sends the headers and part of the
// body, then nothing. The read must fail as a transient ErrS3Stalled (not
// as a shutdown), promptly after IdleTimeout, while a slow but moving body
// is read to the end.
func TestS3OpenerAbandonsStalledBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"Records":[`))
		w.(http.Flusher).Flush()
		if r.URL.Path == "/b/slow" {
			for i := 0; i < 88; i++ { // a byte every 20ms: slow, never idle for 300ms
				time.Sleep(20 * time.Millisecond)
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
			}
			return
		}
		<-r.Context().Done()
	}))
	defer srv.Close()
	o := S3Opener{Client: s3test.NewClient(srv.URL), IdleTimeout: 300 * time.Millisecond}

	body, err := o.Open("b", "stalled")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = io.ReadAll(body)
	body.Close()
	if !errors.Is(err, ErrS3Stalled) {
		t.Fatalf("read error %v, want ErrS3Stalled", err)
	}
	if reason, permanent := failure.Classify(err); permanent || reason != failure.Transient {
		t.Fatalf("classified %q permanent=%v, want transient", reason, permanent)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stall noticed only after %s", d)
	}

	body, err = o.Open("b", "slow")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || len(b) != 100 {
		t.Fatalf("slow body: %d bytes, %v", len(b), err)
	}
}

package source

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/failure"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/testutil"
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
			// A byte every 20ms: slow, never idle for 300ms.
			sw := &testutil.SlowWriter{ResponseWriter: w, Ctx: r.Context(), Chunk: 1, Pause: 20 * time.Millisecond}
			sw.Write(bytes.Repeat([]byte(" "), 88))
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

// TestS3OpenerMissingObject: an object S3 does not have yet is asked for
// again (it may appear: a notification can race the write), and after
// MissingRetries it is a permanent object-missing; a stop during the
// backoff is a shutdown, never a dead letter.
func TestS3OpenerMissingObject(t *testing.T) {
	var gets atomic.Int64
	srv := s3test.Start(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	srv.Bucket(t, "bkt")
	o := S3Opener{Client: srv.Client, MissingRetries: 2, MissingBackoff: time.Millisecond}

	_, err := o.Open("bkt", "never")(context.Background())
	if reason, permanent := failure.Classify(err); !permanent || reason != failure.ReasonObjectMissing {
		t.Fatalf("missing object: %q permanent=%v (%v)", reason, permanent, err)
	}
	if n := gets.Load(); n != 3 {
		t.Fatalf("%d GETs for a missing object with 2 retries, want 3", n)
	}

	// It appears while the opener backs off.
	gets.Store(0)
	slow := S3Opener{Client: srv.Client, MissingRetries: 5, MissingBackoff: 50 * time.Millisecond}
	type res struct {
		body io.ReadCloser
		err  error
	}
	done := make(chan res, 1)
	go func() { b, err := slow.Open("bkt", "late")(context.Background()); done <- res{b, err} }()
	testutil.WaitFor(t, 10*time.Second, "a first GET of the missing object", func() bool { return gets.Load() >= 1 })
	srv.Put(t, "bkt", "late", []byte(`{"Records":[]}`))
	r := <-done
	if r.err != nil {
		t.Fatalf("object that appeared: %v", r.err)
	}
	b, _ := io.ReadAll(r.body)
	r.body.Close()
	if string(b) != `{"Records":[]}` {
		t.Fatalf("body %q", b)
	}

	ctx, cancel := context.WithCancel(context.Background())
	gets.Store(0)
	go func() {
		testutil.WaitFor(t, 10*time.Second, "a first GET", func() bool { return gets.Load() >= 1 })
		cancel()
	}()
	_, err = S3Opener{Client: srv.Client, MissingRetries: 5, MissingBackoff: time.Hour}.Open("bkt", "never")(ctx)
	if reason, _ := failure.Classify(err); reason != failure.Shutdown {
		t.Fatalf("stopped while waiting to ask again: %q (%v), want shutdown", reason, err)
	}
}

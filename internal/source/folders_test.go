package source_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

// A backfill lists its day folders in parallel, never more than the
// concurrency at once (and that many when there is work), and Walk still
// hands their objects over in Position order, every one exactly once,
// however the folder listings finish.
func TestWalkListsFoldersInParallelBounded(t *testing.T) {
	const concurrency = 4
	regions := []string{"af-south-1", "ap-east-1", "ap-south-1", "ca-central-1", "eu-central-1", "eu-north-1",
		"eu-south-1", "eu-west-1", "me-south-1", "sa-east-1", "us-east-1", "us-west-2"}
	var (
		open, peak atomic.Int64
		arrived    = make(chan struct{}, 64)
		release    = make(chan struct{})
	)
	s := s3test.Start(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if !q.Has("list-type") || q.Get("delimiter") != "" { // not a folder listing
				h.ServeHTTP(w, r)
				return
			}
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			open.Add(-1)
			h.ServeHTTP(w, r)
		})
	})
	s.Bucket(t, "bkt")
	var want []string
	for _, r := range regions {
		for i := range 3 {
			k := fmt.Sprintf("AWSLogs/111111111111/CloudTrail/%s/2026/01/05/111111111111_CloudTrail_%s_20260105T00%d0Z_x.json.gz", r, r, i)
			s.Put(t, "bkt", k, []byte("x"))
			want = append(want, k)
		}
	}
	spec, err := source.ParseBackfillURL("s3://bkt/?from=2026-01-05&to=2026-01-05&accounts=111111111111", time.Now())
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		keys []string
		err  error
	}
	walked := make(chan result, 1)
	go func() {
		var r result
		r.err = spec.Walk(ctx, s.Client, source.Position{}, concurrency, func(l source.Listed) error {
			if l.Pos.Key != l.Object.Key {
				return fmt.Errorf("%s listed at position %+v", l.Object.Key, l.Pos)
			}
			r.keys = append(r.keys, l.Object.Key)
			return nil
		})
		walked <- r
	}()

	// Let the folder listings through one at a time once `concurrency`
	// are waiting, checking the bound at each arrival.
	for i := range regions {
		select {
		case <-arrived: // listing i counted itself in before it said so
		case <-ctx.Done():
			t.Fatalf("only %d folder listings started", i)
		}
		if n := open.Load(); n > concurrency {
			t.Fatalf("%d folders listed at once, want at most %d", n, concurrency)
		}
		if i >= concurrency-1 {
			release <- struct{}{}
		}
	}
	for range concurrency - 1 {
		release <- struct{}{}
	}
	r := <-walked
	if r.err != nil {
		t.Fatal(r.err)
	}
	if p := peak.Load(); p != concurrency {
		t.Errorf("at most %d folders were listed at once, want %d", p, concurrency)
	}
	if !slices.Equal(r.keys, want) {
		t.Errorf("walk gave %d keys, want the %d in Position order:\n got %q\nwant %q", len(r.keys), len(want), r.keys, want)
	}
}

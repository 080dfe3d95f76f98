package source_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

// listGate holds folder listings (LISTs without a delimiter) until
// release is closed, counting those in flight.
type listGate struct {
	open, peak atomic.Int64
	arrived    chan struct{} // one per listing that came in
	release    chan struct{}
}

func newListGate() *listGate {
	return &listGate{arrived: make(chan struct{}, 1000), release: make(chan struct{})}
}

func (g *listGate) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if !q.Has("list-type") || q.Get("delimiter") != "" { // not a folder listing
			h.ServeHTTP(w, r)
			return
		}
		n := g.open.Add(1)
		for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
		}
		g.arrived <- struct{}{} // after counting itself in
		select {
		case <-g.release:
		case <-r.Context().Done():
		}
		g.open.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// A FolderLister lists at most its concurrency of folders at once: with
// that many held, a further folder is not taken (its Submit gives up when
// its context ends); once they are let go, every folder is listed to its
// end.
func TestFolderListerBounded(t *testing.T) {
	const concurrency = 4
	g := newListGate()
	s := s3test.Start(t, g.wrap)
	s.Bucket(t, "bkt")
	for d := range 6 {
		s.Put(t, "bkt", fmt.Sprintf("AWSLogs/111111111111/CloudTrail/us-east-1/2026/01/%02d/x.json.gz", d+1), []byte("x"))
	}
	spec, err := source.ParseBackfillURL("s3://bkt/?from=2026-01-01&to=2026-01-06&accounts=111111111111&regions=us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := source.NewFolderLister(ctx, s.Client, spec, concurrency)
	var listed atomic.Int64
	done := make(chan error, 6)
	listing := func(day int) source.FolderListing {
		return source.FolderListing{Folder: source.Folder{Day: fmt.Sprintf("2026/01/%02d", day), Account: "111111111111", Region: "us-east-1"},
			Object: func(source.Listed) error { listed.Add(1); return nil }, Done: func(err error) { done <- err }}
	}
	for d := range concurrency {
		if err := l.Submit(ctx, listing(d+1)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range concurrency {
		select {
		case <-g.arrived:
		case <-ctx.Done():
			t.Fatalf("only %d folder listings started", i)
		}
	}
	// A Submit whose context has ended is taken only by a free lister (Go
	// picks at random between the two ready cases): try it often enough
	// that one free lister would have shown.
	extra, stop := context.WithCancel(ctx)
	stop()
	for range 20 {
		if err := l.Submit(extra, listing(concurrency+1)); !errors.Is(err, context.Canceled) {
			t.Fatalf("a folder beyond the %d being listed was taken: %v", concurrency, err)
		}
	}
	if n := g.open.Load(); n != concurrency {
		t.Fatalf("%d folders listed at once, want %d", n, concurrency)
	}
	close(g.release)
	if err := l.Submit(ctx, listing(6)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	close(done)
	n := 0
	for err := range done {
		if err != nil {
			t.Errorf("listing: %v", err)
		}
		n++
	}
	if n != concurrency+1 || listed.Load() != int64(concurrency+1) || g.peak.Load() > concurrency {
		t.Errorf("%d listings done, %d objects, at most %d at once; want %d, %d, at most %d", n, listed.Load(), g.peak.Load(), concurrency+1, concurrency+1, concurrency)
	}
}

// Walk lists the folders in parallel (the concurrency at once) and still
// hands their objects over in Position order, every one exactly once.
func TestWalkListsInParallelInOrder(t *testing.T) {
	const concurrency = 4
	regions := []string{"af-south-1", "ap-east-1", "ap-south-1", "ca-central-1", "eu-central-1", "eu-north-1",
		"eu-south-1", "eu-west-1", "me-south-1", "sa-east-1", "us-east-1", "us-west-2"}
	g := newListGate()
	s := s3test.Start(t, g.wrap)
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

	// Hold the listings until `concurrency` of them are in flight at once,
	// then let every listing through.
	for i := range concurrency {
		select {
		case <-g.arrived: // listing i counted itself in before it said so
		case <-ctx.Done():
			t.Fatalf("only %d folder listings started at once, want %d", i, concurrency)
		}
	}
	if n := g.open.Load(); n != concurrency {
		t.Fatalf("%d folders listed at once, want %d", n, concurrency)
	}
	close(g.release)
	r := <-walked
	if r.err != nil {
		t.Fatal(r.err)
	}
	if p := g.peak.Load(); p != concurrency {
		t.Errorf("at most %d folders were listed at once, want %d", p, concurrency)
	}
	if !slices.Equal(r.keys, want) {
		t.Errorf("walk gave %d keys, want the %d in Position order:\n got %q\nwant %q", len(r.keys), len(want), r.keys, want)
	}
}

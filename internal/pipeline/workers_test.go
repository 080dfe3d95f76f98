package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
)

// The I/O stage keeps at most S3InflightBytes of object bodies: with room
// for S3Inflight objects but memory for only budget/class of them, no more
// than that are opened at once, and the memory gauge never passes the
// budget; every object is read and its Done called once.
func TestWorkersBoundedByBytesInFlight(t *testing.T) {
	const (
		inflight = 64
		budget   = 256 << 10 // one object may be held up to budget/8 = 32 KiB
		size     = 20 << 10  // reserved as its 32 KiB buffer class: 8 fit
		fit      = budget / (32 << 10)
		objects  = 40
	)
	body := gz([]byte(`{"Records":[{"eventID":"e1","eventTime":"2026-01-05T00:00:00Z","recipientAccountId":"111122223333"}]}`))
	m := pipeline.NewMetrics(prometheus.NewRegistry())
	s := &memSink{}
	w := pipeline.NewWorkers(context.Background(), pipeline.Common{Sink: s, Metrics: m, Workers: 1, S3Inflight: inflight, S3InflightBytes: budget})

	var (
		open, peak atomic.Int64
		release    = make(chan struct{})
		opened     = make(chan struct{}, objects+1)
		done       sync.WaitGroup
		results    sync.Map
		doneTwice  atomic.Bool
	)
	opener := func() pipeline.Opener {
		return func(ctx context.Context) (io.ReadCloser, error) {
			n := open.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			opened <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			open.Add(-1)
			return io.NopCloser(bytes.NewReader(body)), nil
		}
	}
	submitAll := make(chan error, 1)
	go func() {
		for i := range objects {
			done.Add(1)
			ref := match.ObjectRef{Bucket: "b", Key: fmt.Sprintf("k%03d", i)}
			err := w.Submit(context.Background(), pipeline.Job{Ref: ref, Size: size, Open: opener(),
				Done: func(r pipeline.Result) {
					if _, dup := results.LoadOrStore(ref, r); dup {
						doneTwice.Store(true)
					}
					done.Done()
				}})
			if err != nil {
				submitAll <- err
				return
			}
		}
		submitAll <- nil
	}()

	// The first `fit` objects are opened; then the budget is spent, and
	// each further object is opened only once one before it was read and
	// gave its memory back: let them through one at a time, and count.
	for i := range objects {
		<-opened // opener i counted itself in before it said so
		if n := open.Load(); n > fit {
			t.Fatalf("%d objects open at once, want at most %d (the byte budget)", n, fit)
		}
		if i == fit-1 {
			if g := value(m.FetchBytes); g != budget {
				t.Fatalf("fetch_inflight_bytes %v with the budget spent, want %d", g, budget)
			}
		}
		if i >= fit-1 {
			release <- struct{}{} // one opener goes on
		}
	}
	for range fit - 1 {
		release <- struct{}{}
	}
	if err := <-submitAll; err != nil {
		t.Fatal(err)
	}
	done.Wait()
	w.Close()

	if p := peak.Load(); p > fit {
		t.Errorf("%d objects were opened at once; the byte budget allows %d", p, fit)
	}
	if g := value(m.FetchBytes); g != 0 {
		t.Errorf("fetch_inflight_bytes %v after every object was read, want 0", g)
	}
	if doneTwice.Load() {
		t.Error("a Job's Done was called twice")
	}
	n := 0
	results.Range(func(_, v any) bool {
		if r := v.(pipeline.Result); r.Err != nil {
			t.Errorf("%s: %v", pipeline.Name(r.Ref), r.Err)
		}
		n++
		return true
	})
	if n != objects {
		t.Errorf("%d objects done, want %d", n, objects)
	}
	if len(s.records) != objects {
		t.Errorf("%d records written, want %d", len(s.records), objects)
	}
}

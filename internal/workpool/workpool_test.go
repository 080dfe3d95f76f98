package workpool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestEveryJobRunsOnBoundedWorkers(t *testing.T) {
	const workers, jobs = 3, 200
	var running, peak, done atomic.Int64
	gate := make(chan struct{})
	p := New(context.Background(), workers, 2, func(_ context.Context, j int) {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		<-gate
		running.Add(-1)
		done.Add(1)
	}, nil)
	go func() {
		for range jobs {
			gate <- struct{}{}
		}
	}()
	for i := range jobs {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	if done.Load() != jobs {
		t.Fatalf("%d of %d jobs ran", done.Load(), jobs)
	}
	if peak.Load() > workers || peak.Load() < 1 {
		t.Fatalf("%d jobs ran at once, want at most %d", peak.Load(), workers)
	}
}

func TestQueuedJobsAreDroppedAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	release := make(chan struct{})
	var ran atomic.Int64
	var mu sync.Mutex
	var dropped []error
	p := New(ctx, 1, 5, func(_ context.Context, j int) {
		ran.Add(1)
		if j == 0 {
			close(started)
			<-release
		}
	}, func(_ int, err error) {
		mu.Lock()
		dropped = append(dropped, err)
		mu.Unlock()
	})
	for i := range 4 {
		if err := p.Submit(context.Background(), i); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	cancel()
	close(release)
	p.Close()
	if ran.Load() != 1 || len(dropped) != 3 {
		t.Fatalf("ran %d, dropped %d; want 1 and 3", ran.Load(), len(dropped))
	}
	for _, err := range dropped {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("dropped with %v", err)
		}
	}
}

func TestSubmitGivesUpWhenItsContextEnds(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	p := New(context.Background(), 1, 0, func(context.Context, int) { <-block }, nil)
	if err := p.Submit(context.Background(), 1); err != nil { // taken by the worker
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Submit(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("Submit to a busy pool with an ended context: %v", err)
	}
}

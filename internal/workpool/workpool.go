// Package workpool is rootwatch's one worker pool: a fixed number of
// goroutines fed by a bounded queue, so that however many jobs a source
// names, memory and concurrency stay bounded and a slow consumer slows the
// producer down instead of piling work up.
package workpool

import (
	"context"
	"sync"
)

// Pool runs jobs of type J on its workers.
type Pool[J any] struct {
	jobs chan J
	wg   sync.WaitGroup
}

// New starts workers goroutines (at least one) that call do for every job
// submitted, until Close. queue bounds the jobs waiting for a worker (0: a
// Submit waits for a free worker). Once ctx has ended, jobs still queued
// are handed to drop with the context's error instead of being run, so
// their owners always hear back; drop may be nil.
func New[J any](ctx context.Context, workers, queue int, do func(ctx context.Context, j J), drop func(j J, err error)) *Pool[J] {
	p := &Pool[J]{jobs: make(chan J, max(queue, 0))}
	for range max(workers, 1) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for j := range p.jobs {
				if err := ctx.Err(); err != nil {
					if drop != nil {
						drop(j, err)
					}
					continue
				}
				do(ctx, j)
			}
		}()
	}
	return p
}

// Submit queues j, waiting while the queue is full. When ctx ends first, j
// is not queued and the context's error is returned.
func (p *Pool[J]) Submit(ctx context.Context, j J) error {
	select {
	case p.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting jobs and waits until every queued job was run (or
// dropped). Submit must not be called after Close.
func (p *Pool[J]) Close() {
	close(p.jobs)
	p.wg.Wait()
}

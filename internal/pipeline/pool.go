package pipeline

import (
	"context"
	"sync"
)

// Pool runs a Processor on a fixed number of workers fed by a bounded
// queue, so memory stays bounded however many objects a source names.
type Pool struct {
	p    *Processor
	jobs chan Job
	wg   sync.WaitGroup
}

// NewPool starts workers that process jobs until Close; ctx cancels the
// object reads in progress (their jobs end with the context's error).
func NewPool(ctx context.Context, p *Processor, workers, queue int) *Pool {
	if workers < 1 {
		workers = 1
	}
	pl := &Pool{p: p, jobs: make(chan Job, max(queue, 0))}
	for range workers {
		pl.wg.Add(1)
		go func() {
			defer pl.wg.Done()
			for j := range pl.jobs {
				if ctx.Err() != nil {
					j.Done(Result{Ref: j.Ref, Err: ctx.Err()})
					continue
				}
				p.Process(ctx, j)
			}
		}()
	}
	return pl
}

// Submit queues a job, waiting while the queue is full. When ctx ends
// first, the job is not queued and the context's error is returned.
func (pl *Pool) Submit(ctx context.Context, j Job) error {
	select {
	case pl.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting jobs and waits until every queued job was read
// (their Done may still follow, as the sink acknowledges).
func (pl *Pool) Close() {
	close(pl.jobs)
	pl.wg.Wait()
}

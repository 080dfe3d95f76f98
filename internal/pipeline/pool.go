package pipeline

import (
	"context"

	"rootwatch/internal/match"
	"rootwatch/internal/workpool"
)

// Pool runs a Processor on a fixed number of workers fed by a bounded
// queue, so memory stays bounded however many objects a source names.
type Pool = workpool.Pool[Job]

// NewPool starts workers that process jobs until Close; ctx cancels the
// object reads in progress, and jobs still queued when it ends are not
// read (their Done hears the context's error).
func NewPool(ctx context.Context, p *Processor, workers, queue int) *Pool {
	return workpool.New(ctx, workers, queue, p.Process, func(j Job, err error) { j.Done(failed(j.Ref, err)) })
}

// submit queues j on pool; when that fails (ctx ended), j.Done hears why at once.
func submit(ctx context.Context, pool *Pool, j Job) {
	if err := pool.Submit(ctx, j); err != nil {
		j.Done(failed(j.Ref, err))
	}
}

// failed is the Result of an object that was not read because of err.
func failed(ref match.ObjectRef, err error) Result {
	return Result{Ref: ref, Err: &ObjectError{Object: Name(ref), Err: err}}
}

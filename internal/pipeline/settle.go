package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"rootwatch/internal/backoff"
	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/progress"
	"rootwatch/internal/source"
)

// Defaults of SettlerOptions.
const (
	// DefaultBackfillRetries is how often an object that failed
	// transiently is tried again before the run stops.
	DefaultBackfillRetries = 5
	// DefaultBackfillRetryBackoff is the first wait before trying an object
	// again; it doubles, up to 64 times itself.
	DefaultBackfillRetryBackoff = time.Second
)

// SettlerOptions configure a Settler.
type SettlerOptions struct {
	S3 source.S3Getter
	// Retries is how often an object that failed transiently is tried again
	// before the run must stop (default DefaultBackfillRetries), backing off
	// from RetryBackoff (default DefaultBackfillRetryBackoff).
	Retries      int
	RetryBackoff time.Duration
	// OnFatal, when set, is called with every error that must end the run
	// (an object whose retries are exhausted, a dead letter that could not be
	// written), from any goroutine; Err keeps the first.
	OnFatal func(error)
}

// Settler reads S3 objects of a finite listing — a backfill's, or a fleet
// worker's work item — and settles each the backfill's way, in one place:
// it is done once the sink acknowledged everything it produced; a permanent
// failure is dead-lettered, and then it is done; a transient one is tried
// again after a backoff, Retries times, and then ends the run (OnFatal);
// a read whose context ended is abandoned, neither done nor failed, for
// the next run to read again. Objects go through the run's I/O and CPU
// stages (Workers), so every run reads them the same way, within the same
// bounds (S3Inflight, S3InflightBytes, Workers).
type Settler struct {
	c        Common
	o        SettlerOptions
	work     context.Context // outlives the run's context by ShutdownGrace
	stop     context.CancelFunc
	workers  *Workers
	opener   source.S3Opener
	retry    backoff.Policy
	done     progress.Counters
	inflight sync.WaitGroup // reads not yet done

	mu  sync.Mutex
	err error
}

// NewSettler starts the stages. When ctx ends, reads in progress may go on
// for ShutdownGrace (Context), and are then abandoned.
func NewSettler(ctx context.Context, c Common, o SettlerOptions) *Settler {
	c.defaults()
	if o.Retries <= 0 {
		o.Retries = DefaultBackfillRetries
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultBackfillRetryBackoff
	}
	s := &Settler{c: c, o: o, opener: c.s3Opener(o.S3), retry: backoff.Policy{Base: o.RetryBackoff, Max: o.RetryBackoff << 6}}
	s.work, s.stop = c.workContext(ctx)
	s.workers = NewWorkers(s.work, c)
	return s
}

// Context is what reads run under: it ends ShutdownGrace after the run's
// context. A Read's context must be it or derived from it.
func (s *Settler) Context() context.Context { return s.work }

// Counters are what the settled reads came to so far.
func (s *Settler) Counters() *progress.Counters { return &s.done }

// ReadResult is what became of one Read.
type ReadResult struct {
	// Settled: everything the object produced was acknowledged, or it was
	// dead-lettered (DeadLettered). False: abandoned (its context ended,
	// or the run must stop: see Err).
	Settled, DeadLettered bool
	// Records, Findings and Bytes (decompressed) the reads of the object
	// produced, a failed attempt's partial output included; Stored is its
	// listed size when settled.
	Records, Findings, Bytes, Stored int64
}

// Read reads obj and calls done once, when it is settled or abandoned.
// item, when not empty, is the work item that named obj, kept in its dead
// letter.
func (s *Settler) Read(ctx context.Context, obj source.Object, item string, done func(ReadResult)) {
	s.inflight.Add(1)
	s.submit(ctx, obj, item, 0, &ReadResult{}, func(r ReadResult) {
		done(r)
		s.inflight.Done()
	})
}

func (s *Settler) submit(ctx context.Context, obj source.Object, item string, attempt int, acc *ReadResult, done func(ReadResult)) {
	ref := match.ObjectRef{Bucket: obj.Bucket, Key: obj.Key}
	open := s.opener.Open(ref.Bucket, ref.Key)
	submit(ctx, s.workers, Job{Ref: ref, Size: obj.Size,
		// The object is read under the Read's context, so ending it stops
		// the read itself, not only what waits to start.
		Open: func(context.Context) (io.ReadCloser, error) { return open(ctx) },
		Done: func(r Result) { s.settle(ctx, obj, item, attempt, r, acc, done) }})
}

// settle decides what becomes of an object once it was read and its
// output acknowledged: done, dead-lettered, retried after a backoff, or
// (retries exhausted, or the dead letter could not be written) the end of
// the run.
func (s *Settler) settle(ctx context.Context, obj source.Object, item string, attempt int, r Result, acc *ReadResult, done func(ReadResult)) {
	s.done.Records.Add(r.Records)
	s.done.Findings.Add(r.Findings)
	s.done.Bytes.Add(r.Bytes)
	acc.Records += r.Records
	acc.Findings += r.Findings
	acc.Bytes += r.Bytes
	if r.Err == nil {
		s.finished(obj, acc)
		done(*acc)
		return
	}
	name := Name(r.Ref)
	reason, permanent := failure.Classify(r.Err)
	switch {
	case permanent:
		e := objectEntry("s3", reason, r)
		e.Item = item
		if err := WriteDLQ(s.work, s.c.Sink, s.c.Metrics, e); err != nil {
			s.fail(err)
			done(*acc)
			return
		}
		s.c.Logger.Warn("object dead-lettered", "object", name, "reason", reason, "err", r.Err)
		s.done.DeadLettered.Add(1)
		acc.DeadLettered = true
		s.finished(obj, acc)
		done(*acc)
	case ctx.Err() != nil: // stopping: left for the next run
		done(*acc)
	case attempt >= s.o.Retries:
		s.fail(fmt.Errorf("backfill stopped: %w (after %d attempts)", r.Err, attempt+1))
		done(*acc)
	default:
		wait := s.retry.Delay(attempt)
		s.c.Logger.Warn("object failed; retrying", "object", name, "attempt", attempt+1, "retry_in", wait, "err", r.Err)
		go func() {
			if backoff.Sleep(ctx, wait) != nil {
				done(*acc)
				return
			}
			s.submit(ctx, obj, item, attempt+1, acc, done)
		}()
	}
}

// finished counts an object settled.
func (s *Settler) finished(obj source.Object, acc *ReadResult) {
	s.done.Objects.Add(1)
	s.done.Stored.Add(obj.Size)
	acc.Settled, acc.Stored = true, obj.Size
}

// fail records an error that ends the run and tells OnFatal.
func (s *Settler) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	if s.o.OnFatal != nil {
		s.o.OnFatal(err)
	}
}

// Err is the first error that ended the run, or nil.
func (s *Settler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close waits until every Read was done (ShutdownGrace after the run's
// context ended at most, plus the time to give up), and stops the stages.
func (s *Settler) Close() {
	s.inflight.Wait()
	s.workers.Close()
	s.stop()
}

package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"rootwatch/internal/backoff"
	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/progress"
	"rootwatch/internal/source"
)

// Defaults of BackfillRun.
const (
	// DefaultBackfillRetries is how often an object that failed
	// transiently is tried again before the backfill stops.
	DefaultBackfillRetries = 5
	// DefaultBackfillRetryBackoff is the first wait before trying an object
	// again; it doubles, up to 64 times itself.
	DefaultBackfillRetryBackoff = time.Second
)

// BackfillRun configures RunBackfill.
type BackfillRun struct {
	Common
	S3   source.S3Client
	Spec source.Backfill
	// Checkpoint is a file recording how far the backfill got, so a stopped
	// one resumes there; "" keeps no checkpoint.
	Checkpoint string
	// Rate caps objects started per second (0: no cap).
	Rate float64
	// Retries is how often an object that failed transiently is tried again
	// before the backfill stops with an error (default
	// DefaultBackfillRetries), backing off from RetryBackoff (default
	// DefaultBackfillRetryBackoff).
	Retries      int
	RetryBackoff time.Duration
	// Progress receives a progress bar (Terminal) or a line every
	// ProgressEvery (default 30s); nil for none.
	Progress      io.Writer
	Terminal      bool
	ProgressEvery time.Duration
}

// BackfillSummary is what a backfill did in this run.
type BackfillSummary struct {
	Objects, DeadLettered, Records, Findings, Bytes int64
	// ResumedFrom is the checkpoint this run started after (zero when fresh).
	ResumedFrom source.Position
	Complete    bool
}

// RunBackfill reads the spec's objects in chronological order into the
// sink, resuming after the checkpoint. Its parts: the listing (one day
// folder at a time, rate-limited), the low-water window (how far the
// checkpoint may move: only past objects the sink acknowledged or that were
// dead-lettered), the checkpoint file (saved every second and at the end),
// the per-object settling (dead-letter permanent failures, retry transient
// ones), and the progress reporter. A transient failure that outlasts
// Retries stops the backfill with an error, the checkpoint left before that
// object.
func RunBackfill(ctx context.Context, o BackfillRun) (BackfillSummary, error) {
	o.defaults()
	if o.Retries <= 0 {
		o.Retries = DefaultBackfillRetries
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = DefaultBackfillRetryBackoff
	}
	var sum BackfillSummary
	ckpt, cp, err := openCheckpoint(o.Checkpoint, o.Spec)
	if err != nil {
		return sum, err
	}
	if cp.Complete {
		o.Logger.Info("checkpoint says the backfill is complete; nothing to do", "checkpoint", o.Checkpoint)
		sum.Complete, sum.ResumedFrom = true, cp.Position
		return sum, nil
	}
	if cp.Position.Day != "" {
		sum.ResumedFrom = cp.Position
		o.Logger.Info("resuming backfill", "after", cp.Position.Key, "day", cp.Position.Day)
	}

	listCtx, stopListing := context.WithCancel(ctx)
	defer stopListing()
	work, cancelWork := o.workContext(ctx)
	defer cancelWork()
	b := &backfill{o: o, work: work, pool: o.pool(work), opener: o.s3Opener(o.S3),
		win:         newLowWater(max(4*(o.Workers+o.Queue), 64), cp.Position),
		retry:       backoff.Policy{Base: o.RetryBackoff, Max: o.RetryBackoff << 6},
		stopListing: stopListing}
	stopProgress := b.reportProgress(listCtx, cp.Position)
	stopSaving := ckpt.saveEvery(time.Second, b.win.position, o.Logger)
	listErr := b.list(listCtx, cp.Position)
	b.inflight.Wait()
	b.pool.Close()
	stopSaving()
	stopProgress()

	sum.Objects, sum.DeadLettered = b.done.Objects.Load(), b.done.DeadLettered.Load()
	sum.Records, sum.Findings, sum.Bytes = b.done.Records.Load(), b.done.Findings.Load(), b.done.Bytes.Load()
	switch {
	case b.fatal() != nil:
		return sum, b.fatal()
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case listErr != nil:
		return sum, listErr
	}
	if pos, all := b.win.mark(); all {
		sum.Complete = true
		if err := ckpt.save(pos, true); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// backfill is one RunBackfill in progress.
type backfill struct {
	o           BackfillRun
	work        context.Context // object reads; outlives the listing by ShutdownGrace
	pool        *Pool
	opener      source.S3Opener
	win         *lowWater
	retry       backoff.Policy
	done        progress.Counters
	inflight    sync.WaitGroup // objects listed and not yet settled
	stopListing context.CancelFunc

	mu  sync.Mutex
	err error // the first error that stops the backfill
}

// list walks the spec after the checkpoint, at most Rate objects a second,
// and hands every object to the workers, waiting while the window is full.
// A follow-up may list several day folders in parallel: the window orders
// whatever finishes, so only the walk would change.
func (b *backfill) list(ctx context.Context, after source.Position) error {
	lim := rate.NewLimiter(rate.Inf, 1)
	if b.o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(b.o.Rate), 1)
	}
	return b.o.Spec.Walk(ctx, b.o.S3, after, func(l source.Listed) error {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		seq, err := b.win.add(ctx, l.Pos)
		if err != nil {
			return err
		}
		b.inflight.Add(1)
		b.submit(l, seq, 0)
		return nil
	})
}

func (b *backfill) submit(l source.Listed, seq int64, attempt int) {
	ref := match.ObjectRef{Bucket: l.Object.Bucket, Key: l.Object.Key}
	submit(b.work, b.pool, Job{Ref: ref, Open: b.opener.Open(ref.Bucket, ref.Key),
		Done: func(r Result) { b.settle(l, seq, attempt, r) }})
}

// settle decides what becomes of an object once it was read and its output
// acknowledged: done, dead-lettered, retried after a backoff, or (retries
// exhausted, or the dead letter could not be written) the end of the
// backfill.
func (b *backfill) settle(l source.Listed, seq int64, attempt int, r Result) {
	b.done.Records.Add(r.Records)
	b.done.Findings.Add(r.Findings)
	b.done.Bytes.Add(r.Bytes)
	if r.Err == nil {
		b.finished(l, seq)
		b.inflight.Done()
		return
	}
	name := Name(r.Ref)
	reason, permanent := failure.Classify(r.Err)
	switch {
	case permanent:
		if err := WriteDLQ(b.work, b.o.Sink, b.o.Metrics, objectEntry("s3", reason, r)); err != nil {
			b.fail(err)
		} else {
			b.o.Logger.Warn("object dead-lettered", "object", name, "reason", reason, "err", r.Err)
			b.done.DeadLettered.Add(1)
			b.finished(l, seq)
		}
		b.inflight.Done()
	case b.work.Err() != nil: // stopping: left for the next run
		b.inflight.Done()
	case attempt >= b.o.Retries:
		b.fail(fmt.Errorf("backfill stopped: %w (after %d attempts)", r.Err, attempt+1))
		b.inflight.Done()
	default:
		wait := b.retry.Delay(attempt)
		b.o.Logger.Warn("object failed; retrying", "object", name, "attempt", attempt+1, "retry_in", wait, "err", r.Err)
		go func() {
			if backoff.Sleep(b.work, wait) != nil {
				b.inflight.Done()
				return
			}
			b.submit(l, seq, attempt+1)
		}()
	}
}

// finished counts an object done and lets the checkpoint move past it.
func (b *backfill) finished(l source.Listed, seq int64) {
	b.done.Objects.Add(1)
	b.done.Stored.Add(l.Object.Size)
	b.win.complete(seq)
}

// fail records the error that ends the backfill and stops the listing.
func (b *backfill) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
	b.stopListing()
}

func (b *backfill) fatal() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// reportProgress starts the progress reporter, with totals from a second,
// counting walk of what is left; stop prints the final report.
func (b *backfill) reportProgress(ctx context.Context, after source.Position) (stop func()) {
	if b.o.Progress == nil {
		return func() {}
	}
	var totals progress.Totals
	cctx, cancel := context.WithCancel(ctx)
	go func() {
		err := b.o.Spec.Walk(cctx, b.o.S3, after, func(l source.Listed) error {
			totals.Objects.Add(1)
			totals.Stored.Add(l.Object.Size)
			return nil
		})
		if err == nil {
			totals.Known.Store(true)
		}
	}()
	start := time.Now()
	stopReporter := progress.Reporter{W: b.o.Progress, Terminal: b.o.Terminal, Every: b.o.ProgressEvery}.Start(func() progress.Snapshot {
		return progress.Read(&b.done, &totals, time.Since(start))
	})
	return func() {
		cancel()
		stopReporter()
	}
}

package pipeline

import (
	"context"
	"io"
	"time"

	"golang.org/x/time/rate"

	"rootwatch/internal/progress"
	"rootwatch/internal/source"
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
	// before the backfill stops with an error, backing off from
	// RetryBackoff (see SettlerOptions).
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
	set := NewSettler(ctx, o.Common, SettlerOptions{S3: o.S3, Retries: o.Retries, RetryBackoff: o.RetryBackoff,
		OnFatal: func(error) { stopListing() }})
	b := &backfill{o: o, set: set, win: NewWindow(max(4*(o.Workers+o.Queue), 64), cp.Position)}
	stopProgress := b.reportProgress(listCtx, cp.Position)
	stopSaving := ckpt.saveEvery(time.Second, b.win.Position, o.Logger)
	listErr := b.list(listCtx, cp.Position)
	set.Close()
	stopSaving()
	stopProgress()

	done := set.Counters()
	sum.Objects, sum.DeadLettered = done.Objects.Load(), done.DeadLettered.Load()
	sum.Records, sum.Findings, sum.Bytes = done.Records.Load(), done.Findings.Load(), done.Bytes.Load()
	switch {
	case set.Err() != nil:
		return sum, set.Err()
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case listErr != nil:
		return sum, listErr
	}
	if pos, all := b.win.Mark(); all {
		sum.Complete = true
		if err := ckpt.save(pos, true); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// backfill is one RunBackfill in progress.
type backfill struct {
	o   BackfillRun
	set *Settler
	win *Window[source.Position]
}

// list walks the spec after the checkpoint, at most Rate objects a second,
// and hands every object to the settler, waiting while the window is full;
// the checkpoint moves past an object once it is settled. A follow-up may
// list several day folders in parallel: the window orders whatever
// finishes, so only the walk would change.
func (b *backfill) list(ctx context.Context, after source.Position) error {
	lim := rate.NewLimiter(rate.Inf, 1)
	if b.o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(b.o.Rate), 1)
	}
	return b.o.Spec.Walk(ctx, b.o.S3, after, func(l source.Listed) error {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		seq, err := b.win.Add(ctx, l.Pos)
		if err != nil {
			return err
		}
		b.set.Read(b.set.Context(), l.Object, "", func(r ReadResult) {
			if r.Settled {
				b.win.Complete(seq)
			}
		})
		return nil
	})
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
		return progress.Read(b.set.Counters(), &totals, time.Since(start))
	})
	return func() {
		cancel()
		stopReporter()
	}
}

package pipeline

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
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
	// ListConcurrency is how many day folders are listed at once (default
	// source.DefaultListConcurrency); it also bounds the accounts whose
	// regions are asked for at once at the start.
	ListConcurrency int
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

// RunBackfill reads the spec's objects into the sink, folder by folder in
// chronological order (source.Folder order), resuming from the checkpoint.
// Its parts: discovery (accounts and regions, once: source.Discover), the
// parallel listing (ListConcurrency day folders at once, each streaming
// its objects to the workers page by page, rate-limited), the I/O and CPU
// stages (Workers), the folder window (how far the checkpoint may move:
// only past folders listed to their end whose every object the sink
// acknowledged or was dead-lettered; it also bounds the folders and
// objects in flight), the checkpoint file (saved every second and at the
// end), the per-object settling (dead-letter permanent failures, retry
// transient ones), and the progress reporter. A transient failure that
// outlasts Retries, or a listing that fails, stops the backfill with an
// error, the checkpoint left before that object or folder.
func RunBackfill(ctx context.Context, o BackfillRun) (BackfillSummary, error) {
	o.defaults()
	if o.ListConcurrency <= 0 {
		o.ListConcurrency = source.DefaultListConcurrency
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
		o.Logger.Info("resuming backfill", "day", cp.Position.Day, "account", cp.Position.Account, "region", cp.Position.Region,
			"after", cp.Position.Key, "folders_ahead", len(cp.Ahead))
	}

	listCtx, stopListing := context.WithCancel(ctx)
	defer stopListing()
	plan, err := o.Spec.Discover(listCtx, o.S3, o.ListConcurrency)
	if err != nil {
		return sum, err
	}
	o.Logger.Info("backfill", "accounts", len(plan.Accounts), "folders", plan.Len(), "list_concurrency", o.ListConcurrency,
		"s3_inflight", o.S3Inflight, "workers", o.Workers)
	set := NewSettler(ctx, o.Common, SettlerOptions{S3: o.S3, Retries: o.Retries, RetryBackoff: o.RetryBackoff,
		OnFatal: func(error) { stopListing() }})
	b := &backfill{o: o, set: set, plan: plan, from: cp, fromAhead: map[source.Folder]aheadMark{},
		win:         newFolderWindow(max(1024, 4*o.ListConcurrency), max(1024, 4*o.InFlightObjects()), cp.Position),
		stopListing: stopListing}
	for _, a := range cp.Ahead {
		b.fromAhead[a.Folder] = a
	}
	stopProgress := b.reportProgress(listCtx)
	stopSaving := ckpt.saveEvery(time.Second, b.checkpoint, o.Logger)
	listErr := b.list(listCtx)
	set.Close()
	stopSaving()
	stopProgress()

	done := set.Counters()
	sum.Objects, sum.DeadLettered = done.Objects.Load(), done.DeadLettered.Load()
	sum.Records, sum.Findings, sum.Bytes = done.Records.Load(), done.Findings.Load(), done.Bytes.Load()
	switch {
	case b.fatal() != nil:
		return sum, b.fatal()
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case listErr != nil:
		return sum, listErr
	}
	if c := b.checkpoint(); c.Complete {
		sum.Complete = true
		if err := ckpt.save(c); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// backfill is one RunBackfill in progress.
type backfill struct {
	o           BackfillRun
	set         *Settler // reads and settles the objects
	plan        *source.Plan
	from        checkpoint // where this run started
	fromAhead   map[source.Folder]aheadMark
	win         *folderWindow
	listedAll   atomic.Bool // every folder of the plan was listed to its end
	count       listCount   // what the listing found, for the progress totals
	listErr     atomic.Pointer[error]
	stopListing context.CancelFunc
}

// checkpoint is what the checkpoint file says now.
func (b *backfill) checkpoint() checkpoint {
	mark, ahead, idle := b.win.position()
	return checkpoint{Position: mark, Ahead: ahead, Complete: idle && b.listedAll.Load() && b.fatal() == nil}
}

// resume is where folder f starts in this run: after which key, or
// skipped because an earlier run finished it.
func (b *backfill) resume(f source.Folder) (startAfter string, done bool) {
	if f == b.from.Position.Folder() {
		startAfter = b.from.Position.Key
	}
	if a, ok := b.fromAhead[f]; ok {
		return a.Key, a.Done
	}
	return startAfter, false
}

// list walks the plan's folders from the checkpoint on, in order, admitting
// each to the window (waiting while it is full) and handing it to one of
// ListConcurrency listers, which stream its objects to the workers.
func (b *backfill) list(ctx context.Context) error {
	lim := rate.NewLimiter(rate.Inf, 1)
	if b.o.Rate > 0 {
		lim = rate.NewLimiter(rate.Limit(b.o.Rate), 1)
	}
	lister := source.NewFolderLister(ctx, b.o.S3, b.o.Spec, b.o.ListConcurrency)
	err := func() error {
		for f := range b.plan.Folders(b.from.Position.Folder()) {
			startAfter, done := b.resume(f)
			st, err := b.win.admit(ctx, f, startAfter, done)
			if err != nil || done {
				if err != nil {
					return err
				}
				continue
			}
			count, counted := b.count.folder()
			err = lister.Submit(ctx, source.FolderListing{Folder: f, StartAfter: startAfter,
				Object: func(l source.Listed) error {
					count(l.Object.Size)
					return b.object(ctx, st, l, lim)
				},
				Done: func(err error) {
					switch {
					case err == nil:
						counted()
						b.win.listed(st)
					case ctx.Err() == nil:
						err = fmt.Errorf("backfill: %w", err)
						b.listErr.CompareAndSwap(nil, &err)
						b.stopListing()
					}
				}})
			if err != nil {
				return err
			}
		}
		return nil
	}()
	lister.Close()
	if err == nil && b.listErr.Load() == nil && ctx.Err() == nil {
		b.listedAll.Store(true)
	}
	return err
}

// object hands one listed object to the settler, once the rate limit and
// the window let it; the checkpoint may pass it once it is settled.
func (b *backfill) object(ctx context.Context, st *folderState, l source.Listed, lim *rate.Limiter) error {
	if err := lim.Wait(ctx); err != nil {
		return err
	}
	slot, err := b.win.addObject(ctx, st, l.Object.Key)
	if err != nil {
		return err
	}
	b.set.Read(b.set.Context(), l.Object, "", func(r ReadResult) {
		if r.Settled {
			b.win.objectDone(slot)
		}
	})
	return nil
}

// fatal is the first error that stops the backfill: an object's (the
// settler's) or a listing's.
func (b *backfill) fatal() error {
	if err := b.set.Err(); err != nil {
		return err
	}
	if err := b.listErr.Load(); err != nil {
		return *err
	}
	return nil
}

// listCount is what the backfill's listing found so far, for the progress
// totals: no second listing counts them. Until every folder was listed the
// totals are an estimate, extrapolated from the folders listed to their
// end; then they are exact.
type listCount struct {
	objects, stored atomic.Int64 // every object listed so far
	// folders listed to their end, and the objects and bytes in them
	folders, folderObjects, folderStored atomic.Int64
	// todo is how many folders this run lists (0 while being counted).
	todo atomic.Int64
}

// folder counts one folder's objects as they are listed; done adds them to
// the folders listed to their end. A folder is listed by one goroutine.
func (c *listCount) folder() (count func(size int64), done func()) {
	var n, stored int64
	return func(size int64) {
			n++
			stored += size
			c.objects.Add(1)
			c.stored.Add(size)
		}, func() {
			c.folderObjects.Add(n)
			c.folderStored.Add(stored)
			c.folders.Add(1)
		}
}

// totals fills s's totals: exact once listedAll, else at least what was
// listed and, once a folder was listed to its end, extrapolated to every
// folder of the run by the folders' mean.
func (c *listCount) totals(s *progress.Snapshot, listedAll bool) {
	s.TotalObjects, s.TotalStored, s.TotalsKnown, s.TotalsEstimated = c.objects.Load(), c.stored.Load(), listedAll, false
	if folders, todo := c.folders.Load(), c.todo.Load(); !listedAll && folders > 0 && todo > 0 {
		s.TotalObjects = max(s.TotalObjects, c.folderObjects.Load()*todo/folders)
		s.TotalStored = max(s.TotalStored, c.folderStored.Load()*todo/folders)
		s.TotalsEstimated = true
	}
}

// reportProgress starts the progress reporter, its totals from what the
// listing found so far (listCount); stop prints the final report.
func (b *backfill) reportProgress(ctx context.Context) (stop func()) {
	if b.o.Progress == nil {
		return func() {}
	}
	// Counted apart: a backfill of years has millions of folders. It ends
	// with the listing's context, never outliving the run.
	go func() {
		var todo int64
		for f := range b.plan.Folders(b.from.Position.Folder()) {
			if todo%4096 == 0 && ctx.Err() != nil {
				return
			}
			if _, done := b.resume(f); !done {
				todo++
			}
		}
		b.count.todo.Store(todo)
	}()
	start := time.Now()
	return progress.Reporter{W: b.o.Progress, Terminal: b.o.Terminal, Every: b.o.ProgressEvery}.Start(func() progress.Snapshot {
		s := progress.Read(b.set.Counters(), nil, time.Since(start))
		b.count.totals(&s, b.listedAll.Load())
		return s
	})
}

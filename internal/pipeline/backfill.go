package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rootwatch/internal/match"
	"rootwatch/internal/source"
)

// S3Client is what a backfill needs from S3.
type S3Client interface {
	S3Getter
	source.S3Lister
}

// BackfillRun configures RunBackfill.
type BackfillRun struct {
	Common
	S3   S3Client
	Spec source.Backfill
	// Checkpoint is a file recording how far the backfill got, so a stopped
	// one resumes there; "" keeps no checkpoint.
	Checkpoint string
	// Rate caps objects started per second (0: no cap).
	Rate float64
	// Retries is how often an object that failed transiently is tried again
	// before the backfill stops with an error (default 5), RetryBackoff apart
	// (default 1s, doubling).
	Retries      int
	RetryBackoff time.Duration
	// MissingRetries, MissingBackoff: see S3Opener.
	MissingRetries int
	MissingBackoff time.Duration
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

type checkpoint struct {
	Version   int             `json:"version"`
	Bucket    string          `json:"bucket"`
	Prefix    string          `json:"prefix"`
	Position  source.Position `json:"position"`
	Complete  bool            `json:"complete"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

func readCheckpoint(path string, spec source.Backfill) (checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return checkpoint{}, nil
	}
	if err != nil {
		return checkpoint{}, fmt.Errorf("read checkpoint: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if c.Bucket != spec.Bucket || c.Prefix != spec.Prefix {
		return checkpoint{}, fmt.Errorf("checkpoint %s is for s3://%s/%s, not s3://%s/%s: remove it or give another --checkpoint", path, c.Bucket, c.Prefix, spec.Bucket, spec.Prefix)
	}
	return c, nil
}

func writeCheckpoint(path string, c checkpoint) error {
	c.Version = 1
	c.UpdatedAt = time.Now().UTC()
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	return nil
}

// window tracks the low-water mark of listed objects: the checkpoint is the
// position of the last object before which everything is done. Its size
// bounds how far the listing may run ahead, so memory stays bounded.
type window struct {
	mu    sync.Mutex
	slots chan struct{}
	next  int64
	low   int64
	done  map[int64]bool
	pos   map[int64]source.Position
	last  source.Position
}

func newWindow(size int, start source.Position) *window {
	return &window{slots: make(chan struct{}, size), done: map[int64]bool{}, pos: map[int64]source.Position{}, last: start}
}

func (w *window) add(ctx context.Context, p source.Position) (int64, error) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seq := w.next
	w.next++
	w.pos[seq] = p
	return seq, nil
}

func (w *window) complete(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[seq] = true
	for w.done[w.low] {
		w.last = w.pos[w.low]
		delete(w.done, w.low)
		delete(w.pos, w.low)
		w.low++
		<-w.slots
	}
}

func (w *window) mark() (source.Position, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.low == w.next
}

// RunBackfill reads the spec's objects in chronological order into the
// sink, resuming after the checkpoint. Permanent failures are
// dead-lettered; a transient failure that outlasts Retries stops the
// backfill with an error, the checkpoint left before that object.
func RunBackfill(ctx context.Context, o BackfillRun) (BackfillSummary, error) {
	o.defaults()
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 30 * time.Second
	}
	var sum BackfillSummary
	var cp checkpoint
	if o.Checkpoint != "" {
		var err error
		if cp, err = readCheckpoint(o.Checkpoint, o.Spec); err != nil {
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
	}

	walkCtx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	work, cancelWork := o.workContext(ctx)
	defer cancelWork()
	pool := o.pool(work)
	opener := S3Opener{Client: o.S3, MissingRetries: o.MissingRetries, MissingBackoff: o.MissingBackoff, IdleTimeout: o.S3IdleTimeout}
	win := newWindow(max(4*(o.Workers+o.Queue), 64), cp.Position)

	var (
		errMu    sync.Mutex
		fatal    error
		inflight sync.WaitGroup
		done     progressCounts
	)
	fail := func(err error) {
		errMu.Lock()
		if fatal == nil {
			fatal = err
		}
		errMu.Unlock()
		stopWalk()
	}
	save := func() {
		if o.Checkpoint == "" {
			return
		}
		pos, _ := win.mark()
		if pos == cp.Position {
			return
		}
		if err := writeCheckpoint(o.Checkpoint, checkpoint{Bucket: o.Spec.Bucket, Prefix: o.Spec.Prefix, Position: pos}); err != nil {
			o.Logger.Error("checkpoint", "err", err)
		}
		cp.Position = pos
	}

	var submit func(l source.Listed, seq int64, attempt int)
	submit = func(l source.Listed, seq int64, attempt int) {
		ref := match.ObjectRef{Bucket: l.Object.Bucket, Key: l.Object.Key}
		job := Job{Ref: ref, Open: opener.Open(l.Object.Bucket, l.Object.Key), Done: func(r Result) {
			done.records.Add(r.Records)
			done.findings.Add(r.Findings)
			done.bytes.Add(r.Bytes)
			if r.Err == nil {
				done.objects.Add(1)
				done.gz.Add(l.Object.Size)
				win.complete(seq)
				inflight.Done()
				return
			}
			reason, permanent := Classify(r.Err)
			switch {
			case permanent:
				e := DLQEntry{Source: "s3", Reason: reason, Error: r.Err.Error(), Object: &ref, RecordsProduced: r.Records, Partial: r.Records > 0}
				dctx, cancel := context.WithTimeout(work, 30*time.Second)
				err := WriteDLQ(dctx, o.Sink, o.Metrics, e)
				cancel()
				if err != nil {
					fail(err)
				} else {
					o.Logger.Warn("object dead-lettered", "object", "s3://"+ref.Bucket+"/"+ref.Key, "reason", reason, "err", r.Err)
					done.dlq.Add(1)
					done.objects.Add(1)
					done.gz.Add(l.Object.Size)
					win.complete(seq)
				}
				inflight.Done()
			case reason == "shutdown" || work.Err() != nil:
				inflight.Done()
			case attempt >= o.Retries:
				fail(fmt.Errorf("backfill stopped: %w (after %d attempts)", r.Err, attempt+1))
				inflight.Done()
			default:
				o.Logger.Warn("object failed; retrying", "object", "s3://"+ref.Bucket+"/"+ref.Key, "attempt", attempt+1, "err", r.Err)
				go func() {
					select {
					case <-time.After(o.RetryBackoff << min(attempt, 6)):
						submit(l, seq, attempt+1)
					case <-work.Done():
						inflight.Done()
					}
				}()
			}
		}}
		if err := pool.Submit(work, job); err != nil {
			inflight.Done()
		}
	}

	// Progress: totals come from a second, counting walk.
	var totals progressTotals
	stopProgress := func() {}
	if o.Progress != nil {
		tctx, tcancel := context.WithCancel(walkCtx)
		go func() {
			err := o.Spec.Walk(tctx, o.S3, cp.Position, func(l source.Listed) error {
				totals.objects.Add(1)
				totals.bytes.Add(l.Object.Size)
				return nil
			})
			if err == nil {
				totals.known.Store(true)
			}
		}()
		pdone, pstopped := make(chan struct{}), make(chan struct{})
		every := o.ProgressEvery
		if o.Terminal {
			every = 500 * time.Millisecond
		}
		start := time.Now()
		go func() {
			defer close(pstopped)
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					printProgress(o.Progress, o.Terminal, &done, &totals, time.Since(start), false)
				case <-pdone:
					printProgress(o.Progress, o.Terminal, &done, &totals, time.Since(start), true)
					return
				}
			}
		}()
		var once sync.Once
		stopProgress = func() { once.Do(func() { tcancel(); close(pdone); <-pstopped }) }
	}

	saveDone := make(chan struct{})
	saveStopped := make(chan struct{})
	go func() {
		defer close(saveStopped)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				save()
			case <-saveDone:
				return
			}
		}
	}()

	lim := limiter{rate: o.Rate}
	walkErr := o.Spec.Walk(walkCtx, o.S3, cp.Position, func(l source.Listed) error {
		if err := lim.wait(walkCtx); err != nil {
			return err
		}
		seq, err := win.add(walkCtx, l.Pos)
		if err != nil {
			return err
		}
		inflight.Add(1)
		submit(l, seq, 0)
		return nil
	})
	inflight.Wait()
	pool.Close()
	close(saveDone)
	<-saveStopped
	save()
	stopProgress()

	sum.Objects, sum.DeadLettered = done.objects.Load(), done.dlq.Load()
	sum.Records, sum.Findings, sum.Bytes = done.records.Load(), done.findings.Load(), done.bytes.Load()
	errMu.Lock()
	defer errMu.Unlock()
	if fatal != nil {
		return sum, fatal
	}
	if walkErr != nil {
		if ctx.Err() != nil {
			return sum, ctx.Err()
		}
		return sum, walkErr
	}
	if ctx.Err() != nil {
		return sum, ctx.Err()
	}
	if _, all := win.mark(); all {
		sum.Complete = true
		if o.Checkpoint != "" {
			pos, _ := win.mark()
			if err := writeCheckpoint(o.Checkpoint, checkpoint{Bucket: o.Spec.Bucket, Prefix: o.Spec.Prefix, Position: pos, Complete: true}); err != nil {
				return sum, err
			}
		}
	}
	return sum, nil
}

type progressCounts struct {
	objects, dlq, records, findings, bytes, gz atomic.Int64
}

type progressTotals struct {
	objects, bytes atomic.Int64
	known          atomic.Bool
}

func printProgress(w io.Writer, terminal bool, d *progressCounts, t *progressTotals, elapsed time.Duration, final bool) {
	objs, gz := d.objects.Load(), d.gz.Load()
	tObjs, tBytes := t.objects.Load(), t.bytes.Load()
	rate := float64(d.records.Load()) / max(elapsed.Seconds(), 0.001)
	approx := "~"
	if t.known.Load() {
		approx = ""
	}
	eta := "?"
	if t.known.Load() && gz > 0 && tBytes > gz {
		eta = (time.Duration(float64(elapsed) * float64(tBytes-gz) / float64(gz))).Round(time.Second).String()
	} else if t.known.Load() && tBytes <= gz {
		eta = "0s"
	}
	frac := 0.0
	if tBytes > 0 {
		frac = min(float64(gz)/float64(tBytes), 1)
	}
	if terminal {
		const width = 30
		n := int(frac * width)
		bar := strings.Repeat("#", n) + strings.Repeat(".", width-n)
		end := ""
		if final {
			end = "\n"
		}
		fmt.Fprintf(w, "\r[%s] %d/%s%d objects  %s/%s%s  %.0f records/s  ETA %s   %s",
			bar, objs, approx, tObjs, humanBytes(gz), approx, humanBytes(tBytes), rate, eta, end)
		return
	}
	fmt.Fprintf(w, "backfill progress: objects=%d/%s%d bytes=%s/%s%s records=%d findings=%d dead_lettered=%d records_per_s=%.0f eta=%s\n",
		objs, approx, tObjs, humanBytes(gz), approx, humanBytes(tBytes), d.records.Load(), d.findings.Load(), d.dlq.Load(), rate, eta)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// limiter spaces calls to wait at least 1/rate apart (rate 0: no limit).
type limiter struct {
	rate float64
	next time.Time
}

func (l *limiter) wait(ctx context.Context) error {
	if l.rate <= 0 {
		return nil
	}
	now := time.Now()
	if l.next.After(now) {
		t := time.NewTimer(l.next.Sub(now))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		now = l.next
	}
	l.next = now.Add(time.Duration(float64(time.Second) / l.rate))
	return nil
}

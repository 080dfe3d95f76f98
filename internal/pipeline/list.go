package pipeline

import (
	"context"
	"io"
	"sort"
	"sync"
	"time"

	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/source"
)

// Object is one object a Lister names: which, and how to open it.
type Object struct {
	Ref  match.ObjectRef
	Size int64 // stored size, when known
	Open Opener
}

// Lister names the objects of a finite run: it calls read for every object
// to read, in order, and skip for every one it passes over (and why); read
// waits while the workers are busy, and its error ends the listing. It
// returns when the listing is done.
type Lister func(ctx context.Context, read func(Object) error, skip func(name, reason string)) error

// ListRun configures RunList.
type ListRun struct {
	Common
	// Source names where the objects come from in DLQ entries ("file", "s3").
	Source string
	List   Lister
}

// ListSummary is what a RunList did.
type ListSummary struct {
	// Objects were read (or tried); Skipped were passed over (digest files).
	Objects, Skipped         int64
	Records, Findings, Bytes int64
	// Failed are the objects that could not be read completely, or whose
	// output was lost, sorted by name; the permanent failures among them
	// were dead-lettered.
	Failed  []Result
	Elapsed time.Duration
}

// RunList reads every object the lister names into the sink, on the
// workers, and returns once every one was read and acknowledged. One
// object's failure never stops the others: it is in ListSummary.Failed,
// and dead-lettered when permanent. The error is for a listing that failed,
// a dead letter that could not be written, or ctx ending.
func RunList(ctx context.Context, o ListRun) (ListSummary, error) {
	o.defaults()
	start := time.Now()
	work, cancel := o.workContext(ctx)
	defer cancel()
	workers := NewWorkers(work, o.Common)
	var (
		mu       sync.Mutex
		sum      ListSummary
		firstErr error
		wg       sync.WaitGroup
	)
	done := func(r Result) {
		defer wg.Done()
		mu.Lock()
		sum.Records += r.Records
		sum.Findings += r.Findings
		sum.Bytes += r.Bytes
		mu.Unlock()
		if r.Err == nil {
			return
		}
		reason, permanent := failure.Classify(r.Err)
		if reason == failure.Shutdown && work.Err() != nil {
			return // the run is stopping; it says so itself
		}
		var dlqErr error
		if permanent {
			dlqErr = WriteDLQ(work, o.Sink, o.Metrics, objectEntry(o.Source, reason, r))
		}
		o.Logger.Warn("object could not be read", "object", Name(r.Ref), "reason", reason, "err", r.Err)
		mu.Lock()
		sum.Failed = append(sum.Failed, r)
		if dlqErr != nil && firstErr == nil {
			firstErr = dlqErr
		}
		mu.Unlock()
	}
	listErr := o.List(ctx, func(obj Object) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		wg.Add(1)
		if err := workers.Submit(ctx, Job{Ref: obj.Ref, Size: obj.Size, Open: obj.Open, Done: done}); err != nil {
			wg.Done()
			return err
		}
		mu.Lock()
		sum.Objects++
		mu.Unlock()
		return nil
	}, func(name, reason string) {
		o.Logger.Debug("skipped", "object", name, "reason", reason)
		mu.Lock()
		sum.Skipped++
		mu.Unlock()
	})
	workers.Close()
	wg.Wait()
	sum.Elapsed = time.Since(start)
	sort.Slice(sum.Failed, func(i, j int) bool { return Name(sum.Failed[i].Ref) < Name(sum.Failed[j].Ref) })
	switch {
	case ctx.Err() != nil:
		return sum, ctx.Err()
	case listErr != nil:
		return sum, listErr
	}
	return sum, firstErr
}

// LocalRun configures RunLocal.
type LocalRun struct {
	Common
	// Paths are files or folders (see source.WalkLocal).
	Paths []string
}

// RunLocal reads local files (source.WalkLocal) into the sink: RunList
// with LocalFiles.
func RunLocal(ctx context.Context, o LocalRun) (ListSummary, error) {
	o.S3Inflight = -1 // files: no latency to hide, nothing to read ahead
	return RunList(ctx, ListRun{Common: o.Common, Source: "file", List: LocalFiles(o.Paths)})
}

// LocalFiles lists the log files under paths (source.WalkLocal): digest
// files are skipped, and a folder entry that cannot be read is an object
// whose opening fails, so it is reported like any other unreadable file.
func LocalFiles(paths []string) Lister {
	return func(ctx context.Context, read func(Object) error, skip func(name, reason string)) error {
		return source.WalkLocal(ctx, paths, func(e source.LocalEntry) error {
			ref := match.ObjectRef{Key: e.Path}
			switch {
			case e.Err != nil:
				err := source.ClassifyFileError(e.Err)
				return read(Object{Ref: ref, Open: func(context.Context) (io.ReadCloser, error) { return nil, err }})
			case e.Skip != "":
				skip(e.Path, e.Skip)
				return nil
			}
			return read(Object{Ref: ref, Open: func(ctx context.Context) (io.ReadCloser, error) { return source.OpenFile(ctx, e.Path) }})
		})
	}
}

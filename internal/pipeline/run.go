package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
	"rootwatch/internal/source"
)

// Common are the settings every run shares.
type Common struct {
	Sink    Sink
	Metrics *Metrics
	Logger  *slog.Logger
	Reader  cloudtrail.Options
	// Workers read objects in parallel (default 4); Queue bounds the objects
	// waiting for a worker (default 2*Workers).
	Workers, Queue int
	// ShutdownGrace is how long in-flight work may go on after the run's
	// context ends before it is abandoned and released (default 20s).
	ShutdownGrace time.Duration
	// S3IdleTimeout abandons an S3 read that makes no progress for this long
	// (default DefaultS3IdleTimeout); the object is retried later.
	S3IdleTimeout time.Duration
	Now           func() time.Time
}

func (c *Common) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Queue <= 0 {
		c.Queue = 2 * c.Workers
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 20 * time.Second
	}
}

// workContext returns a context for object reads that ends ShutdownGrace
// after ctx ends (or when stop is called).
func (c *Common) workContext(ctx context.Context) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-work.Done():
			return
		}
		t := time.NewTimer(c.ShutdownGrace)
		defer t.Stop()
		select {
		case <-t.C:
			c.Logger.Warn("shutdown grace period over; abandoning in-flight objects (their messages are released)")
			cancel()
		case <-work.Done():
		}
	}()
	return work, cancel
}

func (c *Common) pool(work context.Context) *Pool {
	p := NewProcessor(ProcessorOptions{Sink: c.Sink, Reader: c.Reader, Metrics: c.Metrics, Logger: c.Logger, Now: c.Now})
	return NewPool(work, p, c.Workers, c.Queue)
}

// SQSRun configures RunSQS.
type SQSRun struct {
	Common
	SQS    source.SQSAPI
	S3     S3Getter
	Source source.SQSOptions
	// MaxReceives, Backoff: see SQSHandlerOptions.
	MaxReceives int
	Backoff     func(receiveCount int) time.Duration
	// MissingRetries, MissingBackoff: see S3Opener.
	MissingRetries int
	MissingBackoff time.Duration
	// OnSource, if set, is given the SQS source once it exists (for gauges).
	OnSource func(*source.SQS)
}

// RunSQS consumes the queue until ctx ends, then stops receiving, lets
// in-flight messages finish for ShutdownGrace, releases the rest
// (visibility 0), and returns. The caller closes the sink afterwards.
func RunSQS(ctx context.Context, o SQSRun) error {
	o.defaults()
	if o.Source.MaxInFlight <= 0 {
		o.Source.MaxInFlight = max(o.Workers*2, 10)
	}
	o.Source.Logger = o.Logger
	src := source.NewSQS(o.SQS, o.Source)
	if o.OnSource != nil {
		o.OnSource(src)
	}
	work, cancel := o.workContext(ctx)
	defer cancel()
	pool := o.pool(work)
	h := NewSQSHandler(work, SQSHandlerOptions{
		Pool: pool, Sink: o.Sink, Metrics: o.Metrics, Logger: o.Logger,
		Opener:      S3Opener{Client: o.S3, MissingRetries: o.MissingRetries, MissingBackoff: o.MissingBackoff, IdleTimeout: o.S3IdleTimeout},
		MaxReceives: o.MaxReceives, Backoff: o.Backoff,
	})
	o.Logger.Info("consuming", "queue", o.Source.QueueURL, "workers", o.Workers)
	err := src.Run(ctx, h.Handle)
	pool.Close()
	return err
}

// LocalRun configures RunLocal.
type LocalRun struct {
	Common
	Paths []string
}

// LocalSummary is what RunLocal did.
type LocalSummary struct {
	Files, Records, Findings, Bytes int64
	Failed                          []Result // files that could not be read completely (dead-lettered)
}

// RunLocal reads local files into the sink. Files that cannot be read are
// dead-lettered and listed in the summary; an error is returned when a file
// could not be written (Kafka) or the walk failed.
func RunLocal(ctx context.Context, o LocalRun) (LocalSummary, error) {
	o.defaults()
	work, cancel := o.workContext(ctx)
	defer cancel()
	pool := o.pool(work)
	var (
		mu       sync.Mutex
		sum      LocalSummary
		firstErr error
		wg       sync.WaitGroup
		files    atomic.Int64
	)
	walkErr := source.WalkLocal(o.Paths, func(path string) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wg.Add(1)
		files.Add(1)
		job := Job{
			Ref:  match.ObjectRef{Key: path},
			Open: FileOpener(path),
			Done: func(r Result) {
				defer wg.Done()
				mu.Lock()
				sum.Records += r.Records
				sum.Findings += r.Findings
				sum.Bytes += r.Bytes
				mu.Unlock()
				if r.Err == nil {
					return
				}
				reason, permanent := Classify(r.Err)
				if !permanent {
					mu.Lock()
					if firstErr == nil {
						firstErr = r.Err
					}
					mu.Unlock()
					return
				}
				ref := r.Ref
				e := DLQEntry{Source: "file", Reason: reason, Error: r.Err.Error(), Object: &ref, RecordsProduced: r.Records, Partial: r.Records > 0}
				dctx, dcancel := context.WithTimeout(work, 30*time.Second)
				defer dcancel()
				if err := WriteDLQ(dctx, o.Sink, o.Metrics, e); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
				o.Logger.Warn("file could not be read", "file", r.Ref.Key, "reason", reason, "err", r.Err)
				mu.Lock()
				sum.Failed = append(sum.Failed, r)
				mu.Unlock()
			},
		}
		if err := pool.Submit(work, job); err != nil {
			wg.Done()
			return err
		}
		return nil
	})
	pool.Close()
	wg.Wait()
	sum.Files = files.Load()
	if walkErr != nil {
		return sum, walkErr
	}
	if firstErr != nil {
		return sum, fmt.Errorf("local ingest: %w", firstErr)
	}
	return sum, nil
}

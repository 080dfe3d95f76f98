package pipeline

import (
	"context"
	"log/slog"
	"time"

	"rootwatch/internal/backoff"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

// Defaults of Common.
const (
	// DefaultWorkers is how many objects are read in parallel.
	DefaultWorkers = 4
	// DefaultShutdownGrace is how long in-flight work may go on after a
	// stop was asked for. It stays well inside the 30s that Kubernetes and
	// ECS give a container between SIGTERM and SIGKILL, leaving time to
	// release what did not finish and to flush Kafka.
	DefaultShutdownGrace = 20 * time.Second
)

// Common are the settings every run shares.
type Common struct {
	Sink    sink.Sink
	Metrics *Metrics
	Logger  *slog.Logger
	Reader  cloudtrail.Options
	// Workers read objects in parallel (default DefaultWorkers); Queue
	// bounds the objects waiting for a worker (default 2*Workers).
	Workers, Queue int
	// ShutdownGrace is how long in-flight work may go on after the run's
	// context ends before it is abandoned and released (default
	// DefaultShutdownGrace).
	ShutdownGrace time.Duration
	// S3IdleTimeout abandons an S3 read that makes no progress for this long
	// (default source.DefaultS3IdleTimeout); the object is retried later.
	S3IdleTimeout time.Duration
	// MissingRetries is how often an S3 object that is not there is asked
	// for again (MissingBackoff apart, doubling) before it is dead-lettered
	// as object-missing; see source.S3Opener.
	MissingRetries int
	MissingBackoff time.Duration
	Now            func() time.Time
}

func (c *Common) defaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Queue <= 0 {
		c.Queue = 2 * c.Workers
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
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

// s3Opener opens objects of client with the run's S3 settings.
func (c *Common) s3Opener(client source.S3Getter) source.S3Opener {
	return source.S3Opener{Client: client, MissingRetries: c.MissingRetries, MissingBackoff: c.MissingBackoff, IdleTimeout: c.S3IdleTimeout}
}

// SQSRun configures RunSQS.
type SQSRun struct {
	Common
	SQS    source.SQSAPI
	S3     source.S3Getter
	Source source.SQSOptions
	// MaxReceives, Backoff: see SQSHandlerOptions.
	MaxReceives int
	Backoff     backoff.Policy
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
		Opener: o.s3Opener(o.S3), MaxReceives: o.MaxReceives, Backoff: o.Backoff, Now: o.Now,
	})
	o.Logger.Info("consuming", "queue", o.Source.QueueURL, "workers", o.Workers)
	err := src.Run(ctx, h.Handle)
	pool.Close()
	return err
}

package pipeline

import (
	"context"
	"log/slog"
	"runtime"
	"time"

	"rootwatch/internal/backoff"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

// Defaults of Common.
const (
	// DefaultWorkers (0) is one CPU worker per core: the CPU stage
	// (gunzip, split, match, produce) never waits on S3, so more workers
	// than cores would only take turns.
	DefaultWorkers = 0
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
	// Workers read objects in parallel on the CPU (0: one per core); Queue
	// bounds the objects waiting for a worker (default 2*Workers).
	Workers, Queue int
	// S3Inflight is how many objects the I/O stage fetches at once (S3
	// requests in flight, plus fetched bodies waiting for a worker), and
	// S3InflightBytes the memory their bodies may take (defaults
	// DefaultS3Inflight, DefaultS3InflightBytes). A negative S3Inflight
	// leaves the I/O stage out: the CPU workers open their objects
	// themselves (local files).
	S3Inflight      int
	S3InflightBytes int64
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
		c.Workers = runtime.NumCPU()
	}
	if c.Queue <= 0 {
		c.Queue = 2 * c.Workers
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.S3Inflight == 0 {
		c.S3Inflight = DefaultS3Inflight
	}
	if c.S3InflightBytes <= 0 {
		c.S3InflightBytes = DefaultS3InflightBytes
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
		o.Source.MaxInFlight = DefaultMaxInFlight(o.Common)
	}
	o.Source.Logger = o.Logger
	src := source.NewSQS(o.SQS, o.Source)
	if o.OnSource != nil {
		o.OnSource(src)
	}
	work, cancel := o.workContext(ctx)
	defer cancel()
	workers := NewWorkers(work, o.Common)
	h := NewSQSHandler(work, SQSHandlerOptions{
		Workers: workers, Sink: o.Sink, Metrics: o.Metrics, Logger: o.Logger,
		Opener: o.s3Opener(o.S3), MaxReceives: o.MaxReceives, Backoff: o.Backoff, Now: o.Now,
	})
	o.Logger.Info("consuming", "queue", o.Source.QueueURL, "workers", o.Workers, "s3_inflight", o.S3Inflight,
		"max_inflight", o.Source.MaxInFlight, "receivers", o.Source.Receivers)
	err := src.Run(ctx, h.Handle)
	workers.Close()
	return err
}

// InFlightObjects is how many objects c's stages hold at once (being
// fetched, fetched and waiting for a CPU worker, or on one), defaults
// applied: what a source should keep ready to keep them busy.
func (c Common) InFlightObjects() int {
	c.defaults()
	return max(c.S3Inflight, 0) + c.Workers + c.Queue
}

// DefaultMaxInFlight is how many SQS messages c's stages keep in progress
// by default: twice what they hold at once, so that while a message waits
// for Kafka's acknowledgement and its delete, the I/O stage still has work.
func DefaultMaxInFlight(c Common) int {
	return max(2*c.InFlightObjects(), 10)
}

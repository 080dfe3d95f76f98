package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"rootwatch/internal/backoff"
	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/mutant"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

// Defaults of SQSHandlerOptions.
const (
	// DefaultMaxReceives dead-letters a message after this many receives.
	DefaultMaxReceives = 10
	// DefaultRetryBackoffMax caps how long a transiently failed message
	// stays invisible before redelivery.
	DefaultRetryBackoffMax = 5 * time.Minute
)

// DefaultRedeliveryBackoff is how long a message that failed transiently
// stays invisible: 1s after the first receive, doubling per receive, at
// most DefaultRetryBackoffMax.
var DefaultRedeliveryBackoff = backoff.Policy{Base: time.Second, Max: DefaultRetryBackoffMax}

// SQSHandlerOptions configure SQSHandler.
type SQSHandlerOptions struct {
	Workers *Workers
	Sink    sink.Sink
	Opener  source.S3Opener
	Metrics *Metrics
	Logger  *slog.Logger
	// MaxReceives dead-letters a message received more often than this
	// (its ApproximateReceiveCount); 0 means never.
	MaxReceives int
	// Backoff is how long a message that failed transiently stays invisible
	// before redelivery: Delay(receiveCount-1). The zero value means
	// DefaultRedeliveryBackoff.
	Backoff backoff.Policy
	// Now stamps real-time findings' detectedAt (nil: time.Now).
	Now func() time.Time
}

// SQSHandler decides the fate of each SQS message: it reads every object the
// notification names and deletes the message only after Kafka acknowledged
// all their records and findings (or, for an EventBridge CloudTrail event,
// the finding of the record it carries: realtime.go); a transient failure releases it for
// redelivery after a backoff; a permanent one is dead-lettered (with the
// original body and the object) and then deleted.
type SQSHandler struct {
	o   SQSHandlerOptions
	log *slog.Logger
	// ctx is the context objects are read with: cancelled only when the
	// shutdown grace period is over, not when receiving stops.
	ctx context.Context
}

// NewSQSHandler returns a handler that reads objects under workCtx.
func NewSQSHandler(workCtx context.Context, o SQSHandlerOptions) *SQSHandler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Backoff == (backoff.Policy{}) {
		o.Backoff = DefaultRedeliveryBackoff
	}
	return &SQSHandler{o: o, log: o.Logger, ctx: workCtx}
}

// redeliverAfter is how long a message received n times stays invisible.
func (h *SQSHandler) redeliverAfter(n int) time.Duration { return h.o.Backoff.Delay(n - 1) }

// Handle settles m; run it in its own goroutine (source.SQS.Run does).
func (h *SQSHandler) Handle(m *source.Message) {
	log := h.log.With("message_id", m.ID, "receive_count", m.ReceiveCount)
	if mutant.Enabled && mutant.On("sqs-delete-on-receive") { // mutant (make mutants): the message is gone before its objects are read
		m.Delete()
	}
	metrics := h.o.Metrics
	if metrics != nil {
		metrics.InFlightMessages.Inc()
		defer metrics.InFlightMessages.Dec()
	}
	deleted := func() {
		if err := m.Delete(); err == nil && metrics != nil {
			metrics.MessagesDeleted.Inc()
		}
	}
	release := func(reason string, d time.Duration) {
		if metrics != nil {
			metrics.MessagesReleased.WithLabelValues(reason).Inc()
		}
		m.Release(d)
	}
	deadLetter := func(entries ...DLQEntry) {
		for i := range entries {
			entries[i].Source = "sqs"
			entries[i].Notification = m.Body
			entries[i].MessageID = m.ID
			entries[i].ReceiveCount = m.ReceiveCount
		}
		if err := WriteDLQ(context.WithoutCancel(h.ctx), h.o.Sink, metrics, entries...); err != nil {
			log.Error("dead-letter failed; message left for redelivery", "err", err)
			release(failure.Transient, h.redeliverAfter(m.ReceiveCount))
			return
		}
		for _, e := range entries {
			log.Warn("dead-lettered", "reason", e.Reason, "object", e.Object, "err", e.Error, "partial", e.Partial)
		}
		deleted()
	}

	n, err := source.ParseNotification([]byte(m.Body))
	if metrics != nil {
		f := string(n.Format)
		if err != nil {
			f = "unknown"
		}
		metrics.MessagesReceived.WithLabelValues(f).Inc()
	}
	if h.o.MaxReceives > 0 && m.ReceiveCount > h.o.MaxReceives {
		deadLetter(DLQEntry{Reason: failure.ReasonMaxReceives, Error: "received more than --max-receives times"})
		return
	}
	if err != nil {
		deadLetter(DLQEntry{Reason: failure.ReasonUnknownFormat, Error: err.Error()})
		return
	}
	if n.Test {
		log.Info("s3 test event deleted", "format", n.Format)
		deleted()
		return
	}
	if n.Event != nil { // an EventBridge CloudTrail event: the real-time path (realtime.go)
		h.handleEvent(log, m, n.Event, settle{delete: deleted, release: release, deadLetter: deadLetter})
		return
	}
	for _, s := range n.Skipped {
		log.Debug("skipped object", "object", s.Object.String(), "reason", s.Reason)
		if metrics != nil {
			metrics.Objects.WithLabelValues("skipped").Inc()
		}
	}
	if len(n.Objects) == 0 {
		deleted()
		return
	}

	results := make([]Result, len(n.Objects))
	var wg sync.WaitGroup
	for i, o := range n.Objects {
		wg.Add(1)
		submit(h.ctx, h.o.Workers, Job{
			Ref:  match.ObjectRef{Bucket: o.Bucket, Key: o.Key},
			Size: o.Size,
			Open: h.o.Opener.Open(o.Bucket, o.Key),
			Done: func(r Result) { results[i] = r; wg.Done() },
		})
	}
	wg.Wait()

	var dlq []DLQEntry
	transient, shutdown := false, false
	for _, r := range results {
		if r.Err == nil {
			continue
		}
		reason, permanent := failure.Classify(r.Err)
		switch {
		case permanent:
			dlq = append(dlq, objectEntry("sqs", reason, r))
		case reason == failure.Shutdown:
			shutdown = true
		default:
			transient = true
			log.Warn("object failed, message left for redelivery", "object", r.Ref, "err", r.Err)
		}
	}
	switch {
	case shutdown:
		release(failure.Shutdown, 0)
	case transient:
		release(failure.Transient, h.redeliverAfter(m.ReceiveCount))
	case len(dlq) > 0:
		deadLetter(dlq...)
	default:
		deleted()
	}
}

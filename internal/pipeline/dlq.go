package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"rootwatch/internal/match"
	"rootwatch/internal/sink"
)

// DLQEntry is the value of a cloudtrail.dlq message: what could not be
// processed, why, and enough to replay it (the original notification body
// and/or the object reference).
type DLQEntry struct {
	// Reason is one of the failure.Reason constants.
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Source is "sqs", "s3" (backfill, fleet worker, prefix scan) or "file".
	Source string           `json:"source"`
	Object *match.ObjectRef `json:"object,omitempty"`
	// Notification is the SQS message body exactly as received.
	Notification string `json:"notification,omitempty"`
	MessageID    string `json:"messageId,omitempty"`
	// Item is the backfill work item (a cloudtrail.backfill message value,
	// exactly as read) that named the object, for a fleet worker's entries:
	// replaying it reads the same objects again.
	Item         string `json:"item,omitempty"`
	ReceiveCount int    `json:"receiveCount,omitempty"`
	// RecordsProduced records of this object were already written before the
	// failure; they stay (delivery is at least once), and a replay after a
	// fix produces them again.
	RecordsProduced int64     `json:"recordsProduced"`
	Partial         bool      `json:"partial"`
	At              time.Time `json:"at"`
}

// objectEntry is the DLQ entry of an object that failed permanently for reason.
func objectEntry(source, reason string, r Result) DLQEntry {
	ref := r.Ref
	return DLQEntry{Source: source, Reason: reason, Error: r.Err.Error(), Object: &ref, RecordsProduced: r.Records, Partial: r.Records > 0}
}

// waiter is an Acker that a caller blocks on.
type waiter struct {
	mu   sync.Mutex
	left int
	err  error
	ch   chan struct{}
}

func newWaiter(n int) *waiter { return &waiter{left: n, ch: make(chan struct{})} }

func (w *waiter) Ack(n int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil && w.err == nil {
		w.err = err
	}
	w.left -= n
	if w.left == 0 {
		close(w.ch)
	}
}

func (w *waiter) wait(ctx context.Context) error {
	select {
	case <-w.ch:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dlqTimeout bounds how long writing one dead letter may take.
const dlqTimeout = 30 * time.Second

// WriteDLQ writes entries to the sink's DLQ topic and waits until they are
// durable (at most 30s past ctx's own deadline), counting them in m (may be
// nil). The message key is the object (bucket/key) or the message id.
func WriteDLQ(ctx context.Context, s sink.Sink, m *Metrics, entries ...DLQEntry) error {
	if len(entries) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, dlqTimeout)
	defer cancel()
	w := newWaiter(len(entries))
	msgs := make([]sink.Message, 0, len(entries))
	for _, e := range entries {
		if e.At.IsZero() {
			e.At = time.Now().UTC()
		}
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode dlq entry: %w", err)
		}
		key := e.MessageID
		if e.Object != nil {
			key = e.Object.Bucket + "/" + e.Object.Key
		}
		msgs = append(msgs, sink.Message{Key: []byte(key), Value: b})
	}
	if err := s.Write(ctx, sink.TopicDLQ, msgs, w); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	if err := w.wait(ctx); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	if m != nil {
		for _, e := range entries {
			m.MessagesDLQ.WithLabelValues(e.Reason).Inc()
		}
	}
	return nil
}

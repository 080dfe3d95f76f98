package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/match"
)

// DLQEntry is the value of a cloudtrail.dlq message: what could not be
// processed, why, and enough to replay it (the original notification body
// and/or the object reference).
type DLQEntry struct {
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Source is "sqs", "s3" (backfill) or "file".
	Source string           `json:"source"`
	Object *match.ObjectRef `json:"object,omitempty"`
	// Notification is the SQS message body exactly as received.
	Notification string `json:"notification,omitempty"`
	MessageID    string `json:"messageId,omitempty"`
	ReceiveCount int    `json:"receiveCount,omitempty"`
	// RecordsProduced records of this object were already written before the
	// failure; they stay (delivery is at least once), and a replay after a
	// fix produces them again.
	RecordsProduced int64     `json:"recordsProduced"`
	Partial         bool      `json:"partial"`
	At              time.Time `json:"at"`
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

// WriteDLQ writes entries to the sink's DLQ topic and waits until they are
// durable. The message key is the object (bucket/key) or the message id.
func WriteDLQ(ctx context.Context, s Sink, m *Metrics, entries ...DLQEntry) error {
	if len(entries) == 0 {
		return nil
	}
	w := newWaiter(len(entries))
	msgs := make([]kafkago.Message, 0, len(entries))
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
		msgs = append(msgs, kafkago.Message{Key: []byte(key), Value: b, WriterData: Acker(w)})
	}
	if err := s.Write(ctx, TopicDLQ, msgs); err != nil {
		return err
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

// errShutdown is the result of a job that never started because the pipeline stopped.
var errShutdown = errors.New("pipeline stopped")

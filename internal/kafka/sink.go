package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/semaphore"

	"rootwatch/internal/sink"
)

// SinkTopics names the Kafka topics of the pipeline's outputs.
type SinkTopics struct {
	Records  string `yaml:"records"`
	Findings string `yaml:"findings"`
	DLQ      string `yaml:"dlq"`
}

// DefaultSinkTopics are the topics rootwatch writes.
var DefaultSinkTopics = SinkTopics{Records: TopicRecords, Findings: TopicRootActivity, DLQ: TopicDLQ}

// DefaultMaxInFlightBytes is the default SinkOptions.MaxInFlightBytes.
const DefaultMaxInFlightBytes = 64 << 20

// SinkOptions configure NewSink.
type SinkOptions struct {
	Topics SinkTopics
	// SkipRecords leaves the records topic out (findings and DLQ only).
	SkipRecords bool
	Writer      WriterOptions
	Logger      *slog.Logger
	// Observe, when set, is told about every batch Kafka answered for: its
	// output, the time from Write to the answer, and the error if it failed.
	Observe func(t sink.Topic, took time.Duration, err error)
	// MaxInFlightBytes bounds the bytes handed to the writers and not yet
	// acknowledged by Kafka (default DefaultMaxInFlightBytes). A Write that
	// would pass it waits, so reading slows down to what Kafka takes and
	// memory stays bounded whatever the input.
	MaxInFlightBytes int64
}

// Sink is a sink.Sink on three kafka-go writers in async mode: each Write
// is tagged on its way through the writer (WriterData), and the writers'
// Completion callbacks acknowledge it to the Write's Acker once Kafka
// answered for its messages.
type Sink struct {
	w           [sink.NumTopics]*kafkago.Writer
	skipRecords bool
	observe     func(sink.Topic, time.Duration, error)
	inflight    *semaphore.Weighted
	maxInFlight int64
	msgs        sync.Pool // *[]kafkago.Message, reused between Writes
}

var _ sink.Sink = (*Sink)(nil)

// NewSink builds the writers. It does not connect until the first write.
func NewSink(c Config, o SinkOptions) (*Sink, error) {
	if o.Topics == (SinkTopics{}) {
		o.Topics = DefaultSinkTopics
	}
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	s := &Sink{skipRecords: o.SkipRecords, observe: o.Observe,
		inflight: semaphore.NewWeighted(o.MaxInFlightBytes), maxInFlight: o.MaxInFlightBytes}
	names := [sink.NumTopics]string{o.Topics.Records, o.Topics.Findings, o.Topics.DLQ}
	for t := sink.Topic(0); t < sink.NumTopics; t++ {
		if t == sink.TopicRecords && o.SkipRecords {
			continue
		}
		wo := o.Writer
		wo.Async = true
		wo.Logger = o.Logger
		if t != sink.TopicRecords {
			// Findings and DLQ entries are few and urgent.
			wo.BatchTimeout = 5 * time.Millisecond
		}
		topic := t
		wo.Completion = func(msgs []kafkago.Message, err error) { s.complete(topic, msgs, err) }
		w, err := NewWriter(c, names[t], wo)
		if err != nil {
			return nil, err
		}
		s.w[t] = w
	}
	return s, nil
}

// write is one Write on its way through a writer: its Acker, when it was
// handed over, and its share of MaxInFlightBytes, given back when Kafka
// has answered for all its messages.
type write struct {
	ack    sink.Acker
	at     time.Time
	weight int64
	left   atomic.Int64 // messages not yet answered for
}

func (s *Sink) complete(t sink.Topic, msgs []kafkago.Message, err error) {
	if len(msgs) == 0 {
		return
	}
	if s.observe != nil {
		if w, ok := msgs[0].WriterData.(*write); ok {
			s.observe(t, time.Since(w.at), err)
		}
	}
	if err != nil {
		err = fmt.Errorf("kafka write to %s: %w", s.w[t].Topic, err)
	}
	// A batch holds runs of messages of the same Write: answer per run.
	var cur *write
	n := 0
	for i := range msgs {
		w, _ := msgs[i].WriterData.(*write)
		if w != cur {
			s.answer(cur, n, err)
			cur, n = w, 0
		}
		n++
	}
	s.answer(cur, n, err)
}

// answer acknowledges n messages of w, and gives its bytes back when they
// were the last of it.
func (s *Sink) answer(w *write, n int, err error) {
	if w == nil || n == 0 {
		return
	}
	if w.ack != nil {
		w.ack.Ack(n, err)
	}
	if w.left.Add(-int64(n)) == 0 {
		s.inflight.Release(w.weight)
	}
}

// Write hands msgs to the topic's writer. It blocks while MaxInFlightBytes
// are written but not yet acknowledged, or while the writer's queue is full.
func (s *Sink) Write(ctx context.Context, t sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	kw := s.w[t]
	if len(msgs) == 0 {
		return nil
	}
	if kw == nil {
		if ack != nil {
			ack.Ack(len(msgs), nil)
		}
		return nil
	}
	// Wait until the bytes in flight leave room for these, so reading slows
	// down to what Kafka takes. A Write larger than the whole budget waits
	// for all of it (and then goes alone).
	var size int64
	for i := range msgs {
		size += int64(msgs[i].Size())
	}
	w := &write{ack: ack, weight: min(max(size, 1), s.maxInFlight)}
	w.left.Store(int64(len(msgs)))
	if err := s.inflight.Acquire(ctx, w.weight); err != nil {
		return fmt.Errorf("kafka write to %s: waiting for earlier writes: %w", kw.Topic, err)
	}
	w.at = time.Now()
	buf, _ := s.msgs.Get().(*[]kafkago.Message)
	if buf == nil {
		buf = new([]kafkago.Message)
	}
	km := (*buf)[:0]
	var from []sink.Header
	var conv []kafkago.Header
	for i := range msgs {
		m := &msgs[i]
		if !sameHeaders(m.Headers, from) {
			// Messages of one object share their headers: convert once.
			from, conv = m.Headers, nil
			if len(from) > 0 {
				conv = make([]kafkago.Header, len(from))
				for j, h := range from {
					conv[j] = kafkago.Header{Key: h.Key, Value: h.Value}
				}
			}
		}
		km = append(km, kafkago.Message{Key: m.Key, Value: m.Value, Headers: conv, WriterData: w})
	}
	// The writer copies the messages into its batches: the slice is ours again.
	err := kw.WriteMessages(ctx, km...)
	clear(km)
	*buf = km[:0]
	s.msgs.Put(buf)
	if err != nil {
		s.inflight.Release(w.weight) // nothing was queued: no Completion will come for them
		return fmt.Errorf("kafka write to %s: %w", kw.Topic, err)
	}
	return nil
}

func sameHeaders(a, b []sink.Header) bool {
	if len(a) != len(b) {
		return false
	}
	return len(a) == 0 || &a[0] == &b[0]
}

// WantsRecords is false with SkipRecords.
func (s *Sink) WantsRecords() bool { return !s.skipRecords }

// Close flushes every writer; pending Completions run before it returns.
func (s *Sink) Close() error {
	var errs []error
	for _, w := range s.w {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	return errors.Join(errs...)
}

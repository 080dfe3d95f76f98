// Package pipeline moves CloudTrail objects from a source to the sinks:
// bounded worker pools read objects, split and match their records, and
// write them out; every write is acknowledged back (Benthos style), so a
// source settles its message (SQS delete, checkpoint) only after everything
// it led to is durable.
package pipeline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"golang.org/x/sync/semaphore"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/kafka"
)

// Topic is one of the outputs of the pipeline.
type Topic int

// The outputs.
const (
	TopicRecords  Topic = iota // every record, raw
	TopicFindings              // root-activity findings, JSON
	TopicDLQ                   // what could not be processed
	numTopics
)

func (t Topic) String() string {
	switch t {
	case TopicRecords:
		return "records"
	case TopicFindings:
		return "findings"
	case TopicDLQ:
		return "dlq"
	}
	return fmt.Sprintf("topic(%d)", int(t))
}

// Acker is told the fate of messages handed to a Sink. Every message's
// WriterData must be an Acker; the sink calls Ack exactly once per message,
// with nil once it is durable or with the error that lost it.
type Acker interface {
	Ack(n int, err error)
}

// Sink is where the pipeline writes. Write may return before the messages
// are durable; their Ackers learn the outcome. Write returns an error only
// when the messages were not accepted at all (then no Ack follows).
type Sink interface {
	Write(ctx context.Context, t Topic, msgs []kafkago.Message) error
	// WantsRecords reports whether TopicRecords is written at all; when
	// false, the pipeline does not build record messages.
	WantsRecords() bool
	// Close flushes and waits for outstanding acknowledgements.
	Close() error
}

// KafkaTopics names the Kafka topics for the outputs.
type KafkaTopics struct {
	Records  string `yaml:"records"`
	Findings string `yaml:"findings"`
	DLQ      string `yaml:"dlq"`
}

// DefaultKafkaTopics are the names in docs/architecture.md.
var DefaultKafkaTopics = KafkaTopics{Records: kafka.TopicRecords, Findings: kafka.TopicRootActivity, DLQ: kafka.TopicDLQ}

// KafkaSinkOptions configure NewKafkaSink.
type KafkaSinkOptions struct {
	Topics KafkaTopics
	// SkipRecords leaves cloudtrail.records out (findings and DLQ only).
	SkipRecords bool
	Writer      kafka.WriterOptions
	Logger      *slog.Logger
	Metrics     *Metrics
	// MaxInFlightBytes bounds the bytes handed to the writers and not yet
	// acknowledged by Kafka (default DefaultMaxInFlightBytes). A Write that
	// would pass it waits, so reading slows down to what Kafka takes and
	// memory stays bounded whatever the input.
	MaxInFlightBytes int64
}

// DefaultMaxInFlightBytes is the default KafkaSinkOptions.MaxInFlightBytes.
const DefaultMaxInFlightBytes = 64 << 20

// KafkaSink writes to three kafka-go writers in async mode; their
// Completion callbacks acknowledge each message's Acker.
type KafkaSink struct {
	w           [numTopics]*kafkago.Writer
	skipRecords bool
	metrics     *Metrics
	inflight    *semaphore.Weighted
	maxInFlight int64
}

// NewKafkaSink builds the writers. It does not connect until the first write.
func NewKafkaSink(c kafka.Config, o KafkaSinkOptions) (*KafkaSink, error) {
	if o.Topics == (KafkaTopics{}) {
		o.Topics = DefaultKafkaTopics
	}
	if o.MaxInFlightBytes <= 0 {
		o.MaxInFlightBytes = DefaultMaxInFlightBytes
	}
	s := &KafkaSink{skipRecords: o.SkipRecords, metrics: o.Metrics,
		inflight: semaphore.NewWeighted(o.MaxInFlightBytes), maxInFlight: o.MaxInFlightBytes}
	names := [numTopics]string{o.Topics.Records, o.Topics.Findings, o.Topics.DLQ}
	for t := Topic(0); t < numTopics; t++ {
		if t == TopicRecords && o.SkipRecords {
			continue
		}
		wo := o.Writer
		wo.Async = true
		wo.Logger = o.Logger
		if t != TopicRecords {
			// Findings and DLQ entries are few and urgent.
			wo.BatchTimeout = 5 * time.Millisecond
		}
		topic := t
		wo.Completion = func(msgs []kafkago.Message, err error) { s.complete(topic, msgs, err) }
		w, err := kafka.NewWriter(c, names[t], wo)
		if err != nil {
			return nil, err
		}
		s.w[t] = w
	}
	return s, nil
}

// stamp is shared by the messages of one Write call (per Acker): it keeps
// the Acker, the time for latency metrics, and the flight whose bytes are
// given back when Kafka has answered for all of them.
type stamp struct {
	Acker
	at time.Time
	fl *flight
}

// flight is one Write's share of MaxInFlightBytes.
type flight struct {
	weight int64
	left   atomic.Int64 // messages not yet answered for
}

func (s *KafkaSink) complete(t Topic, msgs []kafkago.Message, err error) {
	if len(msgs) == 0 {
		return
	}
	if s.metrics != nil {
		if st, ok := msgs[0].WriterData.(*stamp); ok {
			s.metrics.KafkaWriteSeconds.WithLabelValues(t.String()).Observe(time.Since(st.at).Seconds())
		}
		if err != nil {
			s.metrics.KafkaErrors.WithLabelValues(t.String()).Inc()
		}
	}
	if err != nil {
		err = fmt.Errorf("kafka write to %s: %w", s.w[t].Topic, err)
	}
	// Group consecutive messages with the same Acker (and flight) into one call.
	var cur Acker
	var fl *flight
	n, nf := 0, int64(0)
	for i := range msgs {
		a := ackerOf(msgs[i].WriterData)
		if a != cur {
			if cur != nil {
				cur.Ack(n, err)
			}
			cur, n = a, 0
		}
		n++
		if st, ok := msgs[i].WriterData.(*stamp); ok && st.fl != nil {
			if st.fl != fl {
				s.land(fl, nf)
				fl, nf = st.fl, 0
			}
			nf++
		}
	}
	if cur != nil {
		cur.Ack(n, err)
	}
	s.land(fl, nf)
}

// land records that Kafka answered for n messages of fl, and gives the
// flight's bytes back when they were the last of them.
func (s *KafkaSink) land(fl *flight, n int64) {
	if fl != nil && n > 0 && fl.left.Add(-n) == 0 {
		s.inflight.Release(fl.weight)
	}
}

func ackerOf(v any) Acker {
	switch a := v.(type) {
	case *stamp:
		return a.Acker
	case Acker:
		return a
	}
	return nil
}

// Write hands msgs to the topic's writer. It blocks while MaxInFlightBytes
// are written but not yet acknowledged, or while the writer's queue is full.
func (s *KafkaSink) Write(ctx context.Context, t Topic, msgs []kafkago.Message) error {
	w := s.w[t]
	if w == nil {
		for i := range msgs {
			if a := ackerOf(msgs[i].WriterData); a != nil {
				a.Ack(1, nil)
			}
		}
		return nil
	}
	if len(msgs) == 0 {
		return nil
	}
	// Wait until the bytes in flight leave room for these, so reading slows
	// down to what Kafka takes. A Write larger than the whole budget waits
	// for all of it (and then goes alone).
	var size int64
	for i := range msgs {
		size += int64(len(msgs[i].Key) + len(msgs[i].Value))
		for _, h := range msgs[i].Headers {
			size += int64(len(h.Key) + len(h.Value))
		}
	}
	fl := &flight{weight: min(max(size, 1), s.maxInFlight)}
	fl.left.Store(int64(len(msgs)))
	if err := s.inflight.Acquire(ctx, fl.weight); err != nil {
		return fmt.Errorf("kafka write to %s: waiting for earlier writes: %w", w.Topic, err)
	}
	now := time.Now()
	var last *stamp
	for i := range msgs {
		a := ackerOf(msgs[i].WriterData)
		if last == nil || last.Acker != a {
			last = &stamp{Acker: a, at: now, fl: fl}
		}
		msgs[i].WriterData = last
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		s.inflight.Release(fl.weight) // nothing was queued: no Completion will come for them
		return fmt.Errorf("kafka write to %s: %w", w.Topic, err)
	}
	return nil
}

// WantsRecords is false with SkipRecords.
func (s *KafkaSink) WantsRecords() bool { return !s.skipRecords }

// Close flushes every writer; pending Completions run before it returns.
func (s *KafkaSink) Close() error {
	var errs []error
	for _, w := range s.w {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	return errors.Join(errs...)
}

// StdoutSink writes findings as JSON lines to an io.Writer and DLQ entries
// as JSON lines to another (stderr); records are dropped. Everything is
// acknowledged once written.
type StdoutSink struct {
	mu       sync.Mutex
	out, dlq *bufio.Writer
}

// NewStdoutSink writes findings to out and DLQ entries to dlq.
func NewStdoutSink(out, dlq io.Writer) *StdoutSink {
	return &StdoutSink{out: bufio.NewWriter(out), dlq: bufio.NewWriter(dlq)}
}

// Write writes msgs' values, one per line, and acknowledges them.
func (s *StdoutSink) Write(_ context.Context, t Topic, msgs []kafkago.Message) error {
	var err error
	if t != TopicRecords {
		s.mu.Lock()
		w := s.out
		if t == TopicDLQ {
			w = s.dlq
		}
		for i := range msgs {
			if _, e := w.Write(msgs[i].Value); e != nil && err == nil {
				err = e
			}
			w.WriteByte('\n')
		}
		if e := w.Flush(); e != nil && err == nil {
			err = e
		}
		s.mu.Unlock()
	}
	for i := range msgs {
		if a := ackerOf(msgs[i].WriterData); a != nil {
			a.Ack(1, err)
		}
	}
	return nil
}

// WantsRecords is false: stdout carries findings only.
func (s *StdoutSink) WantsRecords() bool { return false }

// Close flushes.
func (s *StdoutSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.out.Flush(), s.dlq.Flush())
}

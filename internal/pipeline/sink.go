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
	"io"
	"log/slog"
	"sync"
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

// DefaultKafkaTopics are the names in ARCHITECTURE.md.
var DefaultKafkaTopics = KafkaTopics{Records: kafka.TopicRecords, Findings: kafka.TopicRootActivity, DLQ: kafka.TopicDLQ}

// KafkaSinkOptions configure NewKafkaSink.
type KafkaSinkOptions struct {
	Topics KafkaTopics
	// SkipRecords leaves cloudtrail.records out (findings and DLQ only).
	SkipRecords bool
	Writer      kafka.WriterOptions
	Logger      *slog.Logger
	Metrics     *Metrics
}

// KafkaSink writes to three kafka-go writers in async mode; their
// Completion callbacks acknowledge each message's Acker.
type KafkaSink struct {
	w           [numTopics]*kafkago.Writer
	skipRecords bool
	metrics     *Metrics
}

// NewKafkaSink builds the writers. It does not connect until the first write.
func NewKafkaSink(c kafka.Config, o KafkaSinkOptions) (*KafkaSink, error) {
	if o.Topics == (KafkaTopics{}) {
		o.Topics = DefaultKafkaTopics
	}
	s := &KafkaSink{skipRecords: o.SkipRecords, metrics: o.Metrics}
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

// stamp is shared by the messages of one Write call, for latency metrics.
type stamp struct {
	Acker
	at time.Time
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
	// Group consecutive messages with the same Acker into one call.
	var cur Acker
	n := 0
	for i := range msgs {
		a := ackerOf(msgs[i].WriterData)
		if a != cur {
			if cur != nil {
				cur.Ack(n, err)
			}
			cur, n = a, 0
		}
		n++
	}
	if cur != nil {
		cur.Ack(n, err)
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

// Write hands msgs to the topic's writer. It blocks only while the writer's
// queue is full.
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
	if len(msgs) > 0 && s.metrics != nil {
		if a, ok := msgs[0].WriterData.(Acker); ok {
			st := &stamp{Acker: a, at: time.Now()}
			for i := range msgs {
				if msgs[i].WriterData == a {
					msgs[i].WriterData = st
				}
			}
		}
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
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

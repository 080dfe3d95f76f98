// Package sink is where the pipeline's output goes, in rootwatch's own
// types: a Sink takes Messages for one of three Topics and acknowledges
// every one of them to the Acker handed in with them, once it is durable
// (or lost). The pipeline settles its sources (SQS deletes, backfill
// checkpoints) on those acknowledgements. Kafka (internal/kafka), stdout
// (here) and the audit's tracker are Sinks; nothing here knows a Kafka
// client, so code that only reads objects does not link one.
package sink

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Topic is one of the outputs of the pipeline.
type Topic int

// The outputs.
const (
	TopicRecords  Topic = iota // every record, raw
	TopicFindings              // root-activity findings, JSON
	TopicDLQ                   // what could not be processed, JSON
	NumTopics
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

// Header is a message header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one output message.
type Message struct {
	Key, Value []byte
	Headers    []Header
}

// Size is the bytes a message holds (key, value, headers), for budgets.
func (m *Message) Size() int {
	n := len(m.Key) + len(m.Value)
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

// Acker is told the fate of messages handed to a Sink: Ack(n, nil) once n
// of them are durable, Ack(n, err) when n were lost. Over the life of one
// Write the counts add up to exactly len(msgs). Ack may be called from any
// goroutine, also before Write returns.
type Acker interface {
	Ack(n int, err error)
}

// Sink is where the pipeline writes.
type Sink interface {
	// Write hands msgs to topic t. It may return before they are durable;
	// ack learns the outcome of each. Write returns an error only when the
	// messages were not accepted at all, and then no Ack follows. Write
	// does not keep msgs after it returns (the caller reuses the slice),
	// but may keep the bytes they point to until it acknowledges them.
	Write(ctx context.Context, t Topic, msgs []Message, ack Acker) error
	// WantsRecords reports whether TopicRecords is written at all; when
	// false, the pipeline does not build record messages.
	WantsRecords() bool
	// Close flushes and waits for outstanding acknowledgements.
	Close() error
}

// Stdout writes findings as JSON lines to one writer and DLQ entries as
// JSON lines to another (stderr, or io.Discard); records are dropped.
// Everything is acknowledged once written.
type Stdout struct {
	mu       sync.Mutex
	out, dlq *bufio.Writer
}

// NewStdout writes findings to out and DLQ entries to dlq.
func NewStdout(out, dlq io.Writer) *Stdout {
	return &Stdout{out: bufio.NewWriter(out), dlq: bufio.NewWriter(dlq)}
}

// Write writes msgs' values, one per line, and acknowledges them.
func (s *Stdout) Write(_ context.Context, t Topic, msgs []Message, ack Acker) error {
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
	if ack != nil && len(msgs) > 0 {
		if err != nil {
			err = fmt.Errorf("write %s: %w", t, err)
		}
		ack.Ack(len(msgs), err)
	}
	return nil
}

// WantsRecords is false: stdout carries findings only.
func (s *Stdout) WantsRecords() bool { return false }

// Close flushes.
func (s *Stdout) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.out.Flush(), s.dlq.Flush())
}

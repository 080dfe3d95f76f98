package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/backoff"
)

// SQSAPI is the part of the SQS client the source uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueUrl(ctx context.Context, in *sqs.GetQueueUrlInput, opts ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error)
}

// ResolveQueueURL turns the part after sqs:// into a queue URL: a URL is
// kept, host/account/name gets https://, a bare name is looked up.
func ResolveQueueURL(ctx context.Context, c SQSAPI, spec string) (string, error) {
	spec = strings.TrimPrefix(spec, "sqs://")
	switch {
	case spec == "":
		return "", errors.New("sqs: empty queue name")
	case strings.HasPrefix(spec, "http://"), strings.HasPrefix(spec, "https://"):
		return spec, nil
	case strings.Contains(spec, "/"):
		return "https://" + spec, nil
	}
	out, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(spec)})
	if err != nil {
		return "", fmt.Errorf("sqs: look up queue %s: %w", spec, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// Defaults of SQSOptions.
const (
	// DefaultWaitTime is the long-poll wait, SQS's maximum.
	DefaultWaitTime = 20 * time.Second
	// DefaultVisibilityTimeout is asked for on receive. A heartbeat renews
	// it every third while a message is worked on, so it only bounds how
	// soon a message comes back after a crash: short enough that a killed
	// ingest delays alerts by a minute at most.
	DefaultVisibilityTimeout = 60 * time.Second
	// DefaultMaxInFlight bounds the messages received and not yet settled.
	DefaultMaxInFlight = 20
	// DefaultReceivers is how many receives run at once. One receive
	// brings at most 10 messages and takes a round trip (more under
	// load), so one receiver alone caps a queue of small objects at a
	// few hundred messages a second.
	DefaultReceivers = 4
)

// receiveBackoff spaces receives that fail (SQS unreachable, throttled).
var receiveBackoff = backoff.Policy{Base: time.Second, Max: 30 * time.Second, Jitter: 0.2}

// SQSOptions configure an SQS source.
type SQSOptions struct {
	QueueURL string
	// WaitTime is the long-poll wait (default DefaultWaitTime).
	WaitTime time.Duration
	// VisibilityTimeout is asked for on receive and renewed by a heartbeat
	// every third of it while a message is in progress (default
	// DefaultVisibilityTimeout).
	VisibilityTimeout time.Duration
	// MaxInFlight bounds the messages received and not yet settled (default DefaultMaxInFlight).
	MaxInFlight int
	// Receivers is how many ReceiveMessage calls run at once (default
	// DefaultReceivers), each for as many messages as MaxInFlight leaves
	// room for, up to 10.
	Receivers int
	Logger    *slog.Logger
}

// SQS receives messages with long polling and settles them: deletes in
// batches, or changes their visibility to release them for redelivery.
type SQS struct {
	c   SQSAPI
	o   SQSOptions
	log *slog.Logger

	del      chan deleteReq
	inflight sync.Map // *Message -> struct{}
	n        atomic.Int64
}

// NewSQS returns an SQS source for o.QueueURL.
func NewSQS(c SQSAPI, o SQSOptions) *SQS {
	if o.WaitTime <= 0 {
		o.WaitTime = DefaultWaitTime
	}
	if o.VisibilityTimeout <= 0 {
		o.VisibilityTimeout = DefaultVisibilityTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.Receivers <= 0 {
		o.Receivers = DefaultReceivers
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &SQS{c: c, o: o, log: o.Logger.With("queue", o.QueueURL)}
}

// Message is one received SQS message. The handler settles it exactly
// once, with Delete or Release; until then its visibility is extended.
type Message struct {
	ID            string
	Body          string
	ReceiptHandle string
	ReceiveCount  int
	SentAt        time.Time
	ReceivedAt    time.Time

	s       *SQS
	settled atomic.Bool
	stop    chan struct{}
	done    chan struct{} // closed when settled (and deleted, for Delete)
	release func()
}

type deleteReq struct {
	m    *Message
	done func(error)
}

// Delete removes the message from the queue (batched). It returns when the
// delete was sent (or failed: the message then comes back and is processed
// again, which at-least-once delivery allows).
func (m *Message) Delete() error {
	if !m.settled.CompareAndSwap(false, true) {
		return nil
	}
	close(m.stop)
	errc := make(chan error, 1)
	m.s.del <- deleteReq{m: m, done: func(err error) { errc <- err }}
	err := <-errc
	m.finish()
	return err
}

// Release makes the message visible again after d (0: at once), for
// redelivery to this or another consumer.
func (m *Message) Release(d time.Duration) error {
	if !m.settled.CompareAndSwap(false, true) {
		return nil
	}
	close(m.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	secs := int32(min(max(d, 0), 12*time.Hour) / time.Second)
	_, err := m.s.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(m.s.o.QueueURL), ReceiptHandle: aws.String(m.ReceiptHandle), VisibilityTimeout: secs,
	})
	if err != nil {
		m.s.log.Warn("release message", "message_id", m.ID, "err", err)
		err = fmt.Errorf("sqs: release message %s: %w", m.ID, err)
	}
	m.finish()
	return err
}

func (m *Message) finish() {
	m.s.inflight.Delete(m)
	m.s.n.Add(-1)
	m.release()
	close(m.done)
}

// InFlight is the number of unsettled messages.
func (s *SQS) InFlight() int { return int(s.n.Load()) }

// OldestAge is the age (since it was sent) of the oldest unsettled message.
func (s *SQS) OldestAge() time.Duration {
	var oldest time.Time
	s.inflight.Range(func(k, _ any) bool {
		m := k.(*Message)
		if oldest.IsZero() || m.SentAt.Before(oldest) {
			oldest = m.SentAt
		}
		return true
	})
	if oldest.IsZero() {
		return 0
	}
	return time.Since(oldest)
}

// Run receives until ctx ends (Receivers receives at once), calling
// handle in a new goroutine for each message. It then waits for every
// received message to be settled, flushes pending deletes, and returns.
func (s *SQS) Run(ctx context.Context, handle func(*Message)) error {
	s.del = make(chan deleteReq, 64)
	delDone := make(chan struct{})
	go func() { defer close(delDone); s.deleter() }()

	slots := make(chan struct{}, s.o.MaxInFlight)
	var wg, receivers sync.WaitGroup
	for range s.o.Receivers {
		receivers.Add(1)
		go func() {
			defer receivers.Done()
			s.receive(ctx, slots, &wg, handle)
		}()
	}
	receivers.Wait()
	wg.Wait()
	close(s.del)
	<-delDone
	return nil
}

// receive is one receiver: it receives until ctx ends, taking a slot of
// slots for every message it hands to handle.
func (s *SQS) receive(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup, handle func(*Message)) {
	failures := 0
	for ctx.Err() == nil {
		// Wait for at least one free slot.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		free := 1
	fill:
		for free < 10 {
			select {
			case slots <- struct{}{}:
				free++
			default:
				break fill
			}
		}
		// The long poll is not cancelled with ctx: a receive abandoned
		// mid-poll can still take messages, hiding them for a whole
		// visibility timeout. Messages that arrive after ctx ended are
		// released at once instead.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), s.o.WaitTime+15*time.Second)
		out, err := s.c.ReceiveMessage(rctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(s.o.QueueURL),
			MaxNumberOfMessages:         int32(free),
			WaitTimeSeconds:             int32(s.o.WaitTime / time.Second),
			VisibilityTimeout:           int32(s.o.VisibilityTimeout / time.Second),
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount, types.MessageSystemAttributeNameSentTimestamp},
		})
		rcancel()
		var got int
		if out != nil {
			got = len(out.Messages)
		}
		for i := got; i < free; i++ {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			wait := receiveBackoff.Delay(failures)
			failures++
			s.log.Warn("sqs receive failed", "err", err, "retry_in", wait)
			backoff.Sleep(ctx, wait)
			continue
		}
		failures = 0
		now := time.Now()
		for _, rm := range out.Messages {
			m := &Message{
				ID: aws.ToString(rm.MessageId), Body: aws.ToString(rm.Body), ReceiptHandle: aws.ToString(rm.ReceiptHandle),
				ReceivedAt: now, SentAt: now, s: s,
				stop: make(chan struct{}), done: make(chan struct{}),
				release: func() { <-slots },
			}
			if v, ok := rm.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)]; ok {
				m.ReceiveCount, _ = strconv.Atoi(v)
			}
			if v, ok := rm.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)]; ok {
				if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
					m.SentAt = time.UnixMilli(ms)
				}
			}
			s.inflight.Store(m, struct{}{})
			s.n.Add(1)
			wg.Add(2)
			go func() { defer wg.Done(); s.heartbeat(m) }()
			stopping := ctx.Err() != nil
			go func() {
				defer wg.Done()
				if stopping {
					m.Release(0)
				} else {
					handle(m)
				}
				<-m.done
			}()
		}
	}
}

// heartbeat extends m's visibility every third of the timeout until settled.
func (s *SQS) heartbeat(m *Message) {
	every := max(s.o.VisibilityTimeout/3, 200*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			_, err := s.c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(s.o.QueueURL), ReceiptHandle: aws.String(m.ReceiptHandle),
				VisibilityTimeout: int32(s.o.VisibilityTimeout / time.Second),
			})
			cancel()
			if err != nil && !m.settled.Load() {
				s.log.Warn("extend visibility", "message_id", m.ID, "err", err)
			}
		}
	}
}

// deleter sends deletes in batches of up to 10, waiting at most 50ms to fill one.
func (s *SQS) deleter() {
	var batch []deleteReq
	flush := func() {
		if len(batch) == 0 {
			return
		}
		in := &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(s.o.QueueURL)}
		for i, r := range batch {
			in.Entries = append(in.Entries, types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.m.ReceiptHandle)})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		out, err := s.c.DeleteMessageBatch(ctx, in)
		cancel()
		failed := map[string]string{}
		if out != nil {
			for _, f := range out.Failed {
				failed[aws.ToString(f.Id)] = aws.ToString(f.Code) + ": " + aws.ToString(f.Message)
			}
		}
		for i, r := range batch {
			switch {
			case err != nil:
				s.log.Warn("sqs delete failed", "message_id", r.m.ID, "err", err)
				r.done(fmt.Errorf("sqs: delete message %s: %w", r.m.ID, err))
			case failed[strconv.Itoa(i)] != "":
				s.log.Warn("sqs delete failed", "message_id", r.m.ID, "err", failed[strconv.Itoa(i)])
				r.done(fmt.Errorf("sqs: delete message %s: %s", r.m.ID, failed[strconv.Itoa(i)]))
			default:
				r.done(nil)
			}
		}
		batch = batch[:0]
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case r, ok := <-s.del:
			if !ok {
				flush()
				return
			}
			batch = append(batch, r)
			if len(batch) == 1 {
				timer.Reset(50 * time.Millisecond)
			}
			if len(batch) == 10 {
				timer.Stop()
				flush()
			}
		case <-timer.C:
			flush()
		}
	}
}

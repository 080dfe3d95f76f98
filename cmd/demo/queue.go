package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/source"
)

// queue is an in-process SQS queue behind source.SQSAPI, the seam the
// ingester's SQS source talks through. It keeps the SQS semantics the
// source relies on: long polling, a visibility timeout per receive (a
// message comes back when it is neither deleted nor extended in time), a
// fresh receipt handle per receive (a stale handle cannot delete),
// ApproximateReceiveCount and SentTimestamp, and batch deletes with
// per-entry failures. The demo uses it because the real stand-in, fauxqs,
// is a Node process and `make demo` needs only Go.
type queue struct {
	url string

	mu      sync.Mutex
	wake    chan struct{} // closed and replaced when a message is sent or becomes visible
	msgs    map[string]*queued
	order   []string // message ids in send order
	seq     int
	receipt int
}

type queued struct {
	id, body, receipt string
	sentAt, visibleAt time.Time
	receives          int
}

var _ source.SQSAPI = (*queue)(nil)

func newQueue(url string) *queue {
	return &queue{url: url, wake: make(chan struct{}), msgs: map[string]*queued{}}
}

// Send enqueues a message body, as S3 does when it delivers an event notification.
func (q *queue) Send(body string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.seq++
	id := fmt.Sprintf("demo-%08d", q.seq)
	now := time.Now()
	q.msgs[id] = &queued{id: id, body: body, sentAt: now, visibleAt: now}
	q.order = append(q.order, id)
	q.signal()
}

// Len is the number of messages not yet deleted.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs)
}

func (q *queue) signal() {
	close(q.wake)
	q.wake = make(chan struct{})
}

func (q *queue) check(u *string) error {
	if aws.ToString(u) != q.url {
		return fmt.Errorf("AWS.SimpleQueueService.NonExistentQueue: no queue %q", aws.ToString(u))
	}
	return nil
}

// ReceiveMessage long-polls for up to MaxNumberOfMessages visible messages.
func (q *queue) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, _ ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	if err := q.check(in.QueueUrl); err != nil {
		return nil, err
	}
	max := int(in.MaxNumberOfMessages)
	if max <= 0 {
		max = 1
	}
	if max > 10 {
		return nil, fmt.Errorf("InvalidParameterValue: MaxNumberOfMessages %d is more than 10", max)
	}
	vis := time.Duration(in.VisibilityTimeout) * time.Second
	if vis <= 0 {
		vis = 30 * time.Second
	}
	deadline := time.NewTimer(time.Duration(in.WaitTimeSeconds) * time.Second)
	defer deadline.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		var out []types.Message
		next := time.Time{}
		for _, id := range q.order {
			m := q.msgs[id]
			if m == nil {
				continue
			}
			if m.visibleAt.After(now) {
				if next.IsZero() || m.visibleAt.Before(next) {
					next = m.visibleAt
				}
				continue
			}
			if len(out) == max {
				break
			}
			q.receipt++
			m.receipt = fmt.Sprintf("%s#%d", m.id, q.receipt)
			m.receives++
			m.visibleAt = now.Add(vis)
			out = append(out, types.Message{
				MessageId: aws.String(m.id), Body: aws.String(m.body), ReceiptHandle: aws.String(m.receipt),
				Attributes: map[string]string{
					string(types.MessageSystemAttributeNameApproximateReceiveCount): strconv.Itoa(m.receives),
					string(types.MessageSystemAttributeNameSentTimestamp):           strconv.FormatInt(m.sentAt.UnixMilli(), 10),
				},
			})
		}
		q.compact()
		wake := q.wake
		q.mu.Unlock()
		if len(out) > 0 {
			return &sqs.ReceiveMessageOutput{Messages: out}, nil
		}
		var reappear <-chan time.Time
		if !next.IsZero() {
			t := time.NewTimer(time.Until(next))
			defer t.Stop()
			reappear = t.C
		}
		select {
		case <-wake:
		case <-reappear:
		case <-deadline.C:
			return &sqs.ReceiveMessageOutput{}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// compact drops deleted ids from the send order (under mu).
func (q *queue) compact() {
	if len(q.order) < 2*len(q.msgs)+64 {
		return
	}
	kept := q.order[:0]
	for _, id := range q.order {
		if q.msgs[id] != nil {
			kept = append(kept, id)
		}
	}
	q.order = kept
}

func (q *queue) byReceipt(h string) *queued {
	for _, m := range q.msgs {
		if m.receipt == h {
			return m
		}
	}
	return nil
}

// DeleteMessageBatch deletes up to 10 messages by receipt handle; an
// unknown or stale handle fails that entry only.
func (q *queue) DeleteMessageBatch(_ context.Context, in *sqs.DeleteMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	if err := q.check(in.QueueUrl); err != nil {
		return nil, err
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, fmt.Errorf("AWS.SimpleQueueService.TooManyEntriesInBatchRequest: %d entries", len(in.Entries))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	out := &sqs.DeleteMessageBatchOutput{}
	for _, e := range in.Entries {
		m := q.byReceipt(aws.ToString(e.ReceiptHandle))
		if m == nil {
			out.Failed = append(out.Failed, types.BatchResultErrorEntry{Id: e.Id, Code: aws.String("ReceiptHandleIsInvalid"),
				Message: aws.String("the receipt handle is not the latest of an existing message"), SenderFault: true})
			continue
		}
		delete(q.msgs, m.id)
		out.Successful = append(out.Successful, types.DeleteMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// ChangeMessageVisibility extends (or, with 0, ends) a received message's invisibility.
func (q *queue) ChangeMessageVisibility(_ context.Context, in *sqs.ChangeMessageVisibilityInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	if err := q.check(in.QueueUrl); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	m := q.byReceipt(aws.ToString(in.ReceiptHandle))
	if m == nil {
		return nil, fmt.Errorf("AWS.SimpleQueueService.MessageNotInflight: no message with that receipt handle")
	}
	m.visibleAt = time.Now().Add(time.Duration(in.VisibilityTimeout) * time.Second)
	if in.VisibilityTimeout == 0 {
		q.signal()
	}
	return &sqs.ChangeMessageVisibilityOutput{}, nil
}

// GetQueueUrl answers for the one queue there is.
func (q *queue) GetQueueUrl(_ context.Context, in *sqs.GetQueueUrlInput, _ ...func(*sqs.Options)) (*sqs.GetQueueUrlOutput, error) {
	if aws.ToString(in.QueueName) != "rootwatch-demo" {
		return nil, fmt.Errorf("AWS.SimpleQueueService.NonExistentQueue: %q", aws.ToString(in.QueueName))
	}
	return &sqs.GetQueueUrlOutput{QueueUrl: aws.String(q.url)}, nil
}

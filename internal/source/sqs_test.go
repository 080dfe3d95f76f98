package source_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/source"
	"rootwatch/internal/source/sqstest"
	"rootwatch/internal/testutil"
)

var fq *sqstest.Server

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &fq)) }

func send(t *testing.T, c *sqs.Client, url, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func visible(t *testing.T, c *sqs.Client, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"} {
		var v int
		for _, ch := range out.Attributes[k] {
			v = v*10 + int(ch-'0')
		}
		n += v
	}
	return n
}

func TestResolveQueueURL(t *testing.T) {
	sqstest.Need(t, fq)
	c := fq.SQS()
	url := fq.CreateQueue(t, "resolve-me", 30)
	ctx := context.Background()
	for spec, want := range map[string]string{
		"sqs://resolve-me": url,
		"sqs://https://sqs.us-east-1.amazonaws.com/123456789012/q": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
		"sqs://sqs.eu-west-1.amazonaws.com/123456789012/q":         "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
	} {
		got, err := source.ResolveQueueURL(ctx, c, spec)
		if err != nil || got != want {
			t.Errorf("%s: %q, %v; want %q", spec, got, err, want)
		}
	}
	if _, err := source.ResolveQueueURL(ctx, c, "sqs://no-such-queue"); err == nil {
		t.Error("missing queue: no error")
	}
}

// A message held longer than its visibility timeout is not redelivered while
// the heartbeat runs; deleted, it is gone; released, it comes back.
func TestSQSHeartbeatDeleteRelease(t *testing.T) {
	sqstest.Need(t, fq)
	c := fq.SQS()
	url := fq.CreateQueue(t, "hb", 1)
	send(t, c, url, "one")
	send(t, c, url, "two")

	hb := &heartbeats{SQSAPI: c, n: map[string]int{}}
	s := source.NewSQS(hb, source.SQSOptions{QueueURL: url, WaitTime: time.Second, VisibilityTimeout: time.Second, MaxInFlight: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]int{}
	released := make(chan struct{})
	runDone := make(chan struct{})
	runCtx, stop := context.WithCancel(ctx)
	go func() {
		defer close(runDone)
		s.Run(runCtx, func(m *source.Message) {
			mu.Lock()
			seen[m.Body]++
			n := seen[m.Body]
			mu.Unlock()
			switch {
			case m.Body == "one":
				// Hold for 3 visibility timeouts (9 heartbeats, one every
				// third of it): the heartbeat must keep it hidden.
				if !hb.await(m.ReceiptHandle, 9, 30*time.Second) {
					t.Errorf("fewer than 9 heartbeats for a held message: %d", hb.count(m.ReceiptHandle))
				}
				m.Delete()
			case m.Body == "two" && n == 1:
				if m.ReceiveCount != 1 {
					t.Errorf("first receive count %d", m.ReceiveCount)
				}
				m.Release(0)
				close(released)
			default:
				if m.ReceiveCount < 2 {
					t.Errorf("redelivered message has receive count %d", m.ReceiveCount)
				}
				m.Delete()
			}
		})
	}()
	testutil.WaitFor(t, 40*time.Second, "both messages settled and the queue empty", func() bool {
		mu.Lock()
		done := seen["one"] >= 1 && seen["two"] >= 2
		mu.Unlock()
		return done && visible(t, c, url) == 0
	})
	<-released
	stop()
	select {
	case <-runDone:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["one"] != 1 {
		t.Errorf("message held under heartbeat delivered %d times, want 1", seen["one"])
	}
	if s.InFlight() != 0 {
		t.Errorf("in flight after Run: %d", s.InFlight())
	}
}

// heartbeats counts the visibility extensions sent for each receipt handle.
type heartbeats struct {
	source.SQSAPI
	mu sync.Mutex
	n  map[string]int
}

func (h *heartbeats) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	out, err := h.SQSAPI.ChangeMessageVisibility(ctx, in, opts...)
	if err == nil && in.VisibilityTimeout > 0 {
		h.mu.Lock()
		h.n[aws.ToString(in.ReceiptHandle)]++
		h.mu.Unlock()
	}
	return out, err
}

func (h *heartbeats) count(receipt string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[receipt]
}

// await reports whether receipt got n extensions within timeout (it is
// called from a handler goroutine, where t.Fatal may not be).
func (h *heartbeats) await(receipt string, n int, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for h.count(receipt) < n {
		select {
		case <-tick.C:
		case <-deadline.C:
			return false
		}
	}
	return true
}

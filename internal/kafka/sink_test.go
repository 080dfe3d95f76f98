package kafka_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/sink"
	"rootwatch/internal/testutil"
)

type countingAcker struct{ n, errs atomic.Int64 }

func (c *countingAcker) Ack(n int, err error) {
	c.n.Add(int64(n))
	if err != nil {
		c.errs.Add(1)
	}
}

// TestSinkInFlightBudget: with a budget smaller than what is written,
// writes wait for Kafka's acknowledgements instead of piling up, every
// message is still delivered and acknowledged once, the budget is whole
// again at the end, and a write larger than the whole budget still goes.
func TestSinkInFlightBudget(t *testing.T) {
	_, cfg := kafkatest.Cluster(t, 1, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	const budget = 4 << 10
	s, err := kafka.NewSink(cfg, kafka.SinkOptions{MaxInFlightBytes: budget,
		Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ack := &countingAcker{}
	val := []byte(strings.Repeat("r", 1000))
	const writes, per = 40, 3 // 120 KB through a 4 KB budget
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < writes; i++ {
		msgs := make([]sink.Message, per)
		for j := range msgs {
			msgs[j] = sink.Message{Key: []byte("111122223333"), Value: val}
		}
		if err := s.Write(ctx, sink.TopicRecords, msgs, ack); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if inFlight := int64(i+1)*per - ack.n.Load(); inFlight*1000 > 2*budget {
			t.Fatalf("after write %d, %d messages (%d bytes) unacknowledged: the budget does not hold", i, inFlight, inFlight*1000)
		}
	}
	big := []sink.Message{{Value: []byte(strings.Repeat("b", 3*budget))}}
	if err := s.Write(ctx, sink.TopicRecords, big, ack); err != nil {
		t.Fatalf("a write larger than the budget: %v", err)
	}
	testutil.WaitFor(t, 20*time.Second, "every message acknowledged", func() bool { return ack.n.Load() == writes*per+1 })
	// The budget is whole again: a write of all of it goes through.
	whole := []sink.Message{{Value: []byte(strings.Repeat("w", budget))}}
	if err := s.Write(ctx, sink.TopicRecords, whole, ack); err != nil {
		t.Fatalf("budget not given back after every acknowledgement: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := ack.n.Load(), int64(writes*per+2); got != want || ack.errs.Load() != 0 {
		t.Fatalf("acknowledged %d (errors %d), want %d", got, ack.errs.Load(), want)
	}
	if n := kafkatest.Count(t, cfg, kafka.TopicRecords); n != writes*per+2 {
		t.Fatalf("%d messages in Kafka, want %d", n, writes*per+2)
	}
}

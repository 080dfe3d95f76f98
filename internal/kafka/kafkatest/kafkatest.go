// Package kafkatest starts an in-process Kafka (kfake) for tests and reads
// topics back with franz-go, so that tests check what a real consumer sees.
package kafkatest

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"rootwatch/internal/kafka"
)

// Cluster starts a one-broker kfake cluster with topics seeded (partitions
// each) and returns a Config for it; the cluster stops when the test ends.
func Cluster(t testing.TB, partitions int32, topics ...string) (*kfake.Cluster, kafka.Config) {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c, kafka.Config{Brokers: c.ListenAddrs(), ClientID: "rootwatch-test"}
}

// Record is one consumed message.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// ReadAll reads topic from the start until it has at least min records or
// timeout passes, and returns what it read (the caller asserts on the count).
func ReadAll(t testing.TB, cfg kafka.Config, topic string, min int, timeout time.Duration) []Record {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []Record
	for len(out) < min {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(r *kgo.Record) {
			h := make(map[string]string, len(r.Headers))
			for _, x := range r.Headers {
				h[x.Key] = string(x.Value)
			}
			out = append(out, Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Key: r.Key, Value: r.Value, Headers: h})
		})
	}
	return out
}

// Count returns how many records topic holds now (sum of high watermarks).
func Count(t testing.TB, cfg kafka.Config, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A ListOffsets for the end of every partition.
	var n int64
	for p := int32(0); ; p++ {
		o, ok := endOffset(ctx, cl, topic, p)
		if !ok {
			break
		}
		n += o
	}
	return n
}

package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/testutil"
)

// TestWaitForTopics: existing topics give their partition counts; a missing
// topic is reported as missing at once; a broker that cannot be reached is
// retried (visibly, in the log) and then reported as unreachable, naming
// the brokers, not as a missing topic.
func TestWaitForTopics(t *testing.T) {
	_, cfg := kafkatest.Cluster(t, 3, kafka.TopicDLQ, kafka.TopicRecords)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := kafka.WaitForTopics(ctx, cfg, time.Minute, nil, kafka.TopicDLQ, kafka.TopicRecords)
	if err != nil || len(n) != 2 || n[0] != 3 || n[1] != 3 {
		t.Fatalf("existing topics: %v, %v", n, err)
	}
	if _, err := kafka.WaitForTopics(ctx, cfg, time.Minute, nil); err != nil {
		t.Fatalf("brokers only: %v", err)
	}
	_, err = kafka.WaitForTopics(ctx, cfg, time.Minute, nil, "no.such.topic")
	if !errors.Is(err, kafka.ErrUnknownTopic) || !strings.Contains(err.Error(), "no.such.topic") {
		t.Fatalf("missing topic: %v", err)
	}

	addr := testutil.UnusedAddr(t) // nothing listens there
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	_, err = kafka.WaitForTopics(ctx, kafka.Config{Brokers: []string{addr}}, 2*time.Second, log, kafka.TopicDLQ)
	if err == nil || errors.Is(err, kafka.ErrUnknownTopic) || !strings.Contains(err.Error(), "not reachable at "+addr) || !strings.Contains(err.Error(), "--kafka-wait") {
		t.Fatalf("unreachable broker: %v", err)
	}
	if c := strings.Count(logs.String(), "kafka not reachable yet; retrying"); c < 2 {
		t.Fatalf("want every attempt logged, got %d lines:\n%s", c, logs.String())
	}
}

// TestWaitForTopicsForever: with no bound, WaitForTopics keeps trying until
// a broker appears, and then succeeds.
func TestWaitForTopicsForever(t *testing.T) {
	addr := testutil.UnusedAddr(t) // nothing listens there
	var logs testutil.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type res struct {
		n   []int
		err error
	}
	done := make(chan res, 1)
	go func() {
		n, err := kafka.WaitForTopics(ctx, kafka.Config{Brokers: []string{addr}}, 0, log, kafka.TopicDLQ)
		done <- res{n, err}
	}()
	testutil.WaitFor(t, 30*time.Second, "a retry logged", func() bool {
		return strings.Contains(logs.String(), "kafka not reachable yet; retrying")
	})
	// Now start a broker on that address.
	startClusterAt(t, addr, kafka.TopicDLQ)
	r := <-done
	if r.err != nil || len(r.n) != 1 || r.n[0] != 2 {
		t.Fatalf("after the broker came: %v, %v", r.n, r.err)
	}
}

// startClusterAt starts a kfake broker on addr (host:port) with topic.
func startClusterAt(t *testing.T, addr, topic string) {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatalf("kfake on %s: %v", addr, err)
	}
	t.Cleanup(c.Close)
}

package alert

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/testutil"
)

// TestRunKafkaWaitsThenFailsClearly: alert started before Kafka retries
// visibly, like ingest, and after KafkaWait fails with an error naming the
// brokers.
func TestRunKafkaWaitsThenFailsClearly(t *testing.T) {
	addr := testutil.UnusedAddr(t) // nothing listens there
	cfg := testConfig(t, strings.Replace(kafkaConfig, "placeholder:9092", addr, 1))
	var logs testutil.SyncBuffer
	svc, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), KafkaWait: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = svc.RunKafka(ctx)
	if err == nil || !strings.Contains(err.Error(), "not reachable at "+addr) || !strings.Contains(err.Error(), "--kafka-wait") {
		t.Fatalf("RunKafka with Kafka unreachable: %v", err)
	}
	if !strings.Contains(logs.String(), "kafka not reachable yet; retrying") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
}

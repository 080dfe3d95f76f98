package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
)

// TestWaitForTopic: a missing topic is reported as missing; a broker that
// cannot be reached is reported as such when the wait ends, not as a
// missing topic.
func TestWaitForTopic(t *testing.T) {
	_, cfg := kafkatest.Cluster(t, 1, kafka.TopicDLQ)
	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitForTopic(ctx, cfg, kafka.TopicDLQ, log); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	err := waitForTopic(ctx, cfg, "no.such.topic", log)
	if err == nil || !strings.Contains(err.Error(), "--create-topics") {
		t.Fatalf("missing topic: %v", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	short, cancel2 := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	defer cancel2()
	err = waitForTopic(short, kafka.Config{Brokers: []string{addr}}, kafka.TopicDLQ, log)
	if err == nil || !strings.Contains(err.Error(), "is Kafka reachable at "+addr) || strings.Contains(err.Error(), "--create-topics") {
		t.Fatalf("unreachable broker: %v", err)
	}
}

package main

import (
	"context"
	"strings"
	"testing"

	"rootwatch/internal/fixtures"
	"rootwatch/internal/testutil"
)

// TestKafkaUnreachableAtStart: with no broker listening, ingest retries
// visibly for --kafka-wait and then fails with an error naming the
// brokers, before reading anything.
func TestKafkaUnreachableAtStart(t *testing.T) {
	tree, err := fixtures.WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	addr := testutil.UnusedAddr(t) // nothing listens there
	var stderr testutil.SyncBuffer
	code := run(context.Background(), []string{"--source", tree.Dir, "--sink", "kafka", "--brokers", addr, "--kafka-wait", "1500ms"},
		&testutil.SyncBuffer{}, &stderr, func(string) (string, bool) { return "", false })
	if code == 0 {
		t.Fatalf("exit 0 with Kafka unreachable:\n%s", stderr.String())
	}
	for _, want := range []string{"kafka not reachable yet; retrying", "kafka not reachable at " + addr, "--kafka-wait"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "scan:") {
		t.Errorf("files were read although the sink was never set up:\n%s", stderr.String())
	}
}

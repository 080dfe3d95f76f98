package chaos

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
)

// TestIngestMemoryBounded: ingest's memory must be bounded by its workers
// and batch sizes, not by the size of its input. It reads ~830 MB
// (decompressed) of CloudTrail files with 4 workers into Kafka, records
// topic on, and asserts a peak RSS under 512 MiB.
//
// It once peaked at ~1 GiB, growing with the input, because nothing bounded
// the records handed to the async Kafka writer and not yet acknowledged;
// KafkaSink's MaxInFlightBytes (--max-inflight-bytes) now does.
func TestIngestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("reads ~830 MB; skipped with -short")
	}
	bin := binaries(t)
	dir := t.TempDir()
	if _, err := gen.GenerateDir(gen.Config{Seed: 1, Files: 16, RecordsPerFile: 40000, RootShare: 0.001}, dir); err != nil {
		t.Fatal(err)
	}
	_, kcfg := kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "ingest"), "--source", dir, "--sink", "kafka",
		"--brokers", kcfg.Brokers[0], "--workers", "4", "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var hwm int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ingest: %v", err)
			}
			running = false
		case <-tick.C:
			hwm = max(hwm, VmHWM(cmd.Process.Pid))
		}
	}
	t.Logf("ingest peak RSS %d MiB", hwm>>10)
	if hwm > 512<<10 {
		t.Errorf("ingest peak RSS %s MiB for 4 workers: memory grows with the input (records in flight are not bounded)", strconv.FormatInt(hwm>>10, 10))
	}
}

package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/testutil"
)

// The fleet flags go only with their sources: each misuse is a usage
// error (exit 2) saying what to give instead.
func TestFleetUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--source", "x"}, "ingest: --sink is required (or set ROOTWATCH_INGEST_SINK, or sink in the config file)"},
		{[]string{"--source", "kafka://cloudtrail.backfill", "--sink", "stdout"}, "ingest: a backfill worker (--source kafka://…) writes to Kafka: give --sink kafka"},
		{[]string{"--source", "s3://b/?from=2026-01-01", "--sink", "stdout", "--plan"}, "ingest: --plan writes the work items to Kafka: give --sink kafka"},
		{[]string{"--source", "./logs", "--sink", "kafka", "--plan"}, "ingest: --plan plans an s3:// backfill"},
		{[]string{"--source", "s3://b/?from=2026-01-01", "--sink", "kafka", "--plan", "--checkpoint", "x"}, "ingest: --checkpoint is for a backfill in one process"},
		{[]string{"--source", "s3://b/?from=2026-01-01", "--status"}, "ingest: --status reads a fleet backfill: give --source kafka://<plan topic>"},
		{[]string{"--source", "kafka://a/b", "--status", "--brokers", "k:9092"}, `ingest: source "kafka://a/b": want kafka://<plan topic>`},
		{[]string{"--source", "kafka://cloudtrail.backfill", "--status"}, "ingest: kafka: no brokers configured (set --brokers or kafka.brokers)"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, &out, &errb, noEnv)
		if code != 2 || !strings.HasPrefix(errb.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errb.String(), c.want)
		}
	}
}

// The three fleet commands end to end, in process: --plan (with
// --create-topics) writes the plan, a worker reads all of it and leaves
// because the backfill is complete, and --status says so.
func TestFleetCommands(t *testing.T) {
	setAWSEnv(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(time.Second),
		kfake.SeedTopics(3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	kcfg := kafka.Config{Brokers: c.ListenAddrs()}
	brokers := strings.Join(kcfg.Brokers, ",")
	s3s := s3test.Start(t, nil)
	s3s.Bucket(t, bucket)
	l := generate(t, gen.Config{Seed: 5, Files: 40, RecordsPerFile: 5, RootShare: 0.05, Bucket: bucket})
	for _, k := range l.keys {
		s3s.Put(t, bucket, k, l.gz[k])
	}
	s3 := []string{"--s3-endpoint", s3s.URL, "--s3-path-style", "--region", "us-east-1"}

	var out, errb bytes.Buffer
	args := append([]string{"--source", "s3://" + bucket + "/?from=2026-01-01&to=2026-01-31", "--sink", "kafka", "--plan", "--brokers", brokers,
		"--create-topics", "--replication-factor", "1", "--backfill-partitions", "4", "--item-objects", "3"}, s3...)
	if code := run(context.Background(), args, &out, &errb, noEnv); code != 0 {
		t.Fatalf("--plan: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "ingest: plan cloudtrail.backfill of s3://"+bucket+"/?from=2026-01-01&to=2026-01-31:") ||
		!strings.Contains(errb.String(), "40 objects") || !strings.Contains(errb.String(), "complete=true") {
		t.Errorf("--plan summary:\n%s", errb.String())
	}
	if n, err := kafka.Partitions(context.Background(), kcfg, "cloudtrail.backfill"); err != nil || n != 4 {
		t.Errorf("plan topic: %d partitions, %v; want the 4 of --backfill-partitions", n, err)
	}

	errb.Reset()
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), append([]string{"--source", "kafka://cloudtrail.backfill", "--sink", "kafka", "--brokers", brokers,
			"--session-timeout", "2s", "--log-level", "warn"}, s3...), &out, &testutil.SyncBuffer{}, noEnv)
	}()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker: exit %d", code)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the worker did not leave once the backfill was complete")
	}
	if n := kafkatest.Count(t, kcfg, kafka.TopicRecords); n != l.truth.Records {
		t.Errorf("%d records in Kafka, want %d", n, l.truth.Records)
	}

	out.Reset()
	if code := run(context.Background(), []string{"--source", "kafka://cloudtrail.backfill", "--status", "--brokers", brokers, "--progress", "none"}, &out, &errb, noEnv); code != 0 {
		t.Fatalf("--status: exit %d\n%s", code, errb.String())
	}
	for _, want := range []string{"complete=true", "0 to do", "objects=40/40", "findings=" + strconv.Itoa(len(l.truth.FindingIDs()))} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--status lacks %q:\n%s", want, out.String())
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestObserve: with --log-append-time a record produced with an old
// timestamp is read back with the broker's append time, and with
// --log-commits an offset commit is printed with its group, topic,
// partition and offset.
func TestObserve(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf bytes.Buffer
	out := &lines{w: bufio.NewWriter(&buf)}
	observe(c, true, true, out)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("t"),
		kgo.ConsumerGroup("g"), kgo.DisableAutoCommit(), kgo.ProducerLinger(0),
		kgo.MaxVersions(kversion.V3_0_0())) // OffsetCommit by topic name, as kafka-go sends it
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	before := time.Now().Add(-time.Second)
	for i := range 3 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte(fmt.Sprint(i)), Timestamp: old}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	var got []*kgo.Record
	for len(got) < 3 && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		got = append(got, fs.Records()...)
	}
	if len(got) != 3 {
		t.Fatalf("read %d records, want 3", len(got))
	}
	for _, r := range got {
		if r.Timestamp.Before(before) || r.Timestamp.After(time.Now().Add(time.Second)) {
			t.Errorf("record %s has timestamp %s, want the append time (about %s)", r.Value, r.Timestamp, time.Now())
		}
	}
	if err := cl.CommitRecords(ctx, got[len(got)-1]); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	if !strings.Contains(text, " g t 0 3\n") || !strings.HasPrefix(text, "commit ") {
		t.Errorf("commit lines %q, want one ending in \" g t 0 3\"", text)
	}
}

package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/kafka"
	"rootwatch/internal/source"
)

// The state topic's partitions: the planner writes only to planPartition,
// so its last record is always the planner's latest; workers write their
// counters to workerPartition, one key each.
const (
	planPartition   = 0
	workerPartition = 1
	statePartitions = 2
)

// planRecord is the planner's progress (key "plan"), written before each
// batch of items: everything up to Position is planned once Pending, the
// batch, is in the plan topic. A planner that starts again finds which of
// Pending made it (the tail of each partition), writes the rest, and lists
// on after Position: nothing is planned twice, nothing is lost.
type planRecord struct {
	V        int             `json:"v"`
	Spec     source.Backfill `json:"spec"`
	Source   string          `json:"source"` // the spec, as a person reads it
	Position source.Position `json:"position"`
	// Partitions of the plan topic: item Seq is on partition Seq mod it.
	Partitions int `json:"partitions"`
	// Items, Objects and Bytes count the plan up to Position, Pending included.
	Items   int64 `json:"items"`
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Complete: the whole spec is planned.
	Complete  bool      `json:"complete"`
	Pending   []Item    `json:"pending,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Counts are what work items produced: items done (DeadLetteredItems of
// them could not be read at all), and their objects settled (DeadLettered
// of them dead-lettered), records, findings, decompressed and stored bytes.
type Counts struct {
	Items, DeadLetteredItems int64
	Objects, DeadLettered    int64
	Records, Findings        int64
	Bytes, Stored            int64
}

func (c *Counts) add(o Counts) {
	c.Items += o.Items
	c.DeadLetteredItems += o.DeadLetteredItems
	c.Objects += o.Objects
	c.DeadLettered += o.DeadLettered
	c.Records += o.Records
	c.Findings += o.Findings
	c.Bytes += o.Bytes
	c.Stored += o.Stored
}

// workerStats is what one worker process did (key "worker/<id>"),
// published with every commit, every few seconds and when it stops: the
// Counts of the items it committed (an item read again after a kill is
// counted again, as its output is in Kafka twice), and its items in flight.
type workerStats struct {
	ID         string    `json:"id"`
	StartedAt  time.Time `json:"startedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
	Stopped    bool      `json:"stopped"`
	Partitions int       `json:"partitions"`
	InFlight   int64     `json:"inFlight"`
	Counts
}

// describe is a backfill spec as a person reads it.
func describe(b source.Backfill) string {
	q := []string{"from=" + b.From.Format(time.DateOnly), "to=" + b.To.Format(time.DateOnly)}
	if len(b.Accounts) > 0 {
		q = append(q, "accounts="+strings.Join(b.Accounts, ","))
	}
	if len(b.Regions) > 0 {
		q = append(q, "regions="+strings.Join(b.Regions, ","))
	}
	org := ""
	if b.OrgID != "" {
		org = "AWSLogs/" + b.OrgID + "/"
	}
	return "s3://" + b.Bucket + "/" + b.Prefix + org + "?" + strings.Join(q, "&")
}

// samePlan reports whether spec asks for the plan rec holds (the end day
// aside: a spec without to= ends today, and a plan keeps the end it had).
func samePlan(rec, spec source.Backfill) bool {
	return rec.Bucket == spec.Bucket && rec.Prefix == spec.Prefix && rec.OrgID == spec.OrgID &&
		rec.From.Equal(spec.From) && slices.Equal(rec.Accounts, spec.Accounts) && slices.Equal(rec.Regions, spec.Regions)
}

// stateWriter writes records to the state topic, each to the partition it names.
type stateWriter struct{ w *kafkago.Writer }

func newStateWriter(c kafka.Config, topic string) (*stateWriter, error) {
	w, err := kafka.NewWriter(c, StateTopic(topic), kafka.WriterOptions{BatchTimeout: time.Millisecond})
	if err != nil {
		return nil, err
	}
	w.Balancer = partitionBalancer{}
	return &stateWriter{w}, nil
}

func (s *stateWriter) write(ctx context.Context, partition int, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := s.w.WriteMessages(ctx, kafkago.Message{Key: []byte(key), Value: b, Partition: partition}); err != nil {
		return fmt.Errorf("write %s to %s: %w", key, s.w.Topic, err)
	}
	return nil
}

func (s *stateWriter) Close() error { return s.w.Close() }

// partitionBalancer sends each message to the partition it names.
type partitionBalancer struct{}

func (partitionBalancer) Balance(m kafkago.Message, _ ...int) int { return m.Partition }

// readPlanRecord returns the planner's latest record, if any.
func readPlanRecord(ctx context.Context, c kafka.Config, topic string) (planRecord, bool, error) {
	var rec planRecord
	offs, err := kafka.TopicOffsets(ctx, c, StateTopic(topic))
	if err != nil {
		return rec, false, err
	}
	if len(offs) != statePartitions {
		return rec, false, fmt.Errorf("%s has %d partitions, want %d (partition 0: the planner, 1: the workers)", StateTopic(topic), len(offs), statePartitions)
	}
	p := offs[planPartition]
	if p.End <= p.First {
		return rec, false, nil
	}
	found := false
	err = kafka.ReadPartition(ctx, c, StateTopic(topic), planPartition, p.End-1, p.End, func(m kafka.Message) error {
		if err := json.Unmarshal(m.Value, &rec); err != nil {
			return fmt.Errorf("%s: the planner's record at offset %d: %w", StateTopic(topic), m.Offset, err)
		}
		found = true
		return nil
	})
	return rec, found, err
}

// readWorkerStats returns the latest counters of every worker that ever
// published, by id.
func readWorkerStats(ctx context.Context, c kafka.Config, topic string) (map[string]workerStats, error) {
	offs, err := kafka.TopicOffsets(ctx, c, StateTopic(topic))
	if err != nil {
		return nil, err
	}
	if len(offs) != statePartitions {
		return nil, fmt.Errorf("%s has %d partitions, want %d", StateTopic(topic), len(offs), statePartitions)
	}
	out := map[string]workerStats{}
	p := offs[workerPartition]
	err = kafka.ReadPartition(ctx, c, StateTopic(topic), workerPartition, p.First, p.End, func(m kafka.Message) error {
		var st workerStats
		if json.Unmarshal(m.Value, &st) == nil && st.ID != "" {
			out[st.ID] = st
		}
		return nil
	})
	return out, err
}

// topicSpecs are the plan topic and its state topic, as --create-topics
// makes them. The plan keeps its items until it is deleted (a backfill may
// take longer than any retention); the state is compacted.
func topicSpecs(topic string, partitions, replication int) []kafka.TopicSpec {
	return []kafka.TopicSpec{
		{Name: topic, Partitions: partitions, ReplicationFactor: replication, Configs: map[string]string{"retention.ms": "-1"}},
		{Name: StateTopic(topic), Partitions: statePartitions, ReplicationFactor: replication, CleanupPolicy: "compact",
			Configs: map[string]string{"segment.ms": "600000"}},
	}
}

// EnsureTopics creates the plan topic (with partitions) and its state
// topic when they do not exist.
func EnsureTopics(ctx context.Context, c kafka.Config, topic string, partitions, replication int) error {
	return kafka.EnsureTopics(ctx, c, topicSpecs(topic, partitions, replication)...)
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

// PartitionOffsets are a partition's first offset (after retention) and
// its end: the offset the next message written gets.
type PartitionOffsets struct {
	First, End int64
}

// client is a kafka-go Client for c, and how to release it.
func client(c Config) (*kafkago.Client, func(), error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	t, err := c.Transport()
	if err != nil {
		return nil, nil, err
	}
	return &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t, Timeout: 30 * time.Second}, t.CloseIdleConnections, nil
}

// TopicOffsets returns the first and end offset of every partition of
// topic, indexed by partition.
func TopicOffsets(ctx context.Context, c Config, topic string) ([]PartitionOffsets, error) {
	n, err := Partitions(ctx, c, topic)
	if err != nil {
		return nil, err
	}
	cl, done, err := client(c)
	if err != nil {
		return nil, err
	}
	defer done()
	reqs := make([]kafkago.OffsetRequest, 0, 2*n)
	for p := range n {
		reqs = append(reqs, kafkago.FirstOffsetOf(p), kafkago.LastOffsetOf(p))
	}
	resp, err := cl.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets of %s: %w", topic, err)
	}
	out := make([]PartitionOffsets, n)
	seen := 0
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < n {
			out[po.Partition] = PartitionOffsets{First: po.FirstOffset, End: po.LastOffset}
			seen++
		}
	}
	if seen != n {
		return nil, fmt.Errorf("kafka: offsets of %s: %d of %d partitions answered", topic, seen, n)
	}
	return out, nil
}

// CommittedOffsets returns the offsets group committed on the first n
// partitions of topic (the next offset to read), indexed by partition; -1
// where it committed none.
func CommittedOffsets(ctx context.Context, c Config, group, topic string, n int) ([]int64, error) {
	cl, done, err := client(c)
	if err != nil {
		return nil, err
	}
	defer done()
	parts := make([]int, n)
	out := make([]int64, n)
	for p := range n {
		parts[p], out[p] = p, -1
	}
	resp, err := cl.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = resp.Error
	}
	if errors.Is(err, kafkago.GroupIdNotFound) {
		return out, nil // a group that never committed (some brokers say so)
	}
	if err != nil {
		return nil, fmt.Errorf("kafka: offsets committed by group %s on %s: %w", group, topic, err)
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("kafka: offset committed by group %s on %s/%d: %w", group, topic, po.Partition, po.Error)
		}
		if po.Partition >= 0 && po.Partition < n {
			out[po.Partition] = po.CommittedOffset
		}
	}
	return out, nil
}

// Message is one message read back by ReadPartition.
type Message struct {
	Offset     int64
	Key, Value []byte
	Time       time.Time
}

// ReadPartition calls fn, in offset order, for the messages of one
// partition from offset from up to (not including) to; offsets a compacted
// topic no longer holds are passed over. It is for reading back a bounded
// stretch (the tail of a topic, a small state partition); a consumer that
// follows a topic uses a Reader.
func ReadPartition(ctx context.Context, c Config, topic string, partition int, from, to int64, fn func(Message) error) error {
	if from >= to {
		return nil
	}
	cl, done, err := client(c)
	if err != nil {
		return err
	}
	defer done()
	for off := from; off < to; {
		resp, err := cl.Fetch(ctx, &kafkago.FetchRequest{Topic: topic, Partition: partition, Offset: off,
			MinBytes: 1, MaxBytes: 8 << 20, MaxWait: 500 * time.Millisecond})
		if err == nil {
			err = resp.Error
		}
		if err != nil {
			return fmt.Errorf("kafka: read %s/%d at offset %d: %w", topic, partition, off, err)
		}
		next := off
		for {
			r, err := resp.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("kafka: read %s/%d at offset %d: %w", topic, partition, next, err)
			}
			if r.Offset < off || r.Offset >= to {
				continue // a batch may start before the offset asked for
			}
			m := Message{Offset: r.Offset, Time: r.Time}
			if r.Key != nil {
				m.Key, _ = kafkago.ReadAll(r.Key)
				r.Key.Close()
			}
			if r.Value != nil {
				m.Value, _ = kafkago.ReadAll(r.Value)
				r.Value.Close()
			}
			next = r.Offset + 1
			if err := fn(m); err != nil {
				return err
			}
		}
		switch {
		case next > off:
			off = next
		case resp.HighWatermark <= off:
			return fmt.Errorf("kafka: read %s/%d: offset %d is past the end (%d)", topic, partition, off, resp.HighWatermark)
		default:
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
	return nil
}

// GroupMembers returns the client ids of the members group has now (none
// when it is empty or unknown).
func GroupMembers(ctx context.Context, c Config, group string) ([]string, error) {
	cl, done, err := client(c)
	if err != nil {
		return nil, err
	}
	defer done()
	resp, err := cl.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err != nil {
		return nil, fmt.Errorf("kafka: describe group %s: %w", group, err)
	}
	var out []string
	for _, g := range resp.Groups {
		if errors.Is(g.Error, kafkago.GroupIdNotFound) {
			continue
		}
		if g.Error != nil {
			return nil, fmt.Errorf("kafka: describe group %s: %w", group, g.Error)
		}
		for _, m := range g.Members {
			out = append(out, m.ClientID)
		}
	}
	return out, nil
}

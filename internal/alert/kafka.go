package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/kafka"
)

// RunKafka consumes the findings topic as one member of the consumer group
// until ctx ends, then finishes in-flight sends, flushes state, commits and
// leaves the group. Each assigned partition's state is restored from the
// same partition of the state topic before its first finding is read.
func (s *Service) RunKafka(ctx context.Context) error {
	kc := s.cfg.Kafka
	dialer, err := kc.Dialer()
	if err != nil {
		return err
	}
	transport, err := kc.Transport()
	if err != nil {
		return err
	}
	// Like ingest, wait (visibly, bounded by --kafka-wait) for a broker
	// that is not up yet rather than fail for being started first.
	parts, err := kafka.WaitForTopics(ctx, kc.Config, s.kafkaWait, s.log, kc.Topic)
	if err != nil {
		return fmt.Errorf("findings topic: %w", err)
	}
	n := parts[0]
	if kc.CreateTopics == nil || *kc.CreateTopics {
		err := kafka.EnsureTopics(ctx, kc.Config,
			kafka.TopicSpec{Name: kc.StateTopic, Partitions: n, ReplicationFactor: kc.ReplicationFactor, CleanupPolicy: "compact"},
			kafka.TopicSpec{Name: kc.DLQTopic, Partitions: n, ReplicationFactor: kc.ReplicationFactor})
		if err != nil {
			return err
		}
	}
	sn, err := kafka.Partitions(ctx, kc.Config, kc.StateTopic)
	if err != nil {
		return fmt.Errorf("state topic: %w", err)
	}
	if sn != n {
		return fmt.Errorf("state topic %s has %d partitions but findings topic %s has %d: they must be equal, "+
			"because partition p of the state holds the state of partition p of the findings", kc.StateTopic, sn, kc.Topic, n)
	}
	// The fleet view (every partition of the state, read-only) is read to
	// its end before this replica joins the group: what it answers for the
	// fleet, and the sessions its partitions join with, are then whole.
	followCtx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	caughtUp := s.followState(followCtx, dialer, n)
	start := time.Now()
	select {
	case <-caughtUp:
	case <-ctx.Done():
		return nil
	}
	s.log.Info("fleet view read", "topic", kc.StateTopic, "partitions", n, "took", time.Since(start).Round(time.Millisecond))
	stateW := &kafkago.Writer{
		Addr: kafkago.TCP(kc.Brokers...), Topic: kc.StateTopic, Balancer: partitionBalancer{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, BatchSize: 1000,
		BatchBytes: 32 << 20, Transport: transport,
	}
	defer stateW.Close()
	dlqW := &kafkago.Writer{
		Addr: kafkago.TCP(kc.Brokers...), Topic: kc.DLQTopic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, Transport: transport,
	}
	defer dlqW.Close()
	s.dlq = kafkaDLQ{w: dlqW, topic: kc.Topic}

	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                kc.Group,
		Brokers:           kc.Brokers,
		Dialer:            dialer,
		Topics:            []string{kc.Topic},
		HeartbeatInterval: kc.HeartbeatInterval.D(),
		SessionTimeout:    kc.SessionTimeout.D(),
		RebalanceTimeout:  kc.SessionTimeout.D(),
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafkago.FirstOffset,
		Timeout:           10 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", kc.Group, err)
	}
	defer cg.Close()
	s.log.Info("joining consumer group", "group", kc.Group, "topic", kc.Topic, "partitions", n)
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafkago.ErrGroupClosed) {
				break
			}
			s.log.Warn("consumer group", "group", kc.Group, "error", err)
			continue
		}
		assigned := gen.Assignments[kc.Topic]
		ids := make([]int, 0, len(assigned))
		for _, pa := range assigned {
			ids = append(ids, pa.ID)
		}
		s.log.Info("partitions assigned", "generation", gen.ID, "partitions", ids)
		s.ready.Store(len(assigned) == 0)
		var restoring atomic.Int64
		restoring.Store(int64(len(assigned)))
		for _, pa := range assigned {
			gen.Start(func(gctx context.Context) {
				err := s.runPartition(gctx, gen, pa, dialer, stateW, func() {
					if restoring.Add(-1) == 0 {
						s.ready.Store(true)
					}
				})
				if err != nil && !errors.Is(err, errKilled) {
					s.log.Error("partition stopped", "partition", pa.ID, "error", err)
				}
			})
		}
	}
	s.ready.Store(false)
	// Closing the group ends the generation: workers drain, flush and commit
	// before Close returns and the member leaves the group.
	cg.Close()
	return nil
}

// runPartition restores one partition's state, then consumes it until the
// generation ends.
func (s *Service) runPartition(gctx context.Context, gen *kafkago.Generation, pa kafkago.PartitionAssignment,
	dialer *kafkago.Dialer, stateW *kafkago.Writer, restored func()) error {
	kc := s.cfg.Kafka
	p := pa.ID
	start := time.Now()
	st, recs, err := s.restore(gctx, dialer, p)
	if err != nil {
		return err
	}
	s.log.Info("partition restored", "partition", p, "records", recs, "dedup", len(st.dedup),
		"incidents", len(st.incidents), "accounts", len(st.rootUse), "offset", pa.Offset, "took", time.Since(start).Round(time.Millisecond))
	restored()
	s.owned.Add(1)
	defer s.owned.Add(-1)
	commit := func(ctx context.Context, next int64) error {
		return gen.CommitOffsets(map[string]map[int]int64{kc.Topic: {p: next}})
	}
	w := s.newWorker(st, kafkaStore{w: stateW}, commit)
	w.handover = true

	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: kc.Brokers, Topic: kc.Topic, Partition: p, Dialer: dialer,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	off := pa.Offset
	if off < 0 {
		off = kafkago.FirstOffset
	}
	if err := r.SetOffset(off); err != nil {
		return fmt.Errorf("partition %d: set offset %d: %w", p, off, err)
	}
	readCtx, cancelRead := context.WithCancel(gctx)
	defer cancelRead()
	in := make(chan Message, 512)
	lag := s.m.lag.WithLabelValues(strconv.Itoa(p))
	go func() {
		defer close(in)
		for {
			m, err := r.FetchMessage(readCtx)
			if err != nil {
				if readCtx.Err() == nil {
					s.log.Error("read findings", "partition", p, "error", err)
				}
				return
			}
			lag.Set(float64(r.Lag()))
			select {
			case in <- Message{Offset: m.Offset, Key: m.Key, Value: m.Value, Time: m.Time}:
			case <-readCtx.Done():
				return
			}
		}
	}()
	err = w.run(gctx, in)
	s.m.lag.DeleteLabelValues(strconv.Itoa(p))
	return err
}

// restore reads partition p of the state topic from its start to the end
// it had when the partition was assigned.
func (s *Service) restore(ctx context.Context, dialer *kafkago.Dialer, p int) (*partState, int, error) {
	kc := s.cfg.Kafka
	st := newPartState(p)
	first, last, err := partitionOffsets(ctx, dialer, kc.Brokers, kc.StateTopic, p)
	if err != nil {
		return nil, 0, fmt.Errorf("restore state partition %d: %w", p, err)
	}
	n := 0
	if last > first {
		r := kafkago.NewReader(kafkago.ReaderConfig{
			Brokers: kc.Brokers, Topic: kc.StateTopic, Partition: p, Dialer: dialer,
			MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 100 * time.Millisecond,
		})
		defer r.Close()
		if err := r.SetOffset(first); err != nil {
			return nil, 0, err
		}
		now := s.now()
		for {
			fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			m, err := r.FetchMessage(fctx)
			cancel()
			if err != nil {
				return nil, n, fmt.Errorf("restore state partition %d (%s) at offset %d of %d: %w", p, kc.StateTopic, r.Offset(), last, err)
			}
			var v []byte
			if len(m.Value) > 0 {
				v = m.Value
			}
			if err := st.apply(Record{Key: string(m.Key), Value: v}, now); err != nil {
				s.log.Warn("skipping unreadable state record", "partition", p, "offset", m.Offset, "error", err)
			}
			n++
			if m.Offset >= last-1 {
				break
			}
		}
	}
	st.finishRestore()
	clear(st.dirty)
	return st, n, nil
}

func partitionOffsets(ctx context.Context, dialer *kafkago.Dialer, brokers []string, topic string, p int) (first, last int64, err error) {
	var errs []error
	for _, b := range brokers {
		conn, err := dialer.DialLeader(ctx, "tcp", b, topic, p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		first, last, err = conn.ReadOffsets()
		conn.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return first, last, nil
	}
	return 0, 0, fmt.Errorf("offsets of %s/%d: %w", topic, p, errors.Join(errs...))
}

// partitionBalancer sends each message to the partition it names: the
// state of findings partition p lives in state partition p.
type partitionBalancer struct{}

func (partitionBalancer) Balance(m kafkago.Message, partitions ...int) int { return m.Partition }

// kafkaStore writes state records synchronously (acks=all) to the state topic.
type kafkaStore struct{ w *kafkago.Writer }

func (k kafkaStore) Write(ctx context.Context, p int, recs []Record) error {
	msgs := make([]kafkago.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafkago.Message{Key: []byte(r.Key), Value: r.Value, Partition: p}
	}
	return k.w.WriteMessages(context.WithoutCancel(ctx), msgs...)
}

// kafkaDLQ writes DLQ entries as JSON to rootwatch.alerts.dlq, keyed by account.
type kafkaDLQ struct {
	w     *kafkago.Writer
	topic string
}

func (k kafkaDLQ) Park(ctx context.Context, key []byte, e DLQEntry) error {
	if e.Topic == "" && e.Stage == "decode" {
		e.Topic = k.topic
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return k.w.WriteMessages(ctx, kafkago.Message{Key: key, Value: b, Headers: []kafkago.Header{
		{Key: "stage", Value: []byte(e.Stage)}, {Key: "channel", Value: []byte(e.Channel)},
	}})
}

package kafka

import (
	"context"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"rootwatch/internal/sink"
)

func selfCPUx() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type wgAck struct{ wg *sync.WaitGroup }

func (a wgAck) Ack(n int, err error) {
	if err != nil {
		panic(err)
	}
	for range n {
		a.wg.Done()
	}
}

func TestExpProduce(t *testing.T) {
	addr := os.Getenv("EXP_BROKER")
	if addr == "" {
		t.Skip()
	}
	c := corpora(t)[0]
	var vals [][]byte
	for _, r := range c.recs {
		vals = append(vals, r.Value.(rewindable).b)
	}
	hdr := []sink.Header{{Key: "bucket", Value: []byte("org-trail")},
		{Key: "key", Value: []byte("AWSLogs/o-abc123/123456789012/CloudTrail/us-east-1/2026/01/05/123456789012_CloudTrail_us-east-1_20260105T0005Z_abcdefghijklmnop.json.gz")},
		{Key: "account", Value: []byte("123456789012")}, {Key: "region", Value: []byte("us-east-1")}}
	keys := [][]byte{[]byte("111111111111"), []byte("222222222222"), []byte("333333333333"), []byte("444444444444")}
	const rounds = 8
	runtime.GC()
	{
		s, err := NewSink(Config{Brokers: []string{addr}}, SinkOptions{Topics: SinkTopics{Records: "r1", Findings: "f", DLQ: "d"}})
		if err != nil {
			t.Fatal(err)
		}
		c0, w0 := selfCPUx(), time.Now()
		var wg sync.WaitGroup
		msgs := make([]sink.Message, 0, 512)
		for r := 0; r < rounds; r++ {
			for i, v := range vals {
				msgs = append(msgs, sink.Message{Key: keys[i%4], Value: v, Headers: hdr})
				if len(msgs) == 512 {
					wg.Add(len(msgs))
					s.Write(context.Background(), sink.TopicRecords, msgs, wgAck{&wg})
					msgs = msgs[:0]
				}
			}
		}
		wg.Add(len(msgs))
		s.Write(context.Background(), sink.TopicRecords, msgs, wgAck{&wg})
		wg.Wait()
		t.Logf("kafka-go sink: %d records, %v CPU, %v wall", rounds*len(vals), selfCPUx()-c0, time.Since(w0))
		s.Close()
	}
	runtime.GC()
	{
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("r2"), kgo.ProducerBatchCompression(kgo.ZstdCompression().WithLevel(1)),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)), kgo.ProducerLinger(20*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		khdr := make([]kgo.RecordHeader, len(hdr))
		for i, h := range hdr {
			khdr[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
		}
		c0, w0 := selfCPUx(), time.Now()
		var wg sync.WaitGroup
		done := func(_ *kgo.Record, err error) {
			if err != nil {
				panic(err)
			}
			wg.Done()
		}
		for r := 0; r < rounds; r++ {
			for i, v := range vals {
				wg.Add(1)
				cl.Produce(context.Background(), &kgo.Record{Key: keys[i%4], Value: v, Headers: khdr}, done)
			}
		}
		wg.Wait()
		t.Logf("kgo: %d records, %v CPU, %v wall", rounds*len(vals), selfCPUx()-c0, time.Since(w0))
		cl.Close()
	}
}

package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/sink"
)

// discardSink takes every output, records included, and acknowledges at once.
type discardSink struct{}

func (discardSink) Write(_ context.Context, _ sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	ack.Ack(len(msgs), nil)
	return nil
}
func (discardSink) WantsRecords() bool { return true }
func (discardSink) Close() error       { return nil }

// BenchmarkProcessor is the object reader alone (gunzip, split, match,
// build record and finding messages) on gzipped generated logs in memory,
// into a sink that takes everything; bytes are decompressed, allocations
// per object.
func BenchmarkProcessor(b *testing.B) {
	type object struct {
		key string
		gz  []byte
	}
	var objs []object
	var total int64
	_, err := gen.Generate(gen.Config{Seed: 5, Files: 64, RecordsPerFile: 200, Workers: 1}, func(key string, gz []byte) error {
		if !cloudtrail.IsDigest(key) {
			objs = append(objs, object{key, bytes.Clone(gz)}) // the generator reuses gz
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	p := pipeline.NewProcessor(pipeline.ProcessorOptions{Sink: discardSink{}})
	var wg sync.WaitGroup
	var bytesRead int64
	done := func(r pipeline.Result) {
		if r.Err != nil {
			b.Error(r.Err)
		}
		bytesRead += r.Bytes
		wg.Done()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o := objs[i%len(objs)]
		wg.Add(1)
		p.Process(context.Background(), pipeline.Job{Ref: match.ObjectRef{Bucket: "b", Key: o.key},
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(o.gz)), nil },
			Done: done})
		wg.Wait()
	}
	total = bytesRead
	b.SetBytes(total / int64(b.N))
}

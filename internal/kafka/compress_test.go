package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	kzstd "github.com/segmentio/kafka-go/compress/zstd"
	"github.com/segmentio/kafka-go/protocol"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/testutil"
)

// corpus is CloudTrail records as the records topic carries them: value,
// key (account) and the headers the sink adds.
type corpus struct {
	name string
	recs []protocol.Record // Key and Value are *rewindable
	size int               // record value bytes
}

// rewindable is record bytes that encode rewinds before every use.
type rewindable struct {
	*bytes.Reader
	b []byte
}

func (r rewindable) Close() error { return nil }
func (r rewindable) rewind()      { r.Reset(r.b) }

func bytesOf(b []byte) rewindable { return rewindable{bytes.NewReader(b), b} }

func readRecords(tb testing.TB, name string, files [][]byte) corpus {
	c := corpus{name: name}
	for _, f := range files {
		r, err := cloudtrail.NewReader(bytes.NewReader(f), cloudtrail.Options{})
		if err != nil {
			tb.Fatal(err)
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				tb.Fatal(err)
			}
			v := bytes.Clone(raw)
			c.size += len(v)
			c.recs = append(c.recs, protocol.Record{Key: bytesOf([]byte("123456789012")), Value: bytesOf(v),
				Headers: []protocol.Header{{Key: "bucket", Value: []byte("org-trail")},
					{Key: "key", Value: []byte("AWSLogs/o-abc123/123456789012/CloudTrail/us-east-1/2026/01/05/123456789012_CloudTrail_us-east-1_20260105T0005Z_abcdefghijklmnop.json.gz")},
					{Key: "account", Value: []byte("123456789012")}, {Key: "region", Value: []byte("us-east-1")}}})
		}
	}
	return c
}

func corpora(tb testing.TB) []corpus {
	var genFiles [][]byte
	if _, err := gen.Generate(gen.Config{Seed: 9, TargetBytes: 16 << 20, Files: 1 << 20}, func(_ string, gz []byte) error {
		genFiles = append(genFiles, bytes.Clone(gz))
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	_, paths := testutil.RealCloudTrailFiles(tb)
	var real [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		real = append(real, b)
	}
	return []corpus{readRecords(tb, "generated", genFiles), readRecords(tb, "real", real)}
}

// batches cuts c into record sets of about batchBytes of values.
func (c corpus) batches(batchBytes int) [][]protocol.Record {
	var out [][]protocol.Record
	start, n := 0, 0
	for i := range c.recs {
		n += c.recs[i].Value.Len()
		if n >= batchBytes {
			out = append(out, c.recs[start:i+1])
			start, n = i+1, 0
		}
	}
	if start < len(c.recs) {
		out = append(out, c.recs[start:])
	}
	return out
}

// encode writes batch as a produce request's record set would carry it.
func encode(tb testing.TB, batch []protocol.Record, codec compress.Compression, w io.Writer) int64 {
	for i := range batch {
		batch[i].Key.(rewindable).rewind()
		batch[i].Value.(rewindable).rewind()
	}
	rs := protocol.RecordSet{Version: 2, Attributes: protocol.Attributes(codec), Records: protocol.NewRecordReader(batch...)}
	n, err := rs.WriteTo(w)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// threadCPU is the CPU time of the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

// BenchmarkCompression: CPU (MB/s of record batch, one core) and ratio of
// each codec on record batches of the records topic (generated records
// and AWS's own, testdata/cloudtrail-real), at a full batch (1 MiB, a
// backfill) and a small one (64 KiB, the live path at a trickle):
//
//	go test -run XXX -bench Compression -benchtime 20x ./internal/kafka/
//
// "zstd-kafka-go" is kafka-go's own codec at its default level 3 (before);
// "zstd-1" and "zstd-3" are rootwatch's codec at levels 1 and 3.
func BenchmarkCompression(b *testing.B) {
	codecs := []struct {
		name  string
		code  compress.Compression
		level int
		codec compress.Codec
	}{
		{"none", compress.None, 0, nil},
		{"zstd-1", kafkago.Zstd, 1, nil},
		{"zstd-3", kafkago.Zstd, 3, nil},
		{"zstd-kafka-go", kafkago.Zstd, 0, &kzstd.Codec{}},
		{"lz4", kafkago.Lz4, 0, nil},
		{"snappy", kafkago.Snappy, 0, nil},
		{"gzip", kafkago.Gzip, 0, nil},
	}
	for _, c := range corpora(b) {
		for _, size := range []int{1 << 20, 64 << 10} {
			batches := c.batches(size)
			var plain counter
			for _, bt := range batches {
				encode(b, bt, compress.None, &plain)
			}
			for _, cd := range codecs {
				b.Run(fmt.Sprintf("%s/%dKiB/%s", c.name, size>>10, cd.name), func(b *testing.B) {
					if cd.codec != nil {
						orig := compress.Codecs[cd.code]
						compress.Codecs[cd.code] = cd.codec
						defer func() { compress.Codecs[cd.code] = orig }()
					}
					if cd.level != 0 {
						SetZstdLevel(cd.level)
						defer SetZstdLevel(0)
					}
					b.SetBytes(int64(plain))
					b.ReportAllocs()
					// CPU time of this thread, not wall time: on a shared
					// machine the other work does not count.
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					c0 := threadCPU()
					var out counter
					for i := 0; i < b.N; i++ {
						out = 0
						for _, bt := range batches {
							encode(b, bt, cd.code, &out)
						}
					}
					cpu := threadCPU() - c0
					b.ReportMetric(float64(plain)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
					b.ReportMetric(float64(plain)/float64(out), "ratio")
				})
			}
		}
	}
}

// A batch compressed by rootwatch's zstd codec reads back (through
// kafka-go's decoder) to the same records, at every level.
func TestZstdCodecRoundTrip(t *testing.T) {
	_, paths := testutil.RealCloudTrailFiles(t)
	b, err := os.ReadFile(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	c := readRecords(t, "real", [][]byte{b})
	for _, level := range []int{1, 3, 7} {
		SetZstdLevel(level)
		var buf bytes.Buffer
		encode(t, c.recs, kafkago.Zstd, &buf)
		var rs protocol.RecordSet
		if _, err := rs.ReadFrom(&buf); err != nil {
			t.Fatalf("level %d: %v", level, err)
		}
		if rs.Attributes.Compression() != kafkago.Zstd {
			t.Fatalf("level %d: batch compressed with %v", level, rs.Attributes.Compression())
		}
		n := 0
		for {
			r, err := rs.Records.ReadRecord()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("level %d: record %d: %v", level, n, err)
			}
			got, _ := io.ReadAll(r.Value)
			if !bytes.Equal(got, c.recs[n].Value.(rewindable).b) {
				t.Fatalf("level %d: record %d differs", level, n)
			}
			n++
		}
		if n != len(c.recs) {
			t.Fatalf("level %d: %d records back, want %d", level, n, len(c.recs))
		}
	}
	SetZstdLevel(0)
}

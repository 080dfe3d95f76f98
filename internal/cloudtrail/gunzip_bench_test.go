package cloudtrail

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"io"
	"sync"
	"syscall"
	"testing"
	"time"

	kpgzip "github.com/klauspost/compress/gzip"
)

// gunzipBenchImpl is one gzip decoder under comparison. Streaming decoders
// set open; a whole-buffer reference (libdeflate) sets whole instead.
type gunzipBenchImpl struct {
	name  string
	open  func(io.Reader) (io.ReadCloser, error)
	whole func(dst, src []byte) (int, error)
}

// moreGunzipBenchImpls is set by the isal build's tests: ISA-L, and with the
// libdeflate tag libdeflate too (see gunzip_isal_test.go).
var moreGunzipBenchImpls func() []gunzipBenchImpl

// gunzipBenchImpls are the decoders compared.
func gunzipBenchImpls() []gunzipBenchImpl {
	l := []gunzipBenchImpl{
		{name: "stdlib", open: func(r io.Reader) (io.ReadCloser, error) { return stdgzip.NewReader(r) }},
		{name: "klauspost", open: func(r io.Reader) (io.ReadCloser, error) { return kpgzip.NewReader(r) }},
	}
	if moreGunzipBenchImpls != nil {
		l = append(l, moreGunzipBenchImpls()...)
	}
	return l
}

var gunzipBench struct {
	once      sync.Once
	plain, gz []byte
}

// gunzipBenchData is the ~32 MiB log of benchFile, gzipped once at level 6
// (gzip's and zlib's default, what AWS's files look like).
func gunzipBenchData(b *testing.B) (plain, gz []byte) {
	gunzipBench.once.Do(func() {
		plain := benchFile(b)
		var z bytes.Buffer
		w, err := stdgzip.NewWriterLevel(&z, 6)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		gunzipBench.plain, gunzipBench.gz = plain, z.Bytes()
	})
	if gunzipBench.gz == nil {
		b.Fatal("no benchmark data")
	}
	return gunzipBench.plain, gunzipBench.gz
}

// cpuTime is the CPU time this process has used (all threads, user+system).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds MB per CPU-second: on a shared, loaded machine wall-clock
// MB/s swings with the neighbours, CPU time much less.
func reportCPU(b *testing.B, bytes int64, start time.Duration) {
	if cpu := cpuTime(b) - start; cpu > 0 {
		b.ReportMetric(float64(bytes)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkGunzip is each decoder alone: the gzipped log decoded into one
// reused 256 KiB buffer (whole-buffer references into one output buffer of
// the full size). Bytes are the decompressed size, so MB/s compare directly.
func BenchmarkGunzip(b *testing.B) {
	plain, gz := gunzipBenchData(b)
	for _, impl := range gunzipBenchImpls() {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			if impl.whole != nil {
				// The whole output is in memory: the gzip trailer's ISIZE says how big.
				dst := make([]byte, binary.LittleEndian.Uint32(gz[len(gz)-4:]))
				b.ResetTimer()
				start := cpuTime(b)
				for range b.N {
					n, err := impl.whole(dst, gz)
					if err != nil || n != len(plain) {
						b.Fatalf("%s: %d bytes, %v", impl.name, n, err)
					}
				}
				reportCPU(b, int64(len(plain)), start)
				return
			}
			buf := make([]byte, 256<<10)
			b.ResetTimer()
			start := cpuTime(b)
			for range b.N {
				r, err := impl.open(bytes.NewReader(gz))
				if err != nil {
					b.Fatal(err)
				}
				var total int
				for {
					n, err := r.Read(buf)
					total += n
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
				if total != len(plain) {
					b.Fatalf("%s: %d bytes, want %d", impl.name, total, len(plain))
				}
			}
			reportCPU(b, int64(len(plain)), start)
		})
	}
}

// BenchmarkGunzipReader is the Reader (gunzip + split + validate) with each
// streaming decoder in place of the build's default.
func BenchmarkGunzipReader(b *testing.B) {
	plain, gz := gunzipBenchData(b)
	saved := newGunzip
	defer func() { newGunzip = saved }()
	for _, impl := range gunzipBenchImpls() {
		if impl.open == nil {
			continue
		}
		b.Run(impl.name, func(b *testing.B) {
			newGunzip = impl.open
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime(b)
			for range b.N {
				r, err := NewReader(bytes.NewReader(gz), Options{})
				if err != nil {
					b.Fatal(err)
				}
				drain(b, r)
				r.Close()
			}
			reportCPU(b, int64(len(plain)), start)
		})
	}
}

package cloudtrail

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"io"
	"sync"
	"testing"

	kpgzip "github.com/klauspost/compress/gzip"
)

// gunzipBenchImpl is one gzip decoder under comparison. Streaming decoders
// set open; a whole-buffer reference (libdeflate) sets whole instead.
type gunzipBenchImpl struct {
	name  string
	open  func(io.Reader) (io.ReadCloser, error)
	whole func(dst, src []byte) (int, error)
}

// gunzipBenchImpls are the decoders compared; the isal build adds ISA-L
// (and, with the libdeflate tag, libdeflate) from gunzip_isal_test.go.
var gunzipBenchImpls = []gunzipBenchImpl{
	{name: "stdlib", open: func(r io.Reader) (io.ReadCloser, error) { return stdgzip.NewReader(r) }},
	{name: "klauspost", open: func(r io.Reader) (io.ReadCloser, error) { return kpgzip.NewReader(r) }},
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

// BenchmarkGunzip is each decoder alone: the gzipped log decoded into one
// reused 256 KiB buffer (whole-buffer references into one output buffer of
// the full size). Bytes are the decompressed size, so MB/s compare directly.
func BenchmarkGunzip(b *testing.B) {
	plain, gz := gunzipBenchData(b)
	for _, impl := range gunzipBenchImpls {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(plain)))
			if impl.whole != nil {
				// The whole output is in memory: the gzip trailer's ISIZE says how big.
				dst := make([]byte, binary.LittleEndian.Uint32(gz[len(gz)-4:]))
				b.ResetTimer()
				for range b.N {
					n, err := impl.whole(dst, gz)
					if err != nil || n != len(plain) {
						b.Fatalf("%s: %d bytes, %v", impl.name, n, err)
					}
				}
				return
			}
			buf := make([]byte, 256<<10)
			b.ResetTimer()
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
		})
	}
}

// BenchmarkGunzipReader is the Reader (gunzip + split + validate) with each
// streaming decoder in place of the build's default.
func BenchmarkGunzipReader(b *testing.B) {
	plain, gz := gunzipBenchData(b)
	saved := newGunzip
	defer func() { newGunzip = saved }()
	for _, impl := range gunzipBenchImpls {
		if impl.open == nil {
			continue
		}
		b.Run(impl.name, func(b *testing.B) {
			newGunzip = impl.open
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r, err := NewReader(bytes.NewReader(gz), Options{})
				if err != nil {
					b.Fatal(err)
				}
				drain(b, r)
				r.Close()
			}
		})
	}
}

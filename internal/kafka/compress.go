package kafka

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
	"github.com/segmentio/kafka-go/compress"
)

// DefaultZstdLevel is the zstd level batches are compressed at: zstd's
// fastest. On CloudTrail records it compresses about as well as the
// default level (3) for about half the CPU (docs/ingest.md has the
// figures), and a firehose of records is paid for in CPU.
const DefaultZstdLevel = 1

// zstdCodec replaces kafka-go's zstd codec (kafka-go looks codecs up by
// their wire code, in the global compress.Codecs table, so the codec is
// per process). kafka-go's own pools its streaming encoders in a
// sync.Pool, which the garbage collector empties: under load every batch
// could build a new encoder and allocate and zero its multi-MiB history.
// Here each batch is collected into a pooled buffer and compressed with
// EncodeAll by one long-lived encoder per level, whose GOMAXPROCS block
// encoders and their tables are kept between batches. Frames carry no
// checksum (Kafka's own CRC covers the batch). Reading is kafka-go's.
type zstdCodec struct {
	read  compress.Codec // kafka-go's zstd codec, for decompressing
	level atomic.Int32
	mu    sync.Mutex
	encs  map[int]*zstd.Encoder // by level
	ins   chan *[]byte          // batches being collected, kept between batches
	outs  chan *[]byte          // frames being written
}

var rootwatchZstd = &zstdCodec{read: compress.Codecs[compress.Zstd], encs: map[int]*zstd.Encoder{},
	ins: make(chan *[]byte, 2*runtime.GOMAXPROCS(0)+4), outs: make(chan *[]byte, 2*runtime.GOMAXPROCS(0)+4)}

// getBuf takes a buffer from free, or makes one of size; putBuf gives it
// back, or leaves it to the garbage collector when free is full (a
// channel, not a sync.Pool: a collection would empty a pool, and every
// batch after it would grow its buffer again).
func getBuf(free chan *[]byte, size int) *[]byte {
	select {
	case b := <-free:
		return b
	default:
		b := make([]byte, 0, size)
		return &b
	}
}

func putBuf(free chan *[]byte, b *[]byte) {
	*b = (*b)[:0]
	select {
	case free <- b:
	default:
	}
}

func init() {
	rootwatchZstd.level.Store(DefaultZstdLevel)
	compress.Codecs[compress.Zstd] = rootwatchZstd
}

// SetZstdLevel sets the level zstd batches are compressed at from now on,
// process-wide (0: DefaultZstdLevel; zstd's scale: 1 fastest, 3 default,
// 6-9 better, 10+ best).
func SetZstdLevel(level int) {
	if level <= 0 {
		level = DefaultZstdLevel
	}
	rootwatchZstd.level.Store(int32(level))
}

func (c *zstdCodec) Code() int8                          { return int8(compress.Zstd) }
func (c *zstdCodec) Name() string                        { return "zstd" }
func (c *zstdCodec) NewReader(r io.Reader) io.ReadCloser { return c.read.NewReader(r) }

func (c *zstdCodec) encoder() *zstd.Encoder {
	level := int(c.level.Load())
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.encs[level]
	if e == nil {
		e, _ = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)),
			zstd.WithEncoderCRC(false),
			zstd.WithZeroFrames(true))
		c.encs[level] = e
	}
	return e
}

// NewWriter collects one batch; Close compresses it into w.
func (c *zstdCodec) NewWriter(w io.Writer) io.WriteCloser {
	return &zstdBatch{c: c, w: w, buf: getBuf(c.ins, DefaultBatchBytes+DefaultBatchBytes/8)}
}

type zstdBatch struct {
	c   *zstdCodec
	w   io.Writer
	buf *[]byte // the batch's records, then (from Close on) reused for the frame
}

func (z *zstdBatch) Write(p []byte) (int, error) {
	if z.buf == nil {
		return 0, io.ErrClosedPipe
	}
	*z.buf = append(*z.buf, p...)
	return len(p), nil
}

func (z *zstdBatch) Close() error {
	if z.buf == nil {
		return nil
	}
	out := getBuf(z.c.outs, DefaultBatchBytes/4)
	*out = z.c.encoder().EncodeAll(*z.buf, *out)
	_, err := z.w.Write(*out)
	putBuf(z.c.ins, z.buf)
	putBuf(z.c.outs, out)
	z.buf = nil
	return err
}

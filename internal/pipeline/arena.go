package pipeline

import (
	"sync"
	"sync/atomic"

	"rootwatch/internal/sink"
)

// arenaBlockSize is the size of one block of record bytes. Records are
// copied into blocks so that the bytes of a chunk outlive the reader's
// buffer until the sink acknowledges them; reused blocks are already
// paged in, so copying a record costs a memcpy, not page faults.
const arenaBlockSize = 256 << 10

// arenaBlock is one block of record bytes, shared by the chunks (sink
// Writes) whose records it holds. refs counts the chunks not yet
// acknowledged (and, before a chunk is written, its records waiting in the
// emitter), plus one while an emitter still appends to it; at zero the
// block goes back to the pool.
type arenaBlock struct {
	buf    []byte
	refs   atomic.Int32
	pooled bool // a block made for one record larger than a block is not
}

// freeBlocks keeps blocks the sink is done with, for the next records: a
// channel, not a sync.Pool, so that a garbage collection does not empty it
// (every block would then be allocated, and paged in, again). It holds at
// most maxFreeBlocks (16 MiB); more are left to the collector.
var freeBlocks = make(chan *arenaBlock, maxFreeBlocks)

const maxFreeBlocks = 64

// newArenaBlock returns an empty block with room for at least n bytes,
// referenced once (by the emitter that fills it).
func newArenaBlock(n int) *arenaBlock {
	var b *arenaBlock
	if n <= arenaBlockSize {
		select {
		case b = <-freeBlocks:
		default:
			b = &arenaBlock{buf: make([]byte, 0, arenaBlockSize), pooled: true}
		}
	} else {
		b = &arenaBlock{buf: make([]byte, 0, n)}
	}
	b.refs.Store(1)
	return b
}

// unref drops one reference; the last one returns the block to the pool.
func (b *arenaBlock) unref() {
	if b.refs.Add(-1) == 0 && b.pooled {
		b.buf = b.buf[:0]
		select {
		case freeBlocks <- b:
		default:
		}
	}
}

// chunk is the Acker of one Write of records: it passes the sink's
// acknowledgements on to the object's tracker and, once every message of
// the Write was answered for (the sink no longer holds their bytes), lets
// go of the blocks they are in.
type chunk struct {
	t      *tracker
	left   atomic.Int64
	blocks []*arenaBlock
}

var chunks = sync.Pool{New: func() any { return new(chunk) }}

// newChunk is the Acker of n records in blocks; it takes over one
// reference to each block (the emitter's, taken when a record went in).
func newChunk(t *tracker, n int, blocks []*arenaBlock) *chunk {
	c := chunks.Get().(*chunk)
	c.t = t
	c.left.Store(int64(n))
	c.blocks = append(c.blocks[:0], blocks...)
	return c
}

var _ sink.Acker = (*chunk)(nil)

// Ack implements sink.Acker.
func (c *chunk) Ack(n int, err error) {
	t := c.t
	last := c.left.Add(-int64(n)) == 0
	if last {
		for _, b := range c.blocks {
			b.unref()
		}
		clear(c.blocks)
		c.blocks, c.t = c.blocks[:0], nil
		chunks.Put(c)
	}
	t.Ack(n, err)
}

package pipeline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/bits"
	"sync"

	"golang.org/x/sync/semaphore"

	"rootwatch/internal/match"
	"rootwatch/internal/workpool"
)

// Defaults of the I/O stage (Common.S3Inflight, Common.S3InflightBytes).
const (
	// DefaultS3Inflight is how many objects are fetched at once: S3
	// requests in flight plus fetched bodies waiting for a CPU worker. At
	// 30-50 ms before S3's first byte, 128 requests in flight keep ~2,500
	// small objects a second coming, more than two cores can read.
	DefaultS3Inflight = 128
	// DefaultS3InflightBytes bounds the bytes of fetched bodies held in
	// memory (stored size, usually gzipped: CloudTrail files of an
	// organisation trail are mostly a few KiB to a few MiB).
	DefaultS3InflightBytes = 64 << 20
)

// Sizes of the I/O stage's buffers.
const (
	// minBodyClass is the smallest read buffer (buffers come in powers of two).
	minBodyClass = 16 << 10
	// unknownSizeReserve is the memory reserved before fetching an object
	// whose size is not known yet (CloudTrail's own notifications do not
	// say); once S3 answered, the reservation is set to the object's size.
	unknownSizeReserve = 256 << 10
)

// Workers are the two stages every run hands its objects to, kept apart so
// that waiting on S3 never occupies a CPU: the I/O stage opens up to
// S3Inflight objects at once and reads each whole into a pooled buffer
// (bounded by S3InflightBytes; an object too large to buffer is opened and
// handed over as a stream), then the CPU stage runs the Processor (gunzip,
// split, match, emit) on Workers goroutines, about one per core. Submit a
// Job and its Done is called exactly once, whatever happens. Runs (SQS,
// backfill, a listed set of objects, a Kafka work-item run) share this one
// place.
type Workers struct {
	proc  *Processor
	cpu   *workpool.Pool[Job]
	fetch *workpool.Pool[Job] // nil: objects are opened by the CPU stage
	m     *Metrics

	budget      *semaphore.Weighted // S3InflightBytes
	budgetBytes int64
	maxBuffered int64 // largest body read whole
	bufs        bodyPool
}

// NewWorkers starts the stages for c's settings (defaults applied); ctx
// cancels the object reads in progress, and jobs still queued when it ends
// are not read (their Done hears the context's error).
func NewWorkers(ctx context.Context, c Common) *Workers {
	c.defaults()
	w := &Workers{m: c.Metrics}
	w.proc = NewProcessor(ProcessorOptions{Sink: c.Sink, Reader: c.Reader, Metrics: c.Metrics, Logger: c.Logger, Now: c.Now})
	w.cpu = workpool.New(ctx, c.Workers, c.Queue, w.proc.Process, func(j Job, err error) {
		j.body.close()
		j.Done(failed(j.Ref, err))
	})
	if c.S3Inflight > 0 {
		w.budgetBytes = c.S3InflightBytes
		w.budget = semaphore.NewWeighted(w.budgetBytes)
		// One object may take an eighth of the budget (8 MiB of 64 MiB);
		// larger ones are streamed.
		w.maxBuffered = max(int64(1)<<(bits.Len64(uint64(w.budgetBytes/8))-1), minBodyClass)
		w.fetch = workpool.New(ctx, c.S3Inflight, 0, w.prefetch, func(j Job, err error) { j.Done(failed(j.Ref, err)) })
	}
	return w
}

// Submit hands j to the stages, waiting while they are full. When ctx ends
// first, j is not taken (its Done is not called) and the context's error
// is returned.
func (w *Workers) Submit(ctx context.Context, j Job) error {
	if w.fetch != nil {
		return w.fetch.Submit(ctx, j)
	}
	return w.cpu.Submit(ctx, j)
}

// submit hands j to w; when that fails (ctx ended), j.Done hears why at once.
func submit(ctx context.Context, w *Workers, j Job) {
	if err := w.Submit(ctx, j); err != nil {
		j.Done(failed(j.Ref, err))
	}
}

// Close waits until every submitted job was read (or dropped). Submit must
// not be called after Close.
func (w *Workers) Close() {
	if w.fetch != nil {
		w.fetch.Close()
	}
	w.cpu.Close()
}

// prefetch is the I/O stage's work on one job: reserve memory, open the
// object, read it whole when it fits, and hand it to the CPU stage.
func (w *Workers) prefetch(ctx context.Context, j Job) {
	reserve := int64(unknownSizeReserve)
	if j.Size > 0 {
		reserve = classSize(min(j.Size, w.maxBuffered))
	}
	reserve = min(reserve, w.budgetBytes)
	if err := w.budget.Acquire(ctx, reserve); err != nil {
		j.Done(failed(j.Ref, err))
		return
	}
	if w.m != nil {
		w.m.FetchInFlight.Inc()
		w.m.FetchBytes.Add(float64(reserve))
	}
	b := &fetched{w: w, weight: reserve}
	rc, err := j.Open(ctx)
	if err != nil {
		b.close()
		// Nothing to read: the Processor reports the failure at once, here.
		j.Open = func(context.Context) (io.ReadCloser, error) { return nil, err }
		w.proc.Process(ctx, j)
		return
	}
	b.read(rc, sizeOf(rc))
	j.body = b
	if err := w.cpu.Submit(ctx, j); err != nil {
		b.close()
		j.Done(failed(j.Ref, err))
	}
}

// sizeOf is the length of an opened body when it says (an S3 object's
// Content-Length), else -1.
func sizeOf(rc io.ReadCloser) int64 {
	if s, ok := rc.(interface{ Size() int64 }); ok {
		return s.Size()
	}
	return -1
}

// fetched is a body the I/O stage opened ahead of its CPU worker: read
// whole into buf, or (too large, or memory short) the part read so far
// followed by the rest of the live stream. Close gives its memory back.
type fetched struct {
	w      *Workers
	weight int64 // reserved of the budget
	buf    *[]byte
	r      bytes.Reader
	rc     io.ReadCloser // the live stream, when not read to its end
	err    error         // the error that ended reading ahead, returned after buf
	closed bool
}

// read reads rc (size bytes, or -1: unknown) into a buffer when it fits
// the reservation or the budget has room for it, and closes rc; otherwise
// it keeps rc open for the CPU worker to stream.
func (b *fetched) read(rc io.ReadCloser, size int64) {
	w := b.w
	want := size
	if size < 0 {
		want = b.weight
	}
	if size > w.maxBuffered || !b.resize(classSize(max(want, 1))) {
		// Too large to hold (or no room now): the worker streams it, and
		// it keeps only a token of the budget.
		b.resize(min(b.weight, minBodyClass))
		b.rc = rc
		return
	}
	buf := w.bufs.get(b.weight)
	b.buf = buf
	n, err := io.ReadFull(rc, (*buf)[:cap(*buf)])
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		err = nil // read to its end
	case err == nil && int64(n) != size: // the buffer is full and more may follow
		b.rc = rc
	}
	*buf = (*buf)[:n]
	b.r.Reset(*buf)
	b.err = err
	if b.rc == nil {
		rc.Close()
	}
}

// resize sets the reservation to n bytes, giving back what is not needed
// or taking more without waiting; false when the budget has no room.
func (b *fetched) resize(n int64) bool {
	switch {
	case n < b.weight:
		b.w.budget.Release(b.weight - n)
	case n > b.weight:
		if n > b.w.budgetBytes || !b.w.budget.TryAcquire(n-b.weight) {
			return false
		}
	}
	if b.w.m != nil {
		b.w.m.FetchBytes.Add(float64(n - b.weight))
	}
	b.weight = n
	return true
}

func (b *fetched) Read(p []byte) (int, error) {
	if b.r.Len() > 0 {
		return b.r.Read(p)
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.rc != nil {
		return b.rc.Read(p)
	}
	return 0, io.EOF
}

func (b *fetched) Close() error {
	b.close()
	return nil
}

// close releases the stream, the buffer and the reservation, once; a nil
// body is fine.
func (b *fetched) close() {
	if b == nil || b.closed {
		return
	}
	b.closed = true
	if b.rc != nil {
		b.rc.Close()
	}
	if b.buf != nil {
		b.r.Reset(nil)
		b.w.bufs.put(b.buf)
		b.buf = nil
	}
	b.w.budget.Release(b.weight)
	if m := b.w.m; m != nil {
		m.FetchInFlight.Dec()
		m.FetchBytes.Sub(float64(b.weight))
	}
}

// classSize is n rounded up to a buffer size class: a power of two, at
// least minBodyClass.
func classSize(n int64) int64 {
	if n <= minBodyClass {
		return minBodyClass
	}
	return 1 << bits.Len64(uint64(n-1))
}

// bodyPool keeps the I/O stage's read buffers by size class, so reading
// ahead allocates (and zeroes) nothing once warm.
type bodyPool struct {
	classes [40]sync.Pool // by bits.Len64(size-1)
}

func (p *bodyPool) get(size int64) *[]byte {
	c := &p.classes[bits.Len64(uint64(size-1))]
	if b, ok := c.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, size)
	return &b
}

func (p *bodyPool) put(b *[]byte) {
	*b = (*b)[:cap(*b)]
	p.classes[bits.Len64(uint64(cap(*b)-1))].Put(b)
}

// failed is the Result of an object that was not read because of err.
func failed(ref match.ObjectRef, err error) Result {
	return Result{Ref: ref, Err: &ObjectError{Object: Name(ref), Err: err}}
}

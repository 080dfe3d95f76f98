package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/mutant"
	"rootwatch/internal/sink"
)

// Opener opens one object's bytes (an S3 GetObject, a local file). Its
// errors should be classified (internal/failure); unclassified ones count
// as transient.
type Opener func(ctx context.Context) (io.ReadCloser, error)

// Job is one object to read. Done is called exactly once, after every
// message the object led to was acknowledged by the sink or one failed.
type Job struct {
	Ref match.ObjectRef
	// Size is the object's stored size when known (from a listing or an
	// S3 event), else 0: the I/O stage reserves memory by it before it
	// asks S3 for the object.
	Size int64
	Open Opener
	Done func(Result)
	body *fetched // read ahead by the I/O stage (Workers), if it was
}

// Result is what became of one object.
type Result struct {
	Ref               match.ObjectRef
	Records, Findings int64
	Bytes             int64 // decompressed
	// Err is nil when every record and finding is durable; else an
	// *ObjectError. failure.Classify tells a permanent error (dead-letter)
	// from a transient one (retry).
	Err error
}

// ObjectError is why an object could not be read completely (or its output
// not written): Error is "read <object>: <cause>".
type ObjectError struct {
	Object string // s3://bucket/key, or the local path
	Err    error
}

func (e *ObjectError) Error() string { return "read " + e.Object + ": " + e.Err.Error() }
func (e *ObjectError) Unwrap() error { return e.Err }

// Cause is err without the object's name, when it is an *ObjectError.
func Cause(err error) error {
	var oe *ObjectError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// Name is how a person finds the object: s3://bucket/key, or the path.
func Name(ref match.ObjectRef) string {
	if ref.Bucket == "" {
		return ref.Key
	}
	return "s3://" + ref.Bucket + "/" + ref.Key
}

// Defaults of ProcessorOptions.
const (
	DefaultChunkRecords = 512
	DefaultChunkBytes   = 1 << 20
)

// ProcessorOptions configure a Processor.
type ProcessorOptions struct {
	Sink    sink.Sink
	Reader  cloudtrail.Options
	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// ChunkRecords and ChunkBytes bound one Write of records to the sink
	// (default DefaultChunkRecords, DefaultChunkBytes).
	ChunkRecords int
	ChunkBytes   int
}

// Processor is the one object reader: it opens an object, gunzips and
// splits it (internal/cloudtrail), matches every record (internal/match),
// and writes records and findings to a sink, then tells the job's Done
// what became of it once the sink acknowledged everything. Every source
// (SQS, backfill, local files, the audit) reads objects through it. It is
// safe for concurrent use by the workers of a Pool.
type Processor struct {
	o       ProcessorOptions
	scratch sync.Pool // *emitter
}

// NewProcessor returns a Processor.
func NewProcessor(o ProcessorOptions) *Processor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ChunkRecords <= 0 {
		o.ChunkRecords = DefaultChunkRecords
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = DefaultChunkBytes
	}
	return &Processor{o: o}
}

// tracker counts the messages of one object still awaiting acknowledgement,
// plus one for the reader itself; at zero, the job is done.
type tracker struct {
	pending atomic.Int64
	mu      sync.Mutex
	err     error
	res     Result
	done    func(Result)
	m       *Metrics
}

// Ack is the sink's acknowledgement of n of the object's messages.
func (t *tracker) Ack(n int, err error) {
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
	if t.pending.Add(-int64(n)) != 0 {
		return
	}
	t.mu.Lock()
	if t.err != nil {
		t.res.Err = &ObjectError{Object: Name(t.res.Ref), Err: t.err}
	}
	res := t.res
	t.mu.Unlock()
	if t.m != nil {
		t.m.InFlightObjects.Dec()
		result := "ok"
		if res.Err != nil {
			result = failure.Transient
			if _, p := failure.Classify(res.Err); p {
				result = "permanent"
			}
		}
		t.m.Objects.WithLabelValues(result).Inc()
	}
	if t.done != nil {
		t.done(res)
	}
}

// Process reads job's object to the end, handing records and findings to
// the sink. It returns when the object was read; job.Done follows once the
// sink acknowledged everything.
func (p *Processor) Process(ctx context.Context, job Job) {
	t := &tracker{done: job.Done, m: p.o.Metrics}
	t.res.Ref = job.Ref
	t.pending.Store(1)
	if p.o.Metrics != nil {
		p.o.Metrics.InFlightObjects.Inc()
	}
	err := p.read(ctx, job, t)
	t.Ack(1, err)
}

// emitter batches one object's messages into Writes to the sink; its
// slices are reused between objects (the sink does not keep them).
type emitter struct {
	p        *Processor
	ctx      context.Context
	t        *tracker
	recs     []sink.Message
	recBytes int // value bytes in recs
	finds    []sink.Message
	// block holds record values. Bytes handed to the sink (below len) are
	// never written again, only appended after, so a block is shared by
	// chunks and objects until it is full; it goes back to the pool once
	// the emitter moved on and the sink acknowledged every chunk in it.
	block    *arenaBlock
	inChunk  []*arenaBlock // the blocks the records in recs are in, one reference each
	fenc     findingEncoder
	nRecords int64
	nFinds   int64
}

func (p *Processor) emitter(ctx context.Context, t *tracker) *emitter {
	e, _ := p.scratch.Get().(*emitter)
	if e == nil {
		e = &emitter{p: p}
	}
	e.ctx, e.t, e.nRecords, e.nFinds = ctx, t, 0, 0
	return e
}

func (e *emitter) release() {
	clear(e.recs)
	clear(e.finds)
	e.recs, e.finds, e.recBytes = e.recs[:0], e.finds[:0], 0
	for _, b := range e.inChunk { // records never handed to the sink
		b.unref()
	}
	clear(e.inChunk)
	e.inChunk = e.inChunk[:0]
	e.ctx, e.t = nil, nil
	e.p.scratch.Put(e)
}

func (e *emitter) write(topic sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	if len(msgs) == 0 {
		return nil
	}
	if !(mutant.Enabled && mutant.On("ingest-ack-before-kafka")) { // mutant (make mutants): the object is done before Kafka acknowledged these
		e.t.pending.Add(int64(len(msgs)))
	}
	if err := e.p.o.Sink.Write(e.ctx, topic, msgs, ack); err != nil {
		ack.Ack(len(msgs), err)
		return err
	}
	return nil
}

func (e *emitter) flushRecords() error {
	if len(e.recs) == 0 {
		return nil
	}
	c := newChunk(e.t, len(e.recs), e.inChunk)
	err := e.write(sink.TopicRecords, e.recs, c)
	clear(e.recs)
	e.recs, e.recBytes = e.recs[:0], 0
	clear(e.inChunk)
	e.inChunk = e.inChunk[:0]
	return err
}

func (e *emitter) flush() error {
	if err := e.flushRecords(); err != nil {
		return err
	}
	err := e.write(sink.TopicFindings, e.finds, e.t)
	clear(e.finds)
	e.finds = e.finds[:0]
	return err
}

// record adds one record (copied into the arena) for the records topic, and
// writes the chunk when it holds ChunkRecords records or ChunkBytes bytes.
func (e *emitter) record(raw, key []byte, headers []sink.Header) error {
	o := &e.p.o
	b := e.block
	if b == nil || len(b.buf)+len(raw) > cap(b.buf) {
		if b != nil {
			b.unref() // the emitter's own reference: full
		}
		b = newArenaBlock(len(raw))
		e.block = b
	}
	if n := len(e.inChunk); n == 0 || e.inChunk[n-1] != b {
		// Held for the records in recs until their chunk takes it over:
		// the emitter may move on to a new block before they are written.
		b.refs.Add(1)
		e.inChunk = append(e.inChunk, b)
	}
	start := len(b.buf)
	b.buf = append(b.buf, raw...)
	e.recs = append(e.recs, sink.Message{Key: key, Value: b.buf[start:len(b.buf):len(b.buf)], Headers: headers})
	e.recBytes += len(raw)
	if len(e.recs) >= o.ChunkRecords || e.recBytes >= o.ChunkBytes {
		return e.flushRecords()
	}
	return nil
}

// finding writes f at once: findings are what people wait for.
func (e *emitter) finding(f *match.Finding) error {
	v, err := e.fenc.encode(f)
	if err != nil {
		return err
	}
	e.finds = append(e.finds, sink.Message{Key: []byte(f.AccountID), Value: v})
	err = e.write(sink.TopicFindings, e.finds, e.t)
	clear(e.finds)
	e.finds = e.finds[:0]
	return err
}

// findingEncoder writes a finding as the value of the findings topic:
// JSON without HTML escaping, so the embedded record keeps its bytes. Its
// buffer is reused; the value it returns is a copy. The zero value is ready.
type findingEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

func (fe *findingEncoder) encode(f *match.Finding) ([]byte, error) {
	if fe.enc == nil {
		fe.enc = json.NewEncoder(&fe.buf)
		fe.enc.SetEscapeHTML(false) // keep the record's bytes as they were
	}
	fe.buf.Reset()
	if err := fe.enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encode finding %s: %w", f.EventID, err)
	}
	return bytes.Clone(bytes.TrimSuffix(fe.buf.Bytes(), []byte{'\n'})), nil
}

// ctxCheckEvery is how many records are read between checks for cancellation.
const ctxCheckEvery = 256

func (p *Processor) read(ctx context.Context, job Job, t *tracker) error {
	var rc io.ReadCloser = job.body
	if job.body == nil {
		var err error
		if rc, err = job.Open(ctx); err != nil {
			return err
		}
	}
	defer rc.Close()
	key := filepath.ToSlash(job.Ref.Key)
	opts := p.o.Reader
	if opts.Format == cloudtrail.FormatAuto && cloudtrail.IsJSONLName(key) {
		opts.Format = cloudtrail.FormatJSONL
	}
	r, err := cloudtrail.NewReader(rc, opts)
	if err != nil {
		return fromReader(err)
	}
	defer r.Close()

	var headers []sink.Header
	var keyAccount []byte
	k, layout := cloudtrail.ParseKey(key)
	if layout {
		keyAccount = []byte(k.Account)
	}
	wantRecords := p.o.Sink.WantsRecords()
	if wantRecords {
		headers = []sink.Header{{Key: "bucket", Value: []byte(job.Ref.Bucket)}, {Key: "key", Value: []byte(job.Ref.Key)}}
		if layout {
			headers = append(headers, sink.Header{Key: "account", Value: keyAccount}, sink.Header{Key: "region", Value: []byte(k.Region)})
		}
	}
	insight := layout && k.Kind == cloudtrail.KindInsight || !layout && cloudtrail.IsInsight(key)

	e := p.emitter(ctx, t)
	defer func() {
		n := r.BytesRead()
		t.mu.Lock()
		t.res.Records, t.res.Findings, t.res.Bytes = e.nRecords, e.nFinds, n
		t.mu.Unlock()
		if m := p.o.Metrics; m != nil {
			m.Records.Add(float64(e.nRecords))
			m.Findings.Add(float64(e.nFinds))
			m.Bytes.Add(float64(n))
		}
		e.release()
	}()
	for {
		raw, rerr := r.Next()
		if rerr != nil {
			ferr := e.flush()
			if errors.Is(rerr, io.EOF) {
				return ferr
			}
			return fromReader(fmt.Errorf("%w (after %d records)", rerr, e.nRecords))
		}
		e.nRecords++
		if e.nRecords%ctxCheckEvery == 0 && ctx.Err() != nil {
			e.flush()
			return ctx.Err()
		}
		if wantRecords {
			if err := e.record(raw, recipientAccount(raw, keyAccount), headers); err != nil {
				return err
			}
		}
		if !match.Matches(raw) { // most records: stop before reading the clock
			continue
		}
		f, ok := match.Find(raw, job.Ref, p.o.Now().UTC())
		if !ok {
			continue
		}
		f.Insight = insight
		e.nFinds++
		if err := e.finding(&f); err != nil {
			return err
		}
	}
}

// fromReader marks an error of the CloudTrail reader: a *FormatError is
// the data's fault (failure.Classify makes it permanent); anything else came
// from the stream it read (a dropped connection, a disk error), so the
// object is worth reading again, even if it looked like a truncated file.
func fromReader(err error) error {
	var fe *cloudtrail.FormatError
	if errors.As(err, &fe) {
		return err
	}
	return failure.MarkTransient(err)
}

var recipientKey = []byte(`"recipientAccountId":"`)

// recipientTail is how much of a record's end recipientAccount searches first.
const recipientTail = 512

// recipientAccount returns the record's recipientAccountId (the Kafka key),
// or def when it has none. CloudTrail writes the field compactly, at the top
// level and after the nested request and response elements, so the last
// occurrence found by a byte search is it, without parsing the record (a
// look-alike key inside requestParameters comes earlier); anything unusual
// falls back to gjson.
func recipientAccount(raw, def []byte) []byte {
	// It is near the end (only eventCategory, tlsDetails and the like
	// follow it): look in the last part first, which is the last
	// occurrence when it is there at all.
	i := -1
	if len(raw) > recipientTail {
		if j := bytes.LastIndex(raw[len(raw)-recipientTail:], recipientKey); j >= 0 {
			i = len(raw) - recipientTail + j
		}
	}
	if i < 0 {
		i = bytes.LastIndex(raw, recipientKey)
	}
	if i >= 0 {
		v := raw[i+len(recipientKey):]
		if len(v) > 12 && v[12] == '"' && isDigits12(v[:12]) {
			if bytes.Equal(v[:12], def) {
				return def // shared, no allocation
			}
			return bytes.Clone(v[:12])
		}
	}
	if a := gjson.GetBytes(raw, "recipientAccountId"); a.Type == gjson.String && a.Str != "" {
		return []byte(a.Str)
	}
	return def
}

func isDigits12(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) == 12
}

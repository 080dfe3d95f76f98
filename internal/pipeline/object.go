package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
	"rootwatch/internal/mutant"
)

// Job is one object to read. Done is called exactly once, after every
// message the object led to was acknowledged by the sink or one failed.
type Job struct {
	Ref  match.ObjectRef
	Open func(ctx context.Context) (io.ReadCloser, error)
	Done func(Result)
}

// Result is what became of one object.
type Result struct {
	Ref               match.ObjectRef
	Records, Findings int64
	Bytes             int64 // decompressed
	// Err is nil when every record and finding is durable. Classify tells a
	// permanent error (dead-letter) from a transient one (retry).
	Err error
}

// ProcessorOptions configure a Processor.
type ProcessorOptions struct {
	Sink    Sink
	Reader  cloudtrail.Options
	Metrics *Metrics
	Logger  *slog.Logger
	Now     func() time.Time
	// ChunkRecords and ChunkBytes bound one Write to the sink (default 512 records, 1 MiB).
	ChunkRecords int
	ChunkBytes   int
}

// Processor reads objects and writes their records and findings to a sink.
// It is safe for concurrent use by the workers of a Pool.
type Processor struct {
	o ProcessorOptions
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
		o.ChunkRecords = 512
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 1 << 20
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

func (t *tracker) Ack(n int, err error) {
	if err != nil {
		t.mu.Lock()
		if t.err == nil {
			t.err = err
		}
		t.mu.Unlock()
	}
	if t.pending.Add(-int64(n)) == 0 {
		t.mu.Lock()
		t.res.Err = t.err
		res := t.res
		t.mu.Unlock()
		if t.m != nil {
			t.m.InFlightObjects.Dec()
			result := "ok"
			if res.Err != nil {
				result = "transient"
				if _, p := Classify(res.Err); p {
					result = "permanent"
				}
			}
			t.m.Objects.WithLabelValues(result).Inc()
		}
		if t.done != nil {
			t.done(res)
		}
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

func (p *Processor) read(ctx context.Context, job Job, t *tracker) (err error) {
	name := job.Ref.Key
	if job.Ref.Bucket != "" {
		name = "s3://" + job.Ref.Bucket + "/" + job.Ref.Key
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("read %s: %w", name, err)
		}
	}()
	rc, err := job.Open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	body := &bodyReader{r: rc}
	r, err := cloudtrail.NewReader(body, p.o.Reader)
	if err != nil {
		if body.err != nil {
			return &transientError{body.err}
		}
		return err
	}
	defer r.Close()
	defer func() {
		n := r.BytesRead()
		t.mu.Lock()
		t.res.Bytes = n
		t.mu.Unlock()
		if p.o.Metrics != nil {
			p.o.Metrics.Bytes.Add(float64(n))
		}
	}()

	var headers []kafkago.Header
	var keyAccount []byte
	if k, ok := cloudtrail.ParseKey(job.Ref.Key); ok {
		keyAccount = []byte(k.Account)
		headers = []kafkago.Header{
			{Key: "bucket", Value: []byte(job.Ref.Bucket)},
			{Key: "key", Value: []byte(job.Ref.Key)},
			{Key: "account", Value: keyAccount},
			{Key: "region", Value: []byte(k.Region)},
		}
	} else {
		headers = []kafkago.Header{
			{Key: "bucket", Value: []byte(job.Ref.Bucket)},
			{Key: "key", Value: []byte(job.Ref.Key)},
		}
	}

	wantRecords := p.o.Sink.WantsRecords()
	var (
		recs     []kafkago.Message
		finds    []kafkago.Message
		arena    []byte
		nRecords int64
		nFinds   int64
	)
	flush := func(topic Topic, msgs []kafkago.Message) error {
		if len(msgs) == 0 {
			return nil
		}
		if !(mutant.Enabled && mutant.On("ingest-ack-before-kafka")) { // mutant (make mutants): the object is done before Kafka acknowledged these
			t.pending.Add(int64(len(msgs)))
		}
		if err := p.o.Sink.Write(ctx, topic, msgs); err != nil {
			t.Ack(len(msgs), err)
			return err
		}
		return nil
	}
	flushAll := func() error {
		if err := flush(TopicRecords, recs); err != nil {
			return err
		}
		recs, arena = nil, nil
		if err := flush(TopicFindings, finds); err != nil {
			return err
		}
		finds = nil
		return nil
	}
	defer func() {
		t.mu.Lock()
		t.res.Records, t.res.Findings = nRecords, nFinds
		t.mu.Unlock()
		if p.o.Metrics != nil {
			p.o.Metrics.Records.Add(float64(nRecords))
			p.o.Metrics.Findings.Add(float64(nFinds))
		}
	}()

	for {
		raw, rerr := r.Next()
		if rerr != nil {
			ferr := flushAll()
			if errors.Is(rerr, io.EOF) {
				return ferr
			}
			if body.err != nil {
				return &transientError{fmt.Errorf("%w (after %d records)", body.err, nRecords)}
			}
			return fmt.Errorf("%w (after %d records)", rerr, nRecords)
		}
		if ctx.Err() != nil {
			flushAll()
			return ctx.Err()
		}
		nRecords++
		if wantRecords {
			if len(arena)+len(raw) > cap(arena) {
				if len(recs) > 0 {
					if err := flush(TopicRecords, recs); err != nil {
						return err
					}
					recs = nil
				}
				arena = make([]byte, 0, max(p.o.ChunkBytes, len(raw)))
			}
			start := len(arena)
			arena = append(arena, raw...)
			val := arena[start:len(arena):len(arena)]
			key := recipientAccount(raw, keyAccount)
			recs = append(recs, kafkago.Message{Key: key, Value: val, Headers: headers, WriterData: t})
			if len(recs) >= p.o.ChunkRecords {
				if err := flush(TopicRecords, recs); err != nil {
					return err
				}
				recs, arena = nil, nil
			}
		}
		if match.IsRoot(raw) { // most records: stop before reading the clock
			if f, ok := match.Find(raw, job.Ref, p.o.Now().UTC()); ok {
				b, err := json.Marshal(f)
				if err != nil {
					return fmt.Errorf("encode finding: %w", err)
				}
				nFinds++
				finds = append(finds, kafkago.Message{Key: []byte(f.AccountID), Value: b, WriterData: t})
				// Findings go out at once: they are what people wait for.
				if err := flush(TopicFindings, finds); err != nil {
					return err
				}
				finds = nil
			}
		}
	}
}

var recipientKey = []byte(`"recipientAccountId":"`)

// recipientAccount returns the record's recipientAccountId (the Kafka key),
// or def when it has none. CloudTrail writes the field compactly, at the top
// level and after the nested request and response elements, so the last
// occurrence found by a byte search is it, without parsing the record (a
// look-alike key inside requestParameters comes earlier); anything unusual
// falls back to gjson.
func recipientAccount(raw, def []byte) []byte {
	if i := bytes.LastIndex(raw, recipientKey); i >= 0 {
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

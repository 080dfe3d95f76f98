package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"rootwatch/internal/failure"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
)

// failingReader yields data, then fails with err instead of io.EOF.
type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

// A stream that breaks off (a dropped connection) is a transient failure,
// to be read again, while the same bytes ending cleanly are a damaged
// file, dead-lettered: the reader's verdict is classified once, here.
func TestProcessorTellsBrokenStreamFromDamagedFile(t *testing.T) {
	var recs []string
	for _, r := range fixtures.Records[:20] {
		recs = append(recs, r.JSON)
	}
	whole := fixtures.Gzip(fixtures.LogFile(recs...))
	cut := whole[:len(whole)/2]
	p := pipeline.NewProcessor(pipeline.ProcessorOptions{Sink: &memSink{}})
	read := func(r io.Reader) pipeline.Result {
		done := make(chan pipeline.Result, 1)
		p.Process(context.Background(), pipeline.Job{Ref: match.ObjectRef{Bucket: "b", Key: "k.json.gz"},
			Open: func(context.Context) (io.ReadCloser, error) { return io.NopCloser(r), nil },
			Done: func(r pipeline.Result) { done <- r }})
		return <-done
	}
	reset := errors.New("connection reset by peer")
	r := read(&failingReader{r: bytes.NewReader(cut), err: reset})
	if reason, permanent := failure.Classify(r.Err); permanent || reason != failure.Transient || !errors.Is(r.Err, reset) {
		t.Errorf("broken stream: %q permanent=%v (%v), want transient", reason, permanent, r.Err)
	}
	r = read(bytes.NewReader(cut))
	if reason, permanent := failure.Classify(r.Err); !permanent || (reason != failure.ReasonCorrupt && reason != failure.ReasonTruncated) {
		t.Errorf("cut file: %q permanent=%v (%v), want corrupt or truncated", reason, permanent, r.Err)
	}
	r = read(&failingReader{r: bytes.NewReader(nil), err: reset})
	if reason, _ := failure.Classify(r.Err); reason != failure.Transient {
		t.Errorf("stream broken before the first byte: %q (%v)", reason, r.Err)
	}
	if r = read(bytes.NewReader(whole)); r.Err != nil || r.Records != 20 {
		t.Errorf("whole file: %d records, %v", r.Records, r.Err)
	}
}

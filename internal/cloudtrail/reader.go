package cloudtrail

import (
	"errors"
	"io"
	"os"
)

// Reader yields the raw records of one log file, one at a time.
type Reader struct {
	src    io.Reader
	closer io.Closer
	opts   Options
}

// NewReader reads a log file from r, gunzipping it if it starts with the
// gzip magic. The caller closes r.
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	return &Reader{src: r, opts: opts}, nil
}

// OpenFile opens a local file; .jsonl and .jsonl.gz are read as JSON lines.
func OpenFile(path string, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// Next returns the next record's bytes exactly as in the file. The slice is
// valid until the next call. It returns io.EOF after the last record, and a
// *FormatError (wrapping one of the sentinel errors) when the file cannot be
// read further; records returned before an error were valid.
func (r *Reader) Next() ([]byte, error) {
	return nil, errors.New("not implemented yet")
}

// BytesRead is how many decompressed bytes have been consumed.
func (r *Reader) BytesRead() int64 { return 0 }

// Close releases the file opened by OpenFile and the gzip reader.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

package cloudtrail

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"rootwatch/internal/testutil"
	"testing"
	"testing/iotest"
)

// oracle says, with encoding/json, whether data is a CloudTrail log file:
// one JSON object with exactly one "Records" key whose value is an array of
// objects; and if so, the records' exact bytes.
func oracle(data []byte) ([]json.RawMessage, bool) {
	if !json.Valid(data) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, false
	}
	var recs json.RawMessage
	n := 0
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if k == "Records" {
			n++
			recs = v
		}
	}
	if n != 1 || len(recs) == 0 || recs[0] != '[' {
		return nil, false
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(recs, &arr); err != nil {
		return nil, false
	}
	for _, r := range arr {
		if len(r) == 0 || r[0] != '{' {
			return nil, false
		}
	}
	return arr, true
}

func FuzzReader(f *testing.F) {
	seeds := []string{
		sample,
		`{"Records":[]}`,
		`{"Records":[{}]}`,
		` {"a":1,"Records":[{"b":[1,2,{"c":"\u0041"}]}],"z":null} `,
		`{"R\u0065cords":[{"x":1}]}`,
		`{"Records":[{"x":1}],"Records":[]}`,
		`{"Records":[{"x":"\"}]\\"}]}`,
		`{"Records":[1]}`,
		`[{"Records":[]}]`,
		`{"Records":[{"x":-0.5e-7}]}`,
		`{"Records":[{"x":1.}]}`,
		`{"Records":[{"x":"\ud800"}]}`,
		"{\"Records\":[{\"x\":\"\xff\xfe\"}]}",
		`{"Records":[{"x":1}]`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	if _, files := testutil.RealCloudTrailFiles(f); len(files) > 0 {
		if b, err := os.ReadFile(files[0]); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, valid := oracle(data)
		for _, wrap := range []func(io.Reader) io.Reader{nil, iotest.OneByteReader} {
			var src io.Reader = bytes.NewReader(data)
			if wrap != nil {
				src = wrap(src)
			}
			r, err := NewReader(src, Options{})
			if err != nil {
				if valid {
					t.Fatalf("NewReader rejected a valid file: %v", err)
				}
				continue
			}
			var got [][]byte
			for {
				rec, err := r.Next()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					if (err == nil) != valid {
						t.Fatalf("reader error %v, encoding/json valid=%v", err, valid)
					}
					if err != nil {
						var fe *FormatError
						if !errors.As(err, &fe) {
							t.Fatalf("error %v is not a *FormatError", err)
						}
					}
					break
				}
				if !json.Valid(rec) || rec[0] != '{' {
					t.Fatalf("emitted an invalid record %q", rec)
				}
				got = append(got, bytes.Clone(rec))
			}
			if valid {
				if len(got) != len(want) {
					t.Fatalf("%d records, encoding/json has %d", len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("record %d: %q, encoding/json has %q", i, got[i], want[i])
					}
				}
			}
		}
	})
}

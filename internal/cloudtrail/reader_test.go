package cloudtrail

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"rootwatch/internal/testutil"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/klauspost/compress/gzip"
)

// readAll drains a Reader, copying each record.
func readAll(t testing.TB, r *Reader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		rec, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, string(rec))
	}
}

func read(t testing.TB, data []byte, opts Options, wrap func(io.Reader) io.Reader) ([]string, error) {
	t.Helper()
	var src io.Reader = bytes.NewReader(data)
	if wrap != nil {
		src = wrap(src)
	}
	r, err := NewReader(src, opts)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return readAll(t, r)
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const sample = `{"Records":[{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"},"eventName":"ListBuckets","s":"a \"quoted\" }] \\ string"},
 {"eventVersion":"1.08","n":[1,-2.5e+3,0.1,true,false,null,{}],"u":"\u00e9\ud83d\ude00"} ,{}
], "extra": {"Records": "nested key is not the top-level one"}}`

func TestReaderSplitsRecordsExactly(t *testing.T) {
	var want struct{ Records []json.RawMessage }
	if err := json.Unmarshal([]byte(sample), &want); err != nil {
		t.Fatal(err)
	}
	wraps := map[string]func(io.Reader) io.Reader{
		"whole":    nil,
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	for _, gzipped := range []bool{false, true} {
		for name, wrap := range wraps {
			data := []byte(sample)
			if gzipped {
				data = gz(t, data)
			}
			got, err := read(t, data, Options{}, wrap)
			if err != nil {
				t.Fatalf("%s gzip=%v: %v", name, gzipped, err)
			}
			if len(got) != len(want.Records) {
				t.Fatalf("%s gzip=%v: got %d records, want %d", name, gzipped, len(got), len(want.Records))
			}
			for i := range got {
				if got[i] != string(want.Records[i]) {
					t.Errorf("%s gzip=%v: record %d = %s, want %s", name, gzipped, i, got[i], want.Records[i])
				}
			}
		}
	}
}

func TestReaderErrors(t *testing.T) {
	good := `{"eventID":"1"}`
	cases := []struct {
		name    string
		data    string
		want    error
		records int // records that must still come out before the error
	}{
		{"empty file", "", ErrNotCloudTrail, 0},
		{"whitespace only", " \n\t ", ErrNotCloudTrail, 0},
		{"top-level array", `[` + good + `]`, ErrNotCloudTrail, 0},
		{"top-level string", `"Records"`, ErrNotCloudTrail, 0},
		{"no Records", `{"foo":[` + good + `]}`, ErrNotCloudTrail, 0},
		{"empty object", `{}`, ErrNotCloudTrail, 0},
		{"digest file", `{"awsAccountId":"111122223333","digestStartTime":"2023-07-10T11:00:00Z","logFiles":[]}`, ErrNotCloudTrail, 0},
		{"Records not an array", `{"Records":{"a":1}}`, ErrNotCloudTrail, 0},
		{"Records null", `{"Records":null}`, ErrNotCloudTrail, 0},
		{"element not an object", `{"Records":[` + good + `,3]}`, ErrNotCloudTrail, 1},
		{"duplicate Records", `{"Records":[` + good + `],"Records":[]}`, ErrNotCloudTrail, 1},
		{"truncated in record", `{"Records":[` + good + `,{"eventID":"2","x":"abc`, ErrTruncated, 1},
		{"truncated after record", `{"Records":[` + good + `,` + good, ErrTruncated, 2},
		{"truncated after array", `{"Records":[` + good + `]`, ErrTruncated, 1},
		{"bad literal", `{"Records":[` + good + `,{"a":tru}]}`, ErrSyntax, 1},
		{"bad number", `{"Records":[{"a":01}]}`, ErrSyntax, 0},
		{"bad escape", `{"Records":[{"a":"\x"}]}`, ErrSyntax, 0},
		{"control char", "{\"Records\":[{\"a\":\"x\ny\"}]}", ErrSyntax, 0},
		{"trailing garbage", `{"Records":[` + good + `]} x`, ErrSyntax, 1},
		{"two objects", `{"Records":[` + good + `]}{}`, ErrSyntax, 1},
		{"missing comma", `{"Records":[` + good + good + `]}`, ErrSyntax, 1},
		{"trailing comma", `{"Records":[` + good + `,]}`, ErrSyntax, 1},
		{"bom", "\xef\xbb\xbf" + `{"Records":[]}`, ErrSyntax, 0},
		{"too deep", `{"Records":[{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}]}`, ErrSyntax, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := read(t, []byte(c.data), Options{}, nil)
			if !errors.Is(err, c.want) {
				t.Fatalf("error = %v, want %v", err, c.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if len(got) != c.records {
				t.Fatalf("got %d records before the error, want %d", len(got), c.records)
			}
		})
	}
}

func TestReaderGzipFailures(t *testing.T) {
	data := gz(t, []byte(`{"Records":[{"a":1},{"b":2}]}`))
	t.Run("truncated gzip", func(t *testing.T) {
		_, err := read(t, data[:len(data)-12], Options{}, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("corrupt body", func(t *testing.T) {
		bad := append([]byte(nil), data...)
		for i := 12; i < len(bad)-8; i++ {
			bad[i] ^= 0x55
		}
		_, err := read(t, bad, Options{}, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("bad header", func(t *testing.T) {
		_, err := read(t, []byte{0x1f, 0x8b, 0, 0, 0}, Options{}, nil)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("got %v, want ErrCorrupt", err)
		}
	})
	t.Run("multi-member", func(t *testing.T) {
		two := append(gz(t, []byte(`{"Records":[{"a":1},`)), gz(t, []byte(`{"b":2}]}`))...)
		got, err := read(t, two, Options{}, nil)
		if err != nil || len(got) != 2 {
			t.Fatalf("got %d records, %v", len(got), err)
		}
	})
}

func TestReaderSourceErrorIsNotFormatError(t *testing.T) {
	boom := errors.New("connection reset")
	for _, gzipped := range []bool{false, true} {
		data := []byte(`{"Records":[{"a":1},{"b":2}]}`)
		if gzipped {
			data = gz(t, data)
		}
		src := io.MultiReader(bytes.NewReader(data[:len(data)/2]), iotest.ErrReader(boom))
		r, err := NewReader(src, Options{})
		if err != nil {
			t.Fatal(err)
		}
		_, err = readAll(t, r)
		if !errors.Is(err, boom) {
			t.Fatalf("gzip=%v: got %v, want the source error", gzipped, err)
		}
		var fe *FormatError
		if errors.As(err, &fe) {
			t.Fatalf("gzip=%v: a source error must not look like a format error: %v", gzipped, err)
		}
	}
}

func TestReaderOversizedRecordIsSkipped(t *testing.T) {
	big := `{"eventID":"big","pad":"` + strings.Repeat("x", 1<<20) + `"}`
	data := `{"Records":[{"eventID":"1"},` + big + `,{"eventID":"3"}]}`
	for _, wrap := range []func(io.Reader) io.Reader{nil, iotest.HalfReader} {
		got, err := read(t, []byte(data), Options{MaxRecordBytes: 64 << 10}, wrap)
		if !errors.Is(err, ErrRecordTooLarge) {
			t.Fatalf("got %v, want ErrRecordTooLarge", err)
		}
		if len(got) != 2 || got[0] != `{"eventID":"1"}` || got[1] != `{"eventID":"3"}` {
			t.Fatalf("records around the oversized one: %q", got)
		}
	}
	// A record just over the limit that fits in one read is caught too.
	got, err := read(t, []byte(`{"Records":[{"a":"`+strings.Repeat("y", 100)+`"},{"b":1}]}`), Options{MaxRecordBytes: 50}, nil)
	if !errors.Is(err, ErrRecordTooLarge) || len(got) != 1 {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestReaderDecompressedLimit(t *testing.T) {
	bomb := gz(t, []byte(`{"Records":[{"pad":"`+strings.Repeat("0", 4<<20)+`"}]}`))
	_, err := read(t, bomb, Options{MaxDecompressedBytes: 1 << 20}, nil)
	if !errors.Is(err, ErrObjectTooLarge) {
		t.Fatalf("got %v, want ErrObjectTooLarge", err)
	}
	// Exactly at the limit is fine.
	exact := []byte(`{"Records":[{"a":1}]}`)
	if _, err := read(t, exact, Options{MaxDecompressedBytes: int64(len(exact))}, nil); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
}

func TestReaderJSONLines(t *testing.T) {
	data := "{\"a\":1}\n\n  {\"b\":\"x\\ny\"}  \r\n{\"c\":[1,2]}"
	got, err := read(t, []byte(data), Options{Format: FormatJSONL}, iotest.OneByteReader)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`{"a":1}`, `{"b":"x\ny"}`, `{"c":[1,2]}`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q want %q", got, want)
	}
	// A bad line is skipped; the lines around it flow; the error comes at the end.
	got, err = read(t, []byte("{\"a\":1}\n{\"b\":tru}\nnot json\n{\"c\":2} x\n{\"d\":4}\n"), Options{Format: FormatJSONL}, nil)
	if !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %v, want ErrSyntax", err)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{`{"a":1}`, `{"d":4}`}) {
		t.Fatalf("got %q", got)
	}
	got, err = read(t, []byte("{\"a\":1}\n{\"b\":"), Options{Format: FormatJSONL}, nil)
	if !errors.Is(err, ErrTruncated) || len(got) != 1 {
		t.Fatalf("got %q, %v", got, err)
	}
}

// endlessRecords streams {"Records":[rec,rec,...]} of about n bytes without
// holding it in memory.
type endlessRecords struct {
	rec   []byte
	left  int
	state int
	pend  []byte
}

func (e *endlessRecords) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(e.pend) == 0 {
			switch {
			case e.state == 0:
				e.pend, e.state = []byte(`{"Records":[`), 1
			case e.state == 1 && e.left > 0:
				e.pend = e.rec
				e.left -= len(e.rec)
				if e.left <= 0 {
					e.state = 2
				}
			case e.state == 1 || e.state == 2:
				e.pend, e.state = []byte(`{"last":true}]}`), 3
			default:
				if n == 0 {
					return 0, io.EOF
				}
				return n, nil
			}
		}
		c := copy(p[n:], e.pend)
		e.pend = e.pend[c:]
		n += c
	}
	return n, nil
}

func TestReaderMemoryBoundedByRecordNotFile(t *testing.T) {
	rec := []byte(`{"eventID":"x","requestParameters":{"a":"` + strings.Repeat("v", 1500) + `"}},`)
	src := &endlessRecords{rec: rec, left: 256 << 20} // 256 MiB stream
	r, err := NewReader(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var n, maxBuf int
	for {
		b, err := r.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		if len(b) == 0 {
			t.Fatal("empty record")
		}
		n++
		maxBuf = max(maxBuf, cap(r.buf))
	}
	if want := 256<<20/len(rec) + 1; n < want {
		t.Fatalf("read %d records, want at least %d", n, want)
	}
	if maxBuf > 1<<20 {
		t.Fatalf("buffer grew to %d bytes for a 256 MiB file of 1.5 KB records", maxBuf)
	}
}

func TestReaderRealFiles(t *testing.T) {
	_, files := testutil.RealCloudTrailFiles(t)
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var want struct{ Records []json.RawMessage }
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		r, err := OpenFile(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(got) != len(want.Records) {
			t.Fatalf("%s: %d records, encoding/json says %d", f, len(got), len(want.Records))
		}
		for i := range got {
			if got[i] != string(want.Records[i]) {
				t.Fatalf("%s: record %d differs", f, i)
			}
		}
		total += len(got)
	}
	t.Logf("%d files, %d records", len(files), total)
}

// TestStringScanEveryOffset puts each byte that needs attention at every
// position of a long string, so the eight-bytes-at-a-time scan is checked
// at every alignment.
func TestStringScanEveryOffset(t *testing.T) {
	for off := 0; off < 24; off++ {
		pad := strings.Repeat("a", off)
		for _, c := range []struct {
			mid   string
			valid bool
		}{{`\"`, true}, {`\\`, true}, {`\u00e9`, true}, {"\x1f", false}, {"\x00", false}, {"\x7f\x80\xff", true}, {`"`, false}} {
			data := `{"Records":[{"s":"` + pad + c.mid + strings.Repeat("b", 17) + `"}]}`
			_, err := read(t, []byte(data), Options{}, nil)
			want, _ := oracle([]byte(data))
			if (err == nil) != c.valid || (want != nil) != c.valid {
				t.Fatalf("offset %d, %q: err %v, want valid=%v (oracle %v)", off, c.mid, err, c.valid, want != nil)
			}
		}
	}
}

// TestSpecialBytes checks the eight-byte test against the plain definition
// for every byte value at every position, with ordinary and special bytes
// around it: the lowest flagged byte must be the first special one.
func TestSpecialBytes(t *testing.T) {
	special := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 }
	for _, fill := range []byte{'a', 0x7f, 0xff, ' ', '!', '#', '[', ']', 0x1f, '"'} {
		for pos := 0; pos < 8; pos++ {
			for v := 0; v < 256; v++ {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(v)
				want := -1
				for i, c := range w {
					if special(c) {
						want = i
						break
					}
				}
				m := specialBytes(binary.LittleEndian.Uint64(w[:]))
				got := -1
				if m != 0 {
					got = bits.TrailingZeros64(m) >> 3
				}
				if got != want {
					t.Fatalf("bytes %q: first special at %d, specialBytes says %d", w, want, got)
				}
			}
		}
	}
}

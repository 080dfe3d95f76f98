package cloudtrail

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strings"
	"sync"
)

// Reader yields the raw records of one log file, one at a time, in a single
// streaming pass. It validates JSON as it goes (a file is accepted exactly
// when encoding/json would decode it as {"Records":[{...},...]}), and keeps
// in memory only the record being read plus one read chunk, so a 1 GiB file
// costs what its largest record costs.
type Reader struct {
	src    io.Reader // decompressed stream
	closer io.Closer // the file opened by OpenFile
	gz     io.ReadCloser
	br     *bufio.Reader      // from brPool, over raw
	raw    *errTrackingReader // the caller's stream, to tell its errors from gzip's
	opts   Options
	gzip   bool

	buf  []byte
	pos  int   // next unread byte in buf
	w    int   // end of valid data in buf
	mark int   // start of the record being read, -1 when none
	base int64 // stream offset of buf[0]
	eof  bool
	rerr error // a read error to report once buf is drained

	state    int
	oversize bool  // the current record passed MaxRecordBytes; it is skipped
	sealed   bool  // the record at mark is complete and within the limit
	deferred error // an error to return instead of io.EOF (a skipped record)
	err      error // sticky terminal error
	records  int64
}

// Parser states for the top level of a log file.
const (
	stStart = iota
	stKeys  // inside the top-level object, before a key
	stRecords
	stAfterRecords // after the Records array, inside the top-level object
	stTrailer      // after the top-level object
	stDone
	stLines // JSON lines
)

const (
	readChunk       = 128 << 10
	maxNestingDepth = 10000 // as encoding/json
)

// NewReader reads a log file from r, gunzipping it if it starts with the
// gzip magic. The caller closes r (Close releases only what the Reader made).
func NewReader(r io.Reader, opts Options) (*Reader, error) {
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if opts.MaxDecompressedBytes <= 0 {
		opts.MaxDecompressedBytes = DefaultMaxDecompressedBytes
	}
	et := &errTrackingReader{r: r}
	br := brPool.Get().(*bufio.Reader)
	br.Reset(et)
	rd := &Reader{opts: opts, raw: et, br: br, mark: -1}
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		rd.Close()
		return nil, fmt.Errorf("read: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := newGunzip(br)
		if err != nil {
			rd.Close()
			if et.err != nil {
				return nil, fmt.Errorf("read: %w", et.err)
			}
			return nil, &FormatError{Kind: ErrCorrupt, Detail: err.Error()}
		}
		rd.gz, rd.gzip, rd.src = gz, true, gz
	} else {
		rd.src = br
	}
	rd.src = &limitReader{r: rd.src, left: opts.MaxDecompressedBytes}
	if opts.Format == FormatJSONL {
		rd.state = stLines
	}
	rd.buf = getBuf()
	return rd, nil
}

// brPool keeps the buffered readers over the caller's stream between
// files, for the same reason as bufPool.
var brPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}

// bufPool keeps read buffers of the usual size between files: a scan opens
// thousands of small files, and a fresh buffer each would cost an
// allocation and its zeroing every time.
var bufPool = sync.Pool{New: func() any { b := make([]byte, readChunk); return &b }}

func getBuf() []byte { return *bufPool.Get().(*[]byte) }

// releaseBuf returns the buffer to the pool unless a large record grew it.
func (r *Reader) releaseBuf() {
	if cap(r.buf) == readChunk {
		b := r.buf[:readChunk]
		bufPool.Put(&b)
	}
	r.buf = nil
}

// OpenFile opens a local file; .jsonl and .jsonl.gz are read as JSON lines
// unless opts.Format says otherwise.
func OpenFile(path string, opts Options) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if opts.Format == FormatAuto && IsJSONLName(path) {
		opts.Format = FormatJSONL
	}
	r, err := NewReader(f, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer = f
	return r, nil
}

// IsLogFileName reports whether a file name has an extension the reader
// takes: .json, .json.gz, .jsonl or .jsonl.gz. Folder walks pick up only these.
func IsLogFileName(name string) bool {
	for _, ext := range [...]string{".json", ".json.gz", ".jsonl", ".jsonl.gz"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// IsJSONLName reports whether a file or key name says JSON lines (.jsonl, .jsonl.gz).
func IsJSONLName(name string) bool {
	return strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".jsonl.gz")
}

// Records is how many records Next has returned so far.
func (r *Reader) Records() int64 { return r.records }

// BytesRead is how many decompressed bytes have been consumed.
func (r *Reader) BytesRead() int64 { return r.base + int64(r.pos) }

// Gzipped reports whether the stream was gzip-compressed.
func (r *Reader) Gzipped() bool { return r.gzip }

// Close releases the file opened by OpenFile and the gzip reader.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errClosed
	}
	if r.buf != nil {
		r.releaseBuf()
	}
	if r.gz != nil {
		r.gz.Close()
		r.gz = nil
	}
	if r.br != nil {
		r.br.Reset(nil)
		brPool.Put(r.br)
		r.br = nil
	}
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}

// Next returns the next record's bytes exactly as in the file. The slice is
// valid until the next call. It returns io.EOF after the last record, and a
// *FormatError (wrapping one of the sentinel errors) when the file cannot be
// read further; records returned before an error were valid. An error that
// is not a *FormatError came from the underlying reader (a network failure:
// worth retrying). A record over MaxRecordBytes is skipped, the records after
// it still flow, and the error is returned at the end instead of io.EOF.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next()
	if err != nil {
		if errors.Is(err, io.EOF) && r.deferred != nil {
			err = r.deferred
		}
		r.err = err
		r.releaseBuf() // the reader is finished; the last record's slice was valid until this call
		return nil, err
	}
	r.records++
	return rec, nil
}

func (r *Reader) next() ([]byte, error) {
	for {
		switch r.state {
		case stStart:
			c, err := r.nonSpace()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return nil, r.fail(ErrNotCloudTrail, "empty file")
				}
				return nil, err
			}
			switch c {
			case '{':
				r.pos++
				r.state = stKeys
				if err := r.startKeys(); err != nil {
					return nil, err
				}
			case '[':
				return nil, r.fail(ErrNotCloudTrail, "top-level JSON array, expected an object with a Records array")
			default:
				if err := r.value(1); err != nil {
					return nil, err
				}
				return nil, r.fail(ErrNotCloudTrail, "top-level value is not an object")
			}
		case stKeys, stAfterRecords:
			if err := r.keys(); err != nil {
				return nil, err
			}
		case stRecords:
			rec, ok, err := r.element()
			if err != nil {
				return nil, err
			}
			if ok {
				return rec, nil
			}
		case stTrailer:
			c, err := r.nonSpace()
			if errors.Is(err, io.EOF) {
				r.state = stDone
				continue
			}
			if err != nil {
				return nil, err
			}
			return nil, r.fail(ErrSyntax, fmt.Sprintf("unexpected %q after the top-level object", c))
		case stDone:
			return nil, io.EOF
		case stLines:
			rec, err := r.line()
			if err != nil {
				return nil, err
			}
			if rec != nil {
				return rec, nil
			}
		}
	}
}

// startKeys handles an empty top-level object.
func (r *Reader) startKeys() error {
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	if c == '}' {
		return r.fail(ErrNotCloudTrail, "no Records array")
	}
	return nil
}

// keys reads one "key": value member of the top-level object, entering the
// Records array when it meets it.
func (r *Reader) keys() error {
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	if c != '"' {
		return r.fail(ErrSyntax, fmt.Sprintf("expected an object key, found %q", c))
	}
	r.pos++
	isRecords, err := r.key()
	if err != nil {
		return err
	}
	if err := r.expect(':'); err != nil {
		return err
	}
	if isRecords {
		if r.state == stAfterRecords {
			return r.fail(ErrNotCloudTrail, "duplicate Records key")
		}
		c, err := r.nonSpace()
		if err != nil {
			return r.truncated(err)
		}
		if c != '[' {
			if err := r.value(2); err != nil {
				return err
			}
			return r.fail(ErrNotCloudTrail, "Records is not an array")
		}
		r.pos++
		c, err = r.nonSpace()
		if err != nil {
			return r.truncated(err)
		}
		if c == ']' {
			r.pos++
			return r.afterMember(stAfterRecords)
		}
		r.state = stRecords
		return nil
	}
	if err := r.value(2); err != nil {
		return err
	}
	return r.afterMember(r.state)
}

// afterMember reads the ',' or '}' after a top-level member.
func (r *Reader) afterMember(next int) error {
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	switch c {
	case ',':
		r.pos++
		r.state = next
		return nil
	case '}':
		r.pos++
		if next != stAfterRecords {
			return r.fail(ErrNotCloudTrail, "no Records array")
		}
		r.state = stTrailer
		return nil
	}
	return r.fail(ErrSyntax, fmt.Sprintf("expected ',' or '}' after an object member, found %q", c))
}

// element reads one element of the Records array. ok is false when the
// element was skipped (oversized) or the array ended.
func (r *Reader) element() (rec []byte, ok bool, err error) {
	c, err := r.nonSpace()
	if err != nil {
		return nil, false, r.truncated(err)
	}
	if c != '{' {
		if c == ']' || c == ',' {
			return nil, false, r.fail(ErrSyntax, fmt.Sprintf("unexpected %q in Records", c))
		}
		if err := r.value(3); err != nil {
			return nil, false, err
		}
		return nil, false, r.fail(ErrNotCloudTrail, "a Records element is not an object")
	}
	start := r.BytesRead()
	r.mark = r.pos
	r.pos++
	if err := r.object(3); err != nil {
		r.mark = -1
		return nil, false, err
	}
	recLen := r.sealRecord()
	// rec is taken only after the separator is read: reading may move the buffer.
	c, err = r.nonSpace()
	if err != nil {
		return r.finishRecord(recLen, r.truncated(err))
	}
	switch c {
	case ',':
		r.pos++
	case ']':
		r.pos++
		if err := r.afterMember(stAfterRecords); err != nil {
			return r.finishRecord(recLen, err)
		}
	default:
		return r.finishRecord(recLen, r.fail(ErrSyntax, fmt.Sprintf("expected ',' or ']' after a record, found %q", c)))
	}
	if r.oversize {
		r.oversize = false
		r.mark, r.sealed = -1, false
		r.skipped(start)
		return nil, false, nil
	}
	return r.finishRecord(recLen, nil)
}

// sealRecord marks the record that ends at pos as complete, so that fill
// keeps it while what follows it is read, and returns its length.
func (r *Reader) sealRecord() int {
	if !r.oversize && r.pos-r.mark > r.opts.MaxRecordBytes {
		r.oversize = true
	}
	if r.oversize {
		r.mark = -1
		return 0
	}
	r.sealed = true
	return r.pos - r.mark
}

// finishRecord returns the sealed record; an error after a complete record
// is kept for the next call so the record still flows.
func (r *Reader) finishRecord(recLen int, err error) ([]byte, bool, error) {
	if r.mark < 0 || r.oversize {
		r.mark, r.sealed, r.oversize = -1, false, false
		return nil, false, err
	}
	rec := r.buf[r.mark : r.mark+recLen]
	r.mark, r.sealed = -1, false
	if err != nil {
		r.err = err
	}
	return rec, true, nil
}

// line reads one JSON-lines record; nil, nil at a skipped line. A line
// that is not a valid JSON object is skipped (the error is returned at the
// end instead of io.EOF), so one bad line does not hide the lines after it.
func (r *Reader) line() ([]byte, error) {
	c, err := r.nonSpace()
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.state = stDone
			return nil, io.EOF
		}
		return nil, err
	}
	start := r.BytesRead()
	if c != '{' {
		return nil, r.badLine(r.fail(ErrSyntax, fmt.Sprintf("expected a JSON object at the start of a line, found %q", c)))
	}
	r.mark = r.pos
	r.pos++
	if err := r.object(1); err != nil {
		r.mark = -1
		return nil, r.badLine(err)
	}
	recLen := r.sealRecord()
	// The rest of the line must be blank.
	for {
		if r.pos == r.w && !r.fill() {
			if err := r.readErr(); !errors.Is(err, io.EOF) {
				rec, _, _ := r.finishRecord(recLen, err)
				return rec, nil
			}
			break
		}
		c := r.buf[r.pos]
		if c == '\n' {
			break
		}
		if c != ' ' && c != '\t' && c != '\r' {
			r.mark, r.sealed, r.oversize = -1, false, false
			return nil, r.badLine(r.fail(ErrSyntax, fmt.Sprintf("unexpected %q after a record on the same line", c)))
		}
		r.pos++
	}
	if r.oversize {
		r.oversize = false
		r.skipped(start)
		return nil, nil
	}
	rec, _, _ := r.finishRecord(recLen, nil)
	return rec, nil
}

// badLine records a JSON-lines syntax error and skips to the next line; it
// returns err itself when the stream cannot go on (a read error).
func (r *Reader) badLine(err error) error {
	var fe *FormatError
	if !errors.As(err, &fe) || (fe.Kind != ErrSyntax && fe.Kind != ErrTruncated) {
		return err
	}
	if r.deferred == nil || errors.Is(r.deferred, ErrRecordTooLarge) {
		r.deferred = err
	}
	for {
		for r.pos < r.w {
			if r.buf[r.pos] == '\n' {
				r.pos++
				return nil
			}
			r.pos++
		}
		if !r.fill() {
			if e := r.readErr(); !errors.Is(e, io.EOF) {
				return e
			}
			return nil
		}
	}
}

func (r *Reader) skipped(start int64) {
	if r.deferred == nil {
		r.deferred = &FormatError{Kind: ErrRecordTooLarge, Offset: start,
			Detail: fmt.Sprintf("a record larger than %d bytes was skipped; the records around it were read", r.opts.MaxRecordBytes)}
	}
}

// key reads an object key after its opening quote and reports whether it is
// "Records" (after unescaping, as encoding/json compares it).
func (r *Reader) key() (bool, error) {
	r.mark = r.pos - 1 // keep the key, quotes included, across refills
	err := r.str()
	mark := r.mark
	r.mark = -1
	if err != nil {
		return false, err
	}
	if r.oversize || mark < 0 { // a key larger than MaxRecordBytes
		r.oversize = false
		return false, nil
	}
	k := r.buf[mark+1 : r.pos-1]
	if string(k) == "Records" {
		return true, nil
	}
	if len(k) > 64 || !containsByte(k, '\\') {
		return false, nil
	}
	var s string
	if json.Unmarshal(r.buf[mark:r.pos], &s) != nil {
		return false, nil
	}
	return s == "Records", nil
}

// value validates any JSON value at the given nesting depth of its container.
func (r *Reader) value(depth int) error {
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	switch {
	case c == '{':
		r.pos++
		return r.object(depth + 1)
	case c == '[':
		r.pos++
		return r.array(depth + 1)
	case c == '"':
		r.pos++
		return r.str()
	case c == 't':
		return r.literal("true")
	case c == 'f':
		return r.literal("false")
	case c == 'n':
		return r.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return r.number()
	}
	return r.fail(ErrSyntax, fmt.Sprintf("invalid character %q looking for a value", c))
}

// object validates an object whose '{' was consumed; depth is its own level.
func (r *Reader) object(depth int) error {
	if depth > maxNestingDepth {
		return r.fail(ErrSyntax, "exceeded max nesting depth")
	}
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	if c == '}' {
		r.pos++
		return nil
	}
	for {
		if c != '"' {
			return r.fail(ErrSyntax, fmt.Sprintf("expected an object key, found %q", c))
		}
		r.pos++
		if err := r.str(); err != nil {
			return err
		}
		// Fast path for compact JSON: a string value right after the colon.
		if r.pos+1 < r.w && r.buf[r.pos] == ':' && r.buf[r.pos+1] == '"' {
			r.pos += 2
			err = r.str()
		} else if err = r.expect(':'); err == nil {
			err = r.value(depth)
		}
		if err != nil {
			return err
		}
		// ... and the next key right after the comma.
		if r.pos+1 < r.w && r.buf[r.pos] == ',' && r.buf[r.pos+1] == '"' {
			r.pos++
			c = '"'
			continue
		}
		c, err = r.nonSpace()
		if err != nil {
			return r.truncated(err)
		}
		r.pos++
		switch c {
		case '}':
			return nil
		case ',':
			c, err = r.nonSpace()
			if err != nil {
				return r.truncated(err)
			}
		default:
			r.pos--
			return r.fail(ErrSyntax, fmt.Sprintf("expected ',' or '}' in an object, found %q", c))
		}
	}
}

// array validates an array whose '[' was consumed.
func (r *Reader) array(depth int) error {
	if depth > maxNestingDepth {
		return r.fail(ErrSyntax, "exceeded max nesting depth")
	}
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	if c == ']' {
		r.pos++
		return nil
	}
	for {
		if err := r.value(depth); err != nil {
			return err
		}
		c, err = r.nonSpace()
		if err != nil {
			return r.truncated(err)
		}
		r.pos++
		switch c {
		case ']':
			return nil
		case ',':
		default:
			r.pos--
			return r.fail(ErrSyntax, fmt.Sprintf("expected ',' or ']' in an array, found %q", c))
		}
	}
}

// strSafe marks the bytes that need no attention inside a JSON string.
var strSafe = func() (t [256]bool) {
	for i := 0x20; i < 256; i++ {
		t[i] = true
	}
	t['"'], t['\\'] = false, false
	return t
}()

// str validates a string whose opening quote was consumed, and consumes the
// closing one. Strings are most of a record's bytes, so it looks at eight
// bytes at a time for the only bytes that need attention: '"', '\\' and
// control characters.
func (r *Reader) str() error {
	for {
		buf := r.buf[r.pos:r.w]
		i := 0
		for i+8 <= len(buf) {
			x := binary.LittleEndian.Uint64(buf[i:])
			if m := specialBytes(x); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				goto found
			}
			i += 8
		}
		for i < len(buf) && strSafe[buf[i]] {
			i++
		}
	found:
		r.pos += i
		if i == len(buf) {
			if !r.fill() {
				return r.truncated(r.readErr())
			}
			continue
		}
		switch c := r.buf[r.pos]; c {
		case '"':
			r.pos++
			return nil
		case '\\':
			if err := r.escape(); err != nil {
				return err
			}
		default:
			return r.fail(ErrSyntax, fmt.Sprintf("invalid control character %q in a string", c))
		}
	}
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// specialBytes sets the high bit of each byte of x that is '"', '\\' or
// below 0x20. Only the lowest set byte is exact (borrows may mark bytes
// above it), which is all str needs. b^0x02 < 0x21 holds exactly for the
// control characters and '"', so two tests cover the three cases.
func specialBytes(x uint64) uint64 {
	q := x ^ (lsb * 0x02)
	b := x ^ (lsb * '\\')
	return ((q-lsb*0x21)&^q | (b-lsb)&^b) & msb
}

func (r *Reader) escape() error {
	r.pos++ // the backslash
	c, err := r.peek()
	if err != nil {
		return r.truncated(err)
	}
	switch c {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		r.pos++
		return nil
	case 'u':
		r.pos++
		for i := 0; i < 4; i++ {
			h, err := r.peek()
			if err != nil {
				return r.truncated(err)
			}
			if !isHex(h) {
				return r.fail(ErrSyntax, fmt.Sprintf("invalid character %q in a \\u escape", h))
			}
			r.pos++
		}
		return nil
	}
	return r.fail(ErrSyntax, fmt.Sprintf("invalid escape '\\%c' in a string", c))
}

func (r *Reader) literal(lit string) error {
	if r.pos+len(lit) <= r.w && string(r.buf[r.pos:r.pos+len(lit)]) == lit {
		r.pos += len(lit)
		return nil
	}
	for i := 0; i < len(lit); i++ {
		c, err := r.peek()
		if err != nil {
			return r.truncated(err)
		}
		if c != lit[i] {
			return r.fail(ErrSyntax, fmt.Sprintf("invalid character %q in literal %s", c, lit))
		}
		r.pos++
	}
	return nil
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (r *Reader) number() error {
	if n := numberLen(r.buf[r.pos:r.w]); n > 0 {
		r.pos += n
		return nil
	}
	return r.numberSlow()
}

// numberLen is the length of a valid number at the start of b when it is
// followed by a byte that cannot continue it, else 0 (then numberSlow
// decides, refilling as needed).
func numberLen(b []byte) int {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i++; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
	default:
		return 0
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
		if i == d {
			return 0
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		}
		if i == d {
			return 0
		}
	}
	if i == len(b) {
		return 0 // the number may go on past the buffer
	}
	switch b[i] {
	case '.', 'e', 'E', '+', '-':
		return 0 // invalid here; let numberSlow report it
	}
	if b[i] >= '0' && b[i] <= '9' {
		return 0 // e.g. "01"
	}
	return i
}

func (r *Reader) numberSlow() error {
	c, _ := r.peek()
	if c == '-' {
		r.pos++
	}
	c, err := r.peek()
	if err != nil {
		return r.truncated(err)
	}
	switch {
	case c == '0':
		r.pos++
	case c >= '1' && c <= '9':
		if err := r.digits(); err != nil {
			return err
		}
	default:
		return r.fail(ErrSyntax, fmt.Sprintf("invalid character %q in a number", c))
	}
	c, err = r.peek()
	if err != nil {
		return r.endOfNumber(err)
	}
	if c == '.' {
		r.pos++
		if err := r.needDigit(); err != nil {
			return err
		}
		if err := r.digits(); err != nil {
			return err
		}
		c, err = r.peek()
		if err != nil {
			return r.endOfNumber(err)
		}
	}
	if c == 'e' || c == 'E' {
		r.pos++
		c, err = r.peek()
		if err != nil {
			return r.truncated(err)
		}
		if c == '+' || c == '-' {
			r.pos++
		}
		if err := r.needDigit(); err != nil {
			return err
		}
		return r.digits()
	}
	return nil
}

// endOfNumber: a number may end the stream only if the stream is otherwise
// complete; the caller finds that out, so plain EOF is fine here.
func (r *Reader) endOfNumber(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func (r *Reader) needDigit() error {
	c, err := r.peek()
	if err != nil {
		return r.truncated(err)
	}
	if c < '0' || c > '9' {
		return r.fail(ErrSyntax, fmt.Sprintf("invalid character %q in a number", c))
	}
	return nil
}

func (r *Reader) digits() error {
	for {
		c, err := r.peek()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if c < '0' || c > '9' {
			return nil
		}
		r.pos++
	}
}

func (r *Reader) expect(want byte) error {
	c, err := r.nonSpace()
	if err != nil {
		return r.truncated(err)
	}
	if c != want {
		return r.fail(ErrSyntax, fmt.Sprintf("expected %q, found %q", want, c))
	}
	r.pos++
	return nil
}

// nonSpace skips JSON whitespace and returns the next byte without consuming it.
func (r *Reader) nonSpace() (byte, error) {
	for {
		for r.pos < r.w {
			c := r.buf[r.pos]
			if c != ' ' && c != '\n' && c != '\r' && c != '\t' {
				return c, nil
			}
			r.pos++
		}
		if !r.fill() {
			return 0, r.readErr()
		}
	}
}

// peek returns the next byte without consuming it.
func (r *Reader) peek() (byte, error) {
	if r.pos == r.w && !r.fill() {
		return 0, r.readErr()
	}
	return r.buf[r.pos], nil
}

func (r *Reader) readErr() error {
	if r.rerr != nil {
		return r.rerr
	}
	return io.EOF
}

// fill reads more data into buf, keeping the record being read (from mark)
// or else only what is unread. It reports false at the end of the stream or
// on a read error (see readErr).
func (r *Reader) fill() bool {
	if r.eof {
		return false
	}
	keep := r.pos
	if r.mark >= 0 {
		if !r.sealed && r.pos-r.mark > r.opts.MaxRecordBytes {
			r.oversize = true // stop keeping it; it is validated and skipped
			r.mark = -1
		} else {
			keep = r.mark
		}
	}
	if keep > 0 {
		n := copy(r.buf, r.buf[keep:r.w])
		r.base += int64(keep)
		r.pos -= keep
		if r.mark >= 0 {
			r.mark -= keep
		}
		r.w = n
	}
	if len(r.buf)-r.w < readChunk/2 {
		nb := make([]byte, max(2*len(r.buf), r.w+readChunk))
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for {
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		if err != nil {
			r.eof = true
			r.rerr = r.classify(err)
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
}

// classify turns a read error into what callers should see: io.EOF at a
// clean end, the caller's own stream error as it is (transient), a size
// limit, or a corrupt-gzip FormatError.
func (r *Reader) classify(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if errors.Is(err, errLimit) {
		return &FormatError{Kind: ErrObjectTooLarge, Offset: r.base + int64(r.w),
			Detail: fmt.Sprintf("more than %d bytes after decompression", r.opts.MaxDecompressedBytes)}
	}
	if r.raw.err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if r.gzip {
		return &FormatError{Kind: ErrCorrupt, Offset: r.base + int64(r.w), Detail: err.Error()}
	}
	return fmt.Errorf("read: %w", err)
}

// truncated maps the end of data in the middle of a value to ErrTruncated.
func (r *Reader) truncated(err error) error {
	if errors.Is(err, io.EOF) && !isFormatError(err) {
		return r.fail(ErrTruncated, "the data ends in the middle of a JSON value")
	}
	return err
}

func (r *Reader) fail(kind error, detail string) error {
	return &FormatError{Kind: kind, Offset: r.base + int64(r.pos), Detail: detail}
}

func isFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// errTrackingReader remembers the caller's stream error, so that a network
// failure is not mistaken for a corrupt gzip stream.
type errTrackingReader struct {
	r   io.Reader
	err error
}

func (e *errTrackingReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
	}
	return n, err
}

var errLimit = errors.New("decompressed size limit")

var errClosed = errors.New("cloudtrail: read after Close")

type limitReader struct {
	r    io.Reader
	left int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Allow a read that only confirms the end of the stream.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n == 0 && err != nil {
			return 0, err
		}
		return 0, errLimit
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

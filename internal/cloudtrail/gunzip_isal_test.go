//go:build isal && cgo

package cloudtrail

import (
	"bytes"
	stdgzip "compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"rootwatch/internal/gen"
	"rootwatch/internal/testutil"
)

func init() {
	// libdeflateGunzip is set by an init that may run after this one.
	moreGunzipBenchImpls = func() []gunzipBenchImpl {
		l := []gunzipBenchImpl{{name: "isa-l", open: newISALGunzip}}
		if libdeflateGunzip != nil {
			l = append(l, gunzipBenchImpl{name: "libdeflate-whole-buffer", whole: libdeflateGunzip})
		}
		return l
	}
}

// isalDecode gunzips src with ISA-L, reading at most readSize bytes a call.
func isalDecode(t testing.TB, src io.Reader, readSize int) ([]byte, error) {
	t.Helper()
	r, err := newISALGunzip(src)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []byte
	buf := make([]byte, readSize)
	for {
		n, err := r.Read(buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if n == 0 {
			t.Fatal("Read returned 0, nil")
		}
	}
}

// refDecode is the standard library's answer for the same bytes (stricter
// than klauspost/compress v1.18 on a truncated second-member header).
func refDecode(src []byte) ([]byte, error) {
	r, err := stdgzip.NewReader(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func gzipLevel(t testing.TB, data []byte, level int, hdr stdgzip.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := stdgzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Header = hdr
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkRoundTrip decodes gz with several read sizes and input chunkings and
// wants exactly want each time.
func checkRoundTrip(t *testing.T, name string, gz, want []byte) {
	t.Helper()
	sources := map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(gz) },
		"byte":     func() io.Reader { return iotest.OneByteReader(bytes.NewReader(gz)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(gz)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(gz)) },
	}
	for sname, src := range sources {
		for _, rs := range []int{1, 7, 4 << 10, 1 << 20} {
			if len(want) > 256<<10 && (sname == "byte" || sname == "data+EOF" || rs < 4<<10) {
				continue // too slow to be worth it; the small inputs cover these paths
			}
			got, err := isalDecode(t, src(), rs)
			if err != nil {
				t.Fatalf("%s (%s source, reads of %d): %v", name, sname, rs, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s (%s source, reads of %d): %d bytes differ from the %d expected", name, sname, rs, len(got), len(want))
			}
		}
	}
}

func TestISALIsTheImplementation(t *testing.T) {
	if GunzipImplementation != "isa-l" {
		t.Fatalf("GunzipImplementation = %q", GunzipImplementation)
	}
	r, err := newGunzip(bytes.NewReader(gzipLevel(t, []byte("x"), 6, stdgzip.Header{})))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*isalGunzip); !ok {
		t.Fatalf("newGunzip made a %T", r)
	}
}

func TestISALRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 100, 32<<10 + 3, 300 << 10, 1<<20 + 17} {
		random := make([]byte, size)
		for i := range random {
			random[i] = byte(rng.Uint32())
		}
		// Compressible too: words from a small alphabet with repeats.
		var sb strings.Builder
		for sb.Len() < size {
			sb.WriteString([]string{"eventName", "\"Records\":[", "arn:aws:iam::", "0123", "\n"}[rng.IntN(5)])
		}
		text := []byte(sb.String()[:size])
		for _, level := range []int{stdgzip.NoCompression, stdgzip.HuffmanOnly, 1, 6, 9} {
			checkRoundTrip(t, "random", gzipLevel(t, random, level, stdgzip.Header{}), random)
			checkRoundTrip(t, "text", gzipLevel(t, text, level, stdgzip.Header{}), text)
		}
	}
}

func TestISALRoundTripCloudTrail(t *testing.T) {
	var files [][]byte
	if _, err := gen.Generate(gen.Config{Seed: 7, Files: 4}, func(key string, gz []byte) error {
		files = append(files, append([]byte(nil), gz...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, real := testutil.RealCloudTrailFiles(t)
	if len(real) > 4 {
		real = real[:4]
	}
	for _, f := range real {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, gzipLevel(t, data, 6, stdgzip.Header{Name: filepath.Base(f)}))
	}
	var all []byte
	for i, gz := range files {
		want, err := refDecode(gz)
		if err != nil {
			t.Fatalf("file %d: compress/gzip: %v", i, err)
		}
		checkRoundTrip(t, "cloudtrail", gz, want)
		all = append(all, gz...)
	}
	want, err := refDecode(all)
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, "all files as one multi-member stream", all, want)
}

// withHCRC is a gzip member whose header carries FEXTRA, FNAME, FCOMMENT and
// FHCRC (the standard library never writes FHCRC).
func withHCRC(t *testing.T, data []byte) []byte {
	body := gzipLevel(t, data, 6, stdgzip.Header{})[10:] // deflate data + trailer
	hdr := []byte{0x1f, 0x8b, 8, 0x02 | 0x04 | 0x08 | 0x10, 0, 0, 0, 0, 0, 255}
	hdr = append(hdr, 3, 0, 'a', 'b', 'c')
	hdr = append(hdr, "name.json\x00"...)
	hdr = append(hdr, "a comment\x00"...)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(crc32.ChecksumIEEE(hdr)))
	return append(hdr, body...)
}

func TestISALMultiMember(t *testing.T) {
	parts := [][]byte{[]byte(`{"Records":[{"a":1},`), nil, []byte(strings.Repeat(`{"b":2},`, 5000)), []byte(`{"c":3}]}`)}
	var gz, want []byte
	for i, p := range parts {
		hdr := stdgzip.Header{}
		if i == 2 {
			hdr = stdgzip.Header{Name: "x.json", Comment: "second", Extra: []byte("extra")}
		}
		gz = append(gz, gzipLevel(t, p, 6, hdr)...)
		want = append(want, p...)
	}
	gz = append(gz, withHCRC(t, []byte("tail"))...)
	want = append(want, "tail"...)
	if ref, err := refDecode(gz); err != nil || !bytes.Equal(ref, want) {
		t.Fatalf("compress/gzip disagrees with the test: %v", err)
	}
	checkRoundTrip(t, "multi-member", gz, want)

	// Through the Reader, as the scanner sees it.
	r, err := NewReader(bytes.NewReader(gz[:len(gz)-len(withHCRC(t, []byte("tail")))]), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for {
		_, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 5002 {
		t.Fatalf("got %d records, want 5002", n)
	}

	t.Run("bad header CRC", func(t *testing.T) {
		bad := withHCRC(t, []byte("tail"))
		bad[bytes.Index(bad, []byte("a comment"))+10] ^= 1
		if _, err := isalDecode(t, bytes.NewReader(bad), 4096); err == nil {
			t.Fatal("a wrong FHCRC was accepted")
		}
	})
}

func TestISALTruncated(t *testing.T) {
	one := gzipLevel(t, []byte(strings.Repeat(`{"eventName":"GetObject"},`, 200)), 6, stdgzip.Header{Name: "f.json"})
	for cut := 0; cut < len(one); cut++ {
		for _, rs := range []int{3, 1 << 16} {
			out, err := isalDecode(t, bytes.NewReader(one[:cut]), rs)
			if err == nil {
				t.Fatalf("cut at %d of %d: no error, %d bytes", cut, len(one), len(out))
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("cut at %d of %d: %v, want io.ErrUnexpectedEOF", cut, len(one), err)
			}
		}
	}
	// Two members: a cut is an error except exactly between them, where what
	// is left is a whole stream (as compress/gzip and zcat read it).
	two := append(append([]byte(nil), one...), gzipLevel(t, []byte("second"), 6, stdgzip.Header{})...)
	for cut := len(one) - 3; cut < len(two); cut++ {
		want, wantErr := refDecode(two[:cut])
		got, err := isalDecode(t, iotest.OneByteReader(bytes.NewReader(two[:cut])), 1<<16)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("cut at %d of %d: isa-l %v, compress/gzip %v", cut, len(two), err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("cut at %d: different data", cut)
		}
	}
}

func TestISALCorrupt(t *testing.T) {
	data := []byte(strings.Repeat(`{"eventName":"ListBuckets","userIdentity":{"type":"Root"}},`, 300))
	gz := gzipLevel(t, data, 6, stdgzip.Header{})
	t.Run("bit flips", func(t *testing.T) {
		// Any single flipped bit gives an error or, in bits no checksum
		// covers (MTIME, XFL, OS, the padding after the last deflate block),
		// the exact original data: never other data, never less strict
		// than compress/gzip.
		for i := range gz {
			for bit := range 8 {
				bad := append([]byte(nil), gz...)
				bad[i] ^= 1 << bit
				got, err := isalDecode(t, bytes.NewReader(bad), 1<<16)
				if err == nil && !bytes.Equal(got, data) {
					t.Fatalf("flip at byte %d bit %d: %d wrong bytes and no error", i, bit, len(got))
				}
				if _, refErr := refDecode(bad); err == nil && refErr != nil {
					t.Fatalf("flip at byte %d bit %d: compress/gzip sees %v, isa-l no error", i, bit, refErr)
				}
				if err == nil && i >= len(gz)-8 {
					t.Fatalf("flip at byte %d bit %d (trailer) not detected", i, bit)
				}
			}
		}
	})
	for _, tc := range []struct {
		name string
		at   int // offset from the end
	}{{"bad CRC32", 8}, {"bad ISIZE", 4}} {
		t.Run(tc.name, func(t *testing.T) {
			bad := append([]byte(nil), gz...)
			bad[len(bad)-tc.at] ^= 0x40
			got, err := isalDecode(t, bytes.NewReader(bad), 1<<16)
			if !errors.Is(err, stdgzip.ErrChecksum) {
				t.Fatalf("got %v, want ErrChecksum", err)
			}
			if len(got) > len(data) {
				t.Fatalf("%d bytes out of %d", len(got), len(data))
			}
		})
	}
	t.Run("not gzip", func(t *testing.T) {
		if _, err := newISALGunzip(bytes.NewReader([]byte(`{"Records":[]}`))); err == nil {
			t.Fatal("JSON accepted as gzip")
		}
		if _, err := newISALGunzip(bytes.NewReader([]byte{0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 0})); err == nil {
			t.Fatal("compression method 7 accepted")
		}
	})
	t.Run("trailing data", func(t *testing.T) {
		for _, tail := range [][]byte{[]byte("garbage"), make([]byte, 512), {0x1f}} {
			bad := append(append([]byte(nil), gz...), tail...)
			_, wantErr := refDecode(bad)
			got, err := isalDecode(t, bytes.NewReader(bad), 1<<16)
			if err == nil || wantErr == nil {
				t.Fatalf("tail %q: isa-l %v, compress/gzip %v; want both to fail", tail[:1], err, wantErr)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("tail %q: the valid member before it was not all delivered", tail[:1])
			}
		}
	})
}

func TestISALSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	gz := gzipLevel(t, []byte(strings.Repeat("CloudTrail ", 20000)), 6, stdgzip.Header{Name: "a-long-enough-name.json"})
	for _, at := range []int{0, 5, 12, 40, len(gz) / 2, len(gz) - 3, len(gz)} {
		src := io.MultiReader(bytes.NewReader(gz[:at]), iotest.ErrReader(boom))
		r, err := newISALGunzip(src)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
			r.Close()
		}
		if !errors.Is(err, boom) {
			t.Fatalf("error after %d of %d bytes: got %v, want the source's error", at, len(gz), err)
		}
	}
}

func TestISALClose(t *testing.T) {
	r, err := newISALGunzip(bytes.NewReader(gzipLevel(t, []byte("abc"), 6, stdgzip.Header{})))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Fatal("Read after Close succeeded")
	}
}

// FuzzISALGunzip holds ISA-L to compress/gzip on any input: the same
// verdict (error or not) and, when both succeed, the same bytes; what ISA-L
// returned before an error is never more than the input held.
func FuzzISALGunzip(f *testing.F) {
	f.Add(gzipLevel(f, []byte(`{"Records":[{"a":1}]}`), 6, stdgzip.Header{}))
	f.Add(gzipLevel(f, []byte(strings.Repeat("abcabcabd", 100)), 1, stdgzip.Header{Name: "n", Comment: "c", Extra: []byte{1, 2}}))
	f.Add(gzipLevel(f, []byte("stored"), stdgzip.NoCompression, stdgzip.Header{}))
	f.Add(append(gzipLevel(f, []byte("one"), 9, stdgzip.Header{}), gzipLevel(f, nil, 6, stdgzip.Header{})...))
	f.Add([]byte("\x1f\x8b\bA000000\xca\xcfK\x05$\x00\x00\xff\xff\xf1\x86lz\x03\x00\x00\x00"))
	// klauspost/compress v1.18 takes this (a second member cut in its
	// header) for a clean end; compress/gzip and ISA-L report it.
	f.Add([]byte("\x1f\x8b\b\x00000000\xca\xcfK\x05$\x00\x00\xff\xff\xf1\x86lz\x03\x00\x00\x00\x1f\x8b\b0000000"))
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := refDecode(in)
		got, err := isalDecode(t, bytes.NewReader(in), 1000)
		if reservedFlags(in) {
			// RFC 1952 and zlib reject reserved FLG bits; compress/gzip does not.
			if err == nil {
				t.Fatal("reserved header flags accepted")
			}
			return
		}
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("isa-l: %v; compress/gzip: %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("both succeed with different data: %q vs %q", got, want)
		}
	})
}

// reservedFlags reports whether a member header in in, as compress/gzip
// walks the members, has a reserved FLG bit set.
func reservedFlags(in []byte) bool {
	br := bytes.NewReader(in)
	off := 0 // where the current member starts
	z, err := stdgzip.NewReader(br)
	for {
		if off+3 < len(in) && in[off+3]&0xe0 != 0 {
			return true
		}
		if err != nil {
			return false
		}
		z.Multistream(false)
		if _, err := io.Copy(io.Discard, z); err != nil {
			return false
		}
		off = len(in) - br.Len()
		err = z.Reset(br)
	}
}

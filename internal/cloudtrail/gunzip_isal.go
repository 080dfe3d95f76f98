//go:build isal && cgo

package cloudtrail

/*
#cgo LDFLAGS: -lisal
#include <stdlib.h>
#include <string.h>
#include <isa-l/igzip_lib.h>

// rw_isal is one stream's decoder: the ISA-L state, the gzip header being
// parsed, and the fixed input buffer. It lives in C memory, so the state may
// keep next_in across calls without breaking the cgo pointer rules.
typedef struct {
	struct inflate_state st;
	struct isal_gzip_header hdr;
	uint32_t produced; // bytes the last rw_isal_inflate wrote
	uint8_t in[];
} rw_isal;

static rw_isal *rw_isal_new(size_t insize) {
	rw_isal *z = malloc(sizeof(rw_isal) + insize);
	if (z == NULL)
		return NULL;
	isal_inflate_init(&z->st);
	z->st.crc_flag = ISAL_GZIP; // parse the header, verify CRC32 and ISIZE
	isal_gzip_header_init(&z->hdr);
	return z;
}

// rw_isal_fed makes in[0:n] the pending input.
static void rw_isal_fed(rw_isal *z, uint32_t n) {
	z->st.next_in = z->in;
	z->st.avail_in = n;
}

// rw_isal_member readies z for the next gzip member; the unread input
// (next_in, avail_in) and crc_flag survive isal_inflate_reset.
static void rw_isal_member(rw_isal *z) {
	isal_inflate_reset(&z->st);
	isal_gzip_header_init(&z->hdr);
}

// rw_isal_header goes on parsing the member header: 0 when it is complete,
// ISAL_END_INPUT when it needs more input, < 0 when it is invalid.
// Reserved FLG bits are an error (RFC 1952 2.3.1.2), as in compress/gzip;
// ISA-L itself ignores them.
static int rw_isal_header(rw_isal *z) {
	int ret = isal_read_gzip_header(&z->st, &z->hdr);
	if (ret == 0 && (z->hdr.flags & 0xe0) != 0)
		return ISAL_INVALID_WRAPPER;
	return ret;
}

// rw_isal_inflate decodes into out (Go memory, valid only during this call:
// next_out is cleared before returning so C keeps no Go pointer).
static int rw_isal_inflate(rw_isal *z, uint8_t *out, uint32_t outlen) {
	z->st.next_out = out;
	z->st.avail_out = outlen;
	int ret = isal_inflate(&z->st);
	z->produced = outlen - z->st.avail_out;
	z->st.next_out = NULL;
	z->st.avail_out = 0;
	return ret;
}

static uint8_t *rw_isal_in(rw_isal *z) { return z->in; }
static int rw_isal_finished(rw_isal *z) { return z->st.block_state == ISAL_BLOCK_FINISH; }
static uint32_t rw_isal_avail(rw_isal *z) { return z->st.avail_in; }
static uint32_t rw_isal_progress(rw_isal *z) { return z->st.block_state + (z->st.tmp_in_size << 8); }
*/
import "C"

import (
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"unsafe"
)

// isalInputSize is the fixed input buffer per stream; with ISA-L's own state
// (~85 KiB, the 32 KiB history included) a stream costs ~150 KiB of C memory
// whatever its size.
const isalInputSize = 64 << 10

// libdeflateGunzip is set by gunzip_libdeflate.go (tag libdeflate): a
// whole-buffer gunzip kept as a benchmark reference, never used to read.
var libdeflateGunzip func(dst, src []byte) (int, error)

func init() {
	newGunzip = newISALGunzip
	GunzipImplementation = "isa-l"
}

// isalGunzip is a streaming, multi-member gunzip over Intel ISA-L's igzip
// inflate: each member's header is parsed, its CRC32 and ISIZE checked, and
// members follow each other as `zcat` reads them. Data after a member that
// is not another gzip member is an error, as with compress/gzip.
type isalGunzip struct {
	src     io.Reader
	z       *C.rw_isal
	in      []byte // z.in as a Go slice (C memory)
	srcEOF  bool
	srcErr  error // the source's own error, returned once its input is used
	err     error // sticky
	cleanup runtime.Cleanup
}

func newISALGunzip(r io.Reader) (io.ReadCloser, error) {
	z := C.rw_isal_new(isalInputSize)
	if z == nil {
		return nil, errors.New("isa-l: out of memory")
	}
	g := &isalGunzip{src: r, z: z}
	g.in = unsafe.Slice((*byte)(unsafe.Pointer(C.rw_isal_in(z))), isalInputSize)
	g.cleanup = runtime.AddCleanup(g, func(z *C.rw_isal) { C.free(unsafe.Pointer(z)) }, z)
	// Parse the first header now, so a stream that is not gzip fails here
	// as it does with compress/gzip.
	if err := g.header(); err != nil {
		g.Close()
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return g, nil
}

// fill reads more input once ISA-L has taken all it had. It reports false
// when the source has nothing more (end or error).
func (g *isalGunzip) fill() bool {
	for !g.srcEOF && g.srcErr == nil {
		n, err := g.src.Read(g.in)
		if err != nil {
			if errors.Is(err, io.EOF) {
				g.srcEOF = true
			} else {
				g.srcErr = err
			}
		}
		if n > 0 {
			C.rw_isal_fed(g.z, C.uint32_t(n))
			return true
		}
	}
	return false
}

// endOfInput is the error for a stream that stops where more was needed.
func (g *isalGunzip) endOfInput() error {
	if g.srcErr != nil {
		return g.srcErr
	}
	return io.ErrUnexpectedEOF
}

// header parses the current member's header, reading input as needed.
func (g *isalGunzip) header() error {
	defer runtime.KeepAlive(g) // g's cleanup must not free z during a C call
	for {
		switch ret := C.rw_isal_header(g.z); {
		case ret == 0:
			return nil
		case ret < 0:
			return fmt.Errorf("isa-l: %w (code %d)", stdgzip.ErrHeader, int(ret))
		}
		// ISAL_END_INPUT: ISA-L buffered what it had and wants more.
		if !g.fill() {
			return g.endOfInput()
		}
	}
}

// Read decodes into p directly (ISA-L keeps no pointer to it after a call).
func (g *isalGunzip) Read(p []byte) (int, error) {
	defer runtime.KeepAlive(g) // g's cleanup must not free z during a C call
	if g.err != nil {
		return 0, g.err
	}
	if g.z == nil {
		return 0, errors.New("isa-l: read after close")
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(p) > 1<<30 {
		p = p[:1<<30]
	}
	for {
		if C.rw_isal_finished(g.z) != 0 {
			// A member ended: another may follow, or the stream ends.
			if C.rw_isal_avail(g.z) == 0 && !g.fill() {
				if g.srcErr != nil {
					g.err = g.srcErr
				} else {
					g.err = io.EOF
				}
				return 0, g.err
			}
			C.rw_isal_member(g.z)
			if err := g.header(); err != nil {
				g.err = err
				return 0, err
			}
		}
		before, availBefore := C.rw_isal_progress(g.z), C.rw_isal_avail(g.z)
		ret := C.rw_isal_inflate(g.z, (*C.uint8_t)(unsafe.Pointer(&p[0])), C.uint32_t(len(p)))
		n := int(g.z.produced)
		if ret < 0 {
			if ret == C.ISAL_INCORRECT_CHECKSUM {
				g.err = fmt.Errorf("isa-l: %w (CRC32 or size mismatch)", stdgzip.ErrChecksum)
			} else {
				g.err = fmt.Errorf("isa-l: invalid deflate data (code %d)", int(ret))
			}
			if n == 0 {
				return 0, g.err
			}
			return n, nil // the error comes on the next call
		}
		if n > 0 {
			return n, nil
		}
		if C.rw_isal_finished(g.z) != 0 {
			continue
		}
		progressed := C.rw_isal_progress(g.z) != before || C.rw_isal_avail(g.z) != availBefore
		if C.rw_isal_avail(g.z) == 0 {
			if !g.fill() {
				if progressed {
					continue // one more call may flush or check the trailer
				}
				g.err = g.endOfInput()
				return 0, g.err
			}
			continue
		}
		if !progressed {
			g.err = errors.New("isa-l: decoder made no progress")
			return 0, g.err
		}
	}
}

// Close frees the C memory; it does not close the source.
func (g *isalGunzip) Close() error {
	if g.z != nil {
		g.cleanup.Stop()
		C.free(unsafe.Pointer(g.z))
		g.z, g.in = nil, nil
	}
	return nil
}

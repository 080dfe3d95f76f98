//go:build isal && libdeflate && cgo

package cloudtrail

/*
#cgo LDFLAGS: -ldeflate
#include <libdeflate.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// libdeflate is a benchmark reference only (see gunzip_bench_test.go): its
// API decodes one whole buffer into another, so the compressed object and
// all of its output must be in memory at once, which the streaming reader
// never allows. It is not wired into newGunzip.
func init() {
	libdeflateGunzip = func(dst, src []byte) (int, error) {
		d := C.libdeflate_alloc_decompressor()
		if d == nil {
			return 0, fmt.Errorf("libdeflate: out of memory")
		}
		defer C.libdeflate_free_decompressor(d)
		var in, out unsafe.Pointer
		if len(src) > 0 {
			in = unsafe.Pointer(&src[0])
		}
		if len(dst) > 0 {
			out = unsafe.Pointer(&dst[0])
		}
		var n C.size_t
		if r := C.libdeflate_gzip_decompress(d, in, C.size_t(len(src)), out, C.size_t(len(dst)), &n); r != C.LIBDEFLATE_SUCCESS {
			return 0, fmt.Errorf("libdeflate: result %d", int(r))
		}
		return int(n), nil
	}
}

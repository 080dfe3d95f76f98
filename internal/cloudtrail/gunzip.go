package cloudtrail

import (
	"io"

	"github.com/klauspost/compress/gzip"
)

// newGunzip opens a gzip stream (multi-member, as `zcat` reads it). The
// default is klauspost/compress, pure Go and faster than the standard
// library; a cgo build tag may replace it (see gunzip_*.go).
var newGunzip = func(r io.Reader) (io.ReadCloser, error) {
	return gzip.NewReader(r)
}

// GunzipImplementation names the gzip decoder this binary was built with.
var GunzipImplementation = "klauspost/compress"

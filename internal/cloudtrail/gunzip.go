package cloudtrail

import (
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// newGunzip opens a gzip stream (multi-member, as `zcat` reads it). The
// default is klauspost/compress, pure Go and faster than the standard
// library; a cgo build tag may replace it (see gunzip_*.go).
var newGunzip = func(r io.Reader) (io.ReadCloser, error) {
	z, ok := gzPool.Get().(*gzip.Reader)
	if !ok {
		z = new(gzip.Reader)
	}
	if err := z.Reset(r); err != nil {
		gzPool.Put(z)
		return nil, err
	}
	return pooledGzip{z}, nil
}

// gzPool keeps gzip readers (and their 32 KiB windows) between files.
var gzPool sync.Pool

// pooledGzip gives its reader back to gzPool on Close.
type pooledGzip struct{ *gzip.Reader }

func (p pooledGzip) Close() error {
	err := p.Reader.Close()
	gzPool.Put(p.Reader)
	return err
}

// GunzipImplementation names the gzip decoder this binary was built with.
var GunzipImplementation = "klauspost/compress"

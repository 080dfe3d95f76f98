package s3test

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// indexed is a gofakes3 backend with a sorted index of each bucket's keys,
// so that a LIST costs O(log n + its page) as in S3. gofakes3's in-memory
// backend compares (and splits) every key of the bucket on every LIST,
// about 4 ms of CPU per request for 3,000 objects: on a shared machine the
// test server, not the code under test, became the limit of a benchmark
// that lists thousands of folders. The listing follows S3's rules: keys
// after the marker (StartAfter, or the continuation token) that start with
// the prefix, those with the delimiter after the prefix rolled up into one
// common prefix each (counted once against MaxKeys).
type indexed struct {
	gofakes3.Backend
	mu   sync.RWMutex
	keys map[string][]string // bucket -> sorted keys
}

func newIndexed(b gofakes3.Backend) *indexed {
	return &indexed{Backend: b, keys: map[string][]string{}}
}

func (b *indexed) add(bucket, key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ks := b.keys[bucket]
	i := sort.SearchStrings(ks, key)
	if i < len(ks) && ks[i] == key {
		return
	}
	ks = append(ks, "")
	copy(ks[i+1:], ks[i:])
	ks[i] = key
	b.keys[bucket] = ks
}

func (b *indexed) remove(bucket string, keys ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ks := b.keys[bucket]
	for _, key := range keys {
		if i := sort.SearchStrings(ks, key); i < len(ks) && ks[i] == key {
			ks = append(ks[:i], ks[i+1:]...)
		}
	}
	b.keys[bucket] = ks
}

func (b *indexed) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, cond *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	r, err := b.Backend.PutObject(bucket, key, meta, input, size, cond)
	if err == nil {
		b.add(bucket, key)
	}
	return r, err
}

func (b *indexed) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, meta map[string]string) (gofakes3.CopyObjectResult, error) {
	r, err := b.Backend.CopyObject(srcBucket, srcKey, dstBucket, dstKey, meta)
	if err == nil {
		b.add(dstBucket, dstKey)
	}
	return r, err
}

func (b *indexed) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	b.remove(bucket, key)
	return b.Backend.DeleteObject(bucket, key)
}

func (b *indexed) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	b.remove(bucket, keys...)
	return b.Backend.DeleteMulti(bucket, keys...)
}

func (b *indexed) DeleteBucket(bucket string) error {
	return b.forget(bucket, b.Backend.DeleteBucket(bucket))
}

func (b *indexed) ForceDeleteBucket(bucket string) error {
	return b.forget(bucket, b.Backend.ForceDeleteBucket(bucket))
}

// forget drops bucket's index once the backend deleted it (err nil).
func (b *indexed) forget(bucket string, err error) error {
	if err == nil {
		b.mu.Lock()
		delete(b.keys, bucket)
		b.mu.Unlock()
	}
	return err
}

func (b *indexed) ListBucket(bucket string, prefix *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if ok, err := b.Backend.BucketExists(bucket); err != nil || !ok {
		if err == nil {
			err = gofakes3.BucketNotFound(bucket)
		}
		return nil, err
	}
	var p, delim string
	if prefix != nil {
		if prefix.HasPrefix {
			p = prefix.Prefix
		}
		if prefix.HasDelimiter {
			delim = prefix.Delimiter
		}
	}
	b.mu.RLock()
	ks := b.keys[bucket]
	i := sort.SearchStrings(ks, p)
	if page.HasMarker && page.Marker >= p {
		i = sort.Search(len(ks), func(j int) bool { return ks[j] > page.Marker })
	}
	var matched, common []string // keys and common prefixes, in order
	var n int64
	last := ""
	for i < len(ks) && strings.HasPrefix(ks[i], p) {
		if page.MaxKeys > 0 && n >= page.MaxKeys {
			break
		}
		k := ks[i]
		if j := strings.Index(k[len(p):], delim); delim != "" && j >= 0 {
			cp := k[:len(p)+j+len(delim)]
			common = append(common, cp)
			// Skip the rest of the common prefix's keys.
			end := i + sort.Search(len(ks)-i, func(x int) bool { return !strings.HasPrefix(ks[i+x], cp) })
			last, i = ks[end-1], end
		} else {
			matched = append(matched, k)
			last, i = k, i+1
		}
		n++
	}
	truncated := i < len(ks) && strings.HasPrefix(ks[i], p)
	b.mu.RUnlock()

	out := gofakes3.NewObjectList()
	for _, cp := range common {
		out.AddPrefix(cp)
	}
	for _, k := range matched {
		obj, err := b.Backend.HeadObject(bucket, k)
		if err != nil {
			continue // deleted meanwhile
		}
		mod, err := http.ParseTime(obj.Metadata["Last-Modified"])
		if err != nil {
			mod = time.Now()
		}
		out.Add(&gofakes3.Content{Key: k, LastModified: gofakes3.NewContentTime(mod), ETag: gofakes3.FormatETag(obj.Hash), Size: obj.Size})
	}
	if truncated {
		out.IsTruncated, out.NextMarker = true, last
	}
	return out, nil
}

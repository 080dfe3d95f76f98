package s3test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The indexed listing answers as S3 does: prefix, delimiter (common
// prefixes counted once), StartAfter, and pages that join up without a
// gap or a repeat; deleted keys are gone.
func TestIndexedListing(t *testing.T) {
	s := Start(t, nil)
	s.Bucket(t, "bkt")
	keys := []string{"a/1", "a/2", "a/b/1", "a/b/2", "a/c/1", "a/d", "ab", "b/1", "c"}
	for _, k := range keys {
		s.Put(t, "bkt", k, []byte(k))
	}
	ctx := context.Background()
	list := func(prefix, delim, startAfter string, maxKeys int32) (objs, cps []string) {
		t.Helper()
		in := &s3.ListObjectsV2Input{Bucket: aws.String("bkt"), Prefix: aws.String(prefix)}
		if delim != "" {
			in.Delimiter = aws.String(delim)
		}
		if startAfter != "" {
			in.StartAfter = aws.String(startAfter)
		}
		if maxKeys > 0 {
			in.MaxKeys = aws.Int32(maxKeys)
		}
		for {
			out, err := s.Client.ListObjectsV2(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out.Contents {
				objs = append(objs, aws.ToString(o.Key))
				if aws.ToInt64(o.Size) != int64(len(aws.ToString(o.Key))) {
					t.Errorf("%s: size %d", aws.ToString(o.Key), aws.ToInt64(o.Size))
				}
			}
			for _, p := range out.CommonPrefixes {
				cps = append(cps, aws.ToString(p.Prefix))
			}
			if !aws.ToBool(out.IsTruncated) {
				return objs, cps
			}
			in.ContinuationToken, in.StartAfter = out.NextContinuationToken, nil
		}
	}
	for _, tc := range []struct {
		prefix, delim, after string
		max                  int32
		objs, cps            []string
	}{
		{"", "", "", 0, keys, nil},
		{"a/", "", "", 0, []string{"a/1", "a/2", "a/b/1", "a/b/2", "a/c/1", "a/d"}, nil},
		{"a/", "/", "", 0, []string{"a/1", "a/2", "a/d"}, []string{"a/b/", "a/c/"}},
		{"a/", "/", "", 1, []string{"a/1", "a/2", "a/d"}, []string{"a/b/", "a/c/"}},
		{"", "/", "", 2, []string{"ab", "c"}, []string{"a/", "b/"}},
		{"a/", "", "a/b/1", 2, []string{"a/b/2", "a/c/1", "a/d"}, nil},
		{"a/", "", "0", 0, []string{"a/1", "a/2", "a/b/1", "a/b/2", "a/c/1", "a/d"}, nil},
		{"a/b/", "", "", 0, []string{"a/b/1", "a/b/2"}, nil},
		{"x/", "/", "", 0, nil, nil},
	} {
		objs, cps := list(tc.prefix, tc.delim, tc.after, tc.max)
		if !slices.Equal(objs, tc.objs) || !slices.Equal(cps, tc.cps) {
			t.Errorf("list prefix=%q delim=%q after=%q max=%d: %q %q, want %q %q", tc.prefix, tc.delim, tc.after, tc.max, objs, cps, tc.objs, tc.cps)
		}
	}
	if _, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("bkt"), Key: aws.String("a/2")}); err != nil {
		t.Fatal(err)
	}
	if objs, _ := list("a/", "/", "", 0); !slices.Equal(objs, []string{"a/1", "a/d"}) {
		t.Errorf("after delete: %q", objs)
	}
}

// Latency holds each request for the given time before S3 answers.
func TestLatency(t *testing.T) {
	s := Start(t, Latency(50*time.Millisecond))
	start := time.Now()
	s.Bucket(t, "bkt")
	if took := time.Since(start); took < 50*time.Millisecond {
		t.Errorf("a request took %v, want at least the latency", took)
	}
	_, err := s.Client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("bkt"), Key: aws.String("missing")})
	if err == nil || !strings.Contains(err.Error(), "NoSuchKey") {
		t.Errorf("get missing: %v", err)
	}
}

// Package s3test runs gofakes3 in process behind an httptest server
// (path-style addressing) for tests and benchmarks that need a real S3 API;
// its listing is indexed (index.go) so that a LIST costs what it costs in
// S3, and Latency makes every request wait as S3's do.
package s3test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is an in-process S3.
type Server struct {
	URL    string
	Client *s3.Client
	srv    *httptest.Server
}

// Start starts gofakes3; wrap, if not nil, wraps its handler (to slow down
// or fail requests). It stops when tb ends.
func Start(tb testing.TB, wrap func(http.Handler) http.Handler) *Server {
	tb.Helper()
	var h http.Handler = gofakes3.New(newIndexed(s3mem.New()), gofakes3.WithoutVersioning()).Server()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &Server{URL: srv.URL, Client: NewClient(srv.URL), srv: srv}
}

// NewClient returns a path-style S3 client for endpoint with test credentials.
func NewClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,

		DisableLogOutputChecksumValidationSkipped: true,
	})
}

// Latency returns a wrap for Start that holds every request for d before
// S3 answers it, as a real S3 does (10-50 ms before the first byte), so
// that benchmarks measure how well a reader hides that latency. It
// composes with other wraps: Start(tb, func(h) { return Latency(d)(mine(h)) }).
// Requests are held concurrently: only time passes, no CPU is used.
func Latency(d time.Duration) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		if d <= 0 {
			return h
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// Bucket creates a bucket.
func (s *Server) Bucket(tb testing.TB, name string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		tb.Fatalf("create bucket %s: %v", name, err)
	}
}

// Put stores an object.
func (s *Server) Put(tb testing.TB, bucket, key string, body []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		tb.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
}

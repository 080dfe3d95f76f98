package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"rootwatch/internal/backoff"
	"rootwatch/internal/failure"
	"rootwatch/internal/mutant"
)

// S3Getter is the part of the S3 client that reads objects.
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Client reads and lists: what a backfill or a prefix scan needs.
type S3Client interface {
	S3Getter
	S3Lister
}

// Defaults of S3Opener.
const (
	// DefaultS3IdleTimeout is how long an S3 read may make no progress.
	DefaultS3IdleTimeout = time.Minute
	// DefaultMissingRetries is how often ingest asks again for an object
	// that a notification named but S3 says is not there (eventual
	// consistency of replicated buckets, a notification racing the write).
	DefaultMissingRetries = 3
	// DefaultMissingBackoff is the first wait before asking again; it doubles.
	DefaultMissingBackoff = 500 * time.Millisecond
)

// ErrS3Stalled is the cause of a read abandoned for making no progress.
var ErrS3Stalled = errors.New("no progress from S3")

// S3Opener opens S3 objects. A missing object is asked for again
// (MissingRetries times, backing off from MissingBackoff) before it counts
// as permanently missing; the SDK's own retryer handles 5xx and throttling.
// A request that makes no progress for IdleTimeout (no answer, or no body
// bytes) is abandoned as a transient failure, so a hung S3 connection can
// never hold a message (and its root events) forever. Errors are
// classified (internal/failure): missing and forbidden objects are
// permanent, everything else transient.
type S3Opener struct {
	Client         S3Getter
	MissingRetries int
	MissingBackoff time.Duration // 0 means DefaultMissingBackoff
	IdleTimeout    time.Duration // 0 means DefaultS3IdleTimeout
}

// Open returns an opener for s3://bucket/key.
func (o S3Opener) Open(bucket, key string) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		base := o.MissingBackoff
		if base <= 0 {
			base = DefaultMissingBackoff
		}
		var body io.ReadCloser
		err := backoff.Policy{Base: base}.Retry(ctx, func(attempt int) (bool, error) {
			var err error
			body, err = o.get(ctx, bucket, key)
			if mutant.Enabled && err != nil && mutant.On("s3-5xx-drop") && mutant.HTTPStatus(err) >= 500 { // mutant (make mutants): a 5xx drops the object
				body, err = mutant.EmptyTrail(), nil
			}
			if mutant.Enabled && err != nil && mutant.On("s3-500-drop") && mutant.HTTPStatus(err) == 500 { // mutant (make mutants): a 500 drops the object
				body, err = mutant.EmptyTrail(), nil
			}
			if err == nil || errors.Is(err, ErrS3Stalled) {
				return false, err
			}
			err = classifyS3(fmt.Errorf("get s3://%s/%s: %w", bucket, key, err))
			if cerr := ctx.Err(); cerr != nil && failure.Is(err, failure.ReasonObjectMissing) && attempt < o.MissingRetries {
				// Stopped while it would have asked again: a shutdown, as
				// when the stop comes during the backoff, not a dead letter.
				return false, fmt.Errorf("%w (last error: %w)", cerr, err)
			}
			return failure.Is(err, failure.ReasonObjectMissing) && attempt < o.MissingRetries, err
		})
		return body, err
	}
}

// get is one GetObject under a watchdog that cancels it after IdleTimeout
// without progress; the body it returns keeps the watchdog until closed.
func (o S3Opener) get(ctx context.Context, bucket, key string) (io.ReadCloser, error) {
	idle := o.IdleTimeout
	if idle <= 0 {
		idle = DefaultS3IdleTimeout
	}
	rctx, cancel := context.WithCancel(ctx)
	w := &stallWatch{idle: idle, cancel: cancel,
		err: failure.MarkTransient(fmt.Errorf("read s3://%s/%s: %w for %s", bucket, key, ErrS3Stalled, idle))}
	w.timer = time.AfterFunc(idle, w.fire)
	out, err := o.Client.GetObject(rctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		w.stop()
		if w.fired.Load() && ctx.Err() == nil {
			return nil, w.err
		}
		return nil, err
	}
	return &watchedBody{rc: out.Body, w: w}, nil
}

// classifyS3 maps an S3 GetObject error: missing and forbidden objects are
// permanent, everything else (5xx, throttling, network) transient.
func classifyS3(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return failure.Permanent(failure.ReasonObjectMissing, err)
		case "AccessDenied", "Forbidden", "InvalidObjectState", "AllAccessDisabled":
			return failure.Permanent(failure.ReasonAccessDenied, err)
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if mutant.Enabled && mutant.On("s3-5xx-dead-letter") && re.HTTPStatusCode() >= 500 { // mutant (make mutants): a 5xx is dead-lettered, not retried
			return failure.Permanent(failure.ReasonPermanent, err)
		}
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return failure.Permanent(failure.ReasonObjectMissing, err)
		case http.StatusForbidden:
			return failure.Permanent(failure.ReasonAccessDenied, err)
		}
	}
	return failure.MarkTransient(err)
}

// stallWatch cancels a request that made no progress for idle.
type stallWatch struct {
	idle   time.Duration
	timer  *time.Timer
	cancel context.CancelFunc
	fired  atomic.Bool
	err    error
}

func (w *stallWatch) fire() {
	w.fired.Store(true)
	w.cancel()
}

func (w *stallWatch) stop() {
	w.timer.Stop()
	w.cancel()
}

// watchedBody is an S3 object body whose reads feed the watchdog; a read
// cut off by it fails with ErrS3Stalled (transient), not context.Canceled
// (which would look like a shutdown).
type watchedBody struct {
	rc io.ReadCloser
	w  *stallWatch
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 && !b.w.fired.Load() {
		b.w.timer.Reset(b.w.idle)
	}
	if err != nil && !errors.Is(err, io.EOF) && b.w.fired.Load() {
		err = b.w.err
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.w.stop()
	return b.rc.Close()
}

// ListPrefix calls fn for every object under s3://bucket/prefix, in key
// order, skipping "folder" keys ending in '/'. It is for scans of a whole
// prefix (audit --from-logs); a backfill lists day folders (Backfill.Walk).
func ListPrefix(ctx context.Context, c S3Lister, bucket, prefix string, fn func(Object) error) error {
	return listAll(ctx, c, bucket, prefix, "", "", func(key string, size int64) error {
		if strings.HasSuffix(key, "/") {
			return nil
		}
		return fn(Object{Bucket: bucket, Key: key, Size: size})
	}, nil)
}

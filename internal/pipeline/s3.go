package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"rootwatch/internal/mutant"
)

// S3Getter is the part of the S3 client the pipeline uses.
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Opener opens S3 objects for Jobs. A missing object is asked for again
// (MissingRetries times, MissingBackoff apart) before it counts as
// permanently missing; the SDK's own retryer handles 5xx and throttling.
// A request that makes no progress for IdleTimeout (no answer, or no body
// bytes) is abandoned as a transient failure, so a hung S3 connection can
// never hold a message (and its root events) forever.
type S3Opener struct {
	Client         S3Getter
	MissingRetries int
	MissingBackoff time.Duration
	IdleTimeout    time.Duration // 0 means DefaultS3IdleTimeout
}

// DefaultS3IdleTimeout is how long an S3 read may make no progress.
const DefaultS3IdleTimeout = time.Minute

// ErrS3Stalled is the cause of a read abandoned for making no progress.
var ErrS3Stalled = errors.New("no progress from S3")

// Open returns an opener for s3://bucket/key.
func (o S3Opener) Open(bucket, key string) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		backoff := o.MissingBackoff
		if backoff <= 0 {
			backoff = 500 * time.Millisecond
		}
		for attempt := 0; ; attempt++ {
			body, err := o.get(ctx, bucket, key)
			if mutant.Enabled && err != nil && mutant.On("s3-5xx-drop") && mutant.HTTPStatus(err) >= 500 { // mutant (make mutants): a 5xx drops the object
				return mutant.EmptyTrail(), nil
			}
			if mutant.Enabled && err != nil && mutant.On("s3-500-drop") && mutant.HTTPStatus(err) == 500 { // mutant (make mutants): a 500 drops the object
				return mutant.EmptyTrail(), nil
			}
			if err == nil {
				return body, nil
			}
			if errors.Is(err, ErrS3Stalled) {
				return nil, err
			}
			err = classifyS3(fmt.Errorf("get s3://%s/%s: %w", bucket, key, err))
			if !isMissing(err) || attempt >= o.MissingRetries || ctx.Err() != nil {
				return nil, err
			}
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff *= 2
		}
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
		err: &transientError{fmt.Errorf("read s3://%s/%s: %w for %s", bucket, key, ErrS3Stalled, idle)}}
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

// FileOpener opens a local file for a Job; a missing or unreadable file is permanent.
func FileOpener(path string) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) {
				return nil, Permanent(ReasonObjectMissing, err)
			}
			if os.IsPermission(err) {
				return nil, Permanent(ReasonAccessDenied, err)
			}
			return nil, err
		}
		return f, nil
	}
}

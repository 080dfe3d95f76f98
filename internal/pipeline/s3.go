package pipeline

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3Getter is the part of the S3 client the pipeline uses.
type S3Getter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// S3Opener opens S3 objects for Jobs. A missing object is asked for again
// (MissingRetries times, MissingBackoff apart) before it counts as
// permanently missing; the SDK's own retryer handles 5xx and throttling.
type S3Opener struct {
	Client         S3Getter
	MissingRetries int
	MissingBackoff time.Duration
}

// Open returns an opener for s3://bucket/key.
func (o S3Opener) Open(bucket, key string) func(ctx context.Context) (io.ReadCloser, error) {
	return func(ctx context.Context) (io.ReadCloser, error) {
		backoff := o.MissingBackoff
		if backoff <= 0 {
			backoff = 500 * time.Millisecond
		}
		for attempt := 0; ; attempt++ {
			out, err := o.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
			if err == nil {
				return out.Body, nil
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

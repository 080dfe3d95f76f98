package source

import (
	"context"
	"errors"
)

// ListRange calls fn, in key order, for the log files of one folder whose
// keys are after after (all when "") and at most last: a run of a backfill
// that Walk listed once, listed again where it is read (a fleet worker's
// work item). It stops listing past last; digest and folder keys are
// skipped as Walk skips them. S3 errors are classified like a read's (a
// missing bucket or a denied listing is permanent, everything else
// transient).
func ListRange(ctx context.Context, c S3Lister, bucket, prefix, after, last string, fn func(Object) error) error {
	var fnErr error
	err := listAll(ctx, c, bucket, prefix, "", after, func(key string, size int64) error {
		if key > last {
			return ErrStop
		}
		if !isLogFile(key) {
			return nil
		}
		fnErr = fn(Object{Bucket: bucket, Key: key, Size: size})
		return fnErr
	}, nil)
	switch {
	case err == nil || err == ErrStop:
		return nil
	case err == fnErr || ctx.Err() != nil:
		return err
	}
	return classifyS3(err)
}

// ErrStop ends a listing early without error (a callback returns it).
var ErrStop = errors.New("stop listing")

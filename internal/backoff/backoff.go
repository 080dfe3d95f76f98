// Package backoff is rootwatch's one way of waiting between attempts:
// exponential delays with a cap and optional jitter, and a wait that ends
// with its context. Every retry loop (S3 reads of objects not there yet,
// backfill objects, SQS redelivery, SQS receives, waiting for Kafka at
// start, channel deliveries) computes its delays here, so they all back off
// the same way and are tuned in one place.
package backoff

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// Policy is exponential backoff: Base before the first retry, doubling per
// attempt, at most Max.
type Policy struct {
	// Base is the delay after the first failed attempt (attempt 0).
	Base time.Duration
	// Max caps one delay; 0 means no cap.
	Max time.Duration
	// Jitter spreads delays so that many clients that failed together do
	// not retry together: a delay d becomes a uniform draw from
	// [(1-Jitter)*d, d]. 0 is none; 1 is "full jitter" ([0, d]).
	Jitter float64
}

// Delay is the wait after failed attempt number attempt (0-based):
// min(Max, Base*2^attempt), jittered.
func (p Policy) Delay(attempt int) time.Duration {
	d := max(p.Base, 0)
	for i := 0; i < attempt && d > 0 && (p.Max <= 0 || d < p.Max); i++ {
		if d > math.MaxInt64/2 {
			d = math.MaxInt64
			break
		}
		d *= 2
	}
	if p.Max > 0 && d > p.Max {
		d = p.Max
	}
	if j := min(p.Jitter, 1); j > 0 && d > 0 {
		d -= time.Duration(rand.Float64() * j * float64(d))
	}
	return d
}

// Sleep waits d, or until ctx ends (then it returns the context's error).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Retry calls op with attempt = 0, 1, 2, ... until it returns nil or says
// not to retry, waiting Delay(attempt) in between. It returns op's last
// error; when ctx ends during a wait, an error wrapping both ctx.Err() and
// op's last error (so errors.Is(err, context.Canceled) holds and the cause
// is still named).
func (p Policy) Retry(ctx context.Context, op func(attempt int) (retry bool, err error)) error {
	for attempt := 0; ; attempt++ {
		retry, err := op(attempt)
		if err == nil || !retry {
			return err
		}
		if werr := Sleep(ctx, p.Delay(attempt)); werr != nil {
			return fmt.Errorf("%w (last error: %w)", werr, err)
		}
	}
}

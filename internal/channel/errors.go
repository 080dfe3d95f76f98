package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"rootwatch/internal/mutant"
)

// HTTPError is a delivery refused by a provider with an HTTP status. Channels
// return it (via CheckResponse) so that Retryable can decide in one place.
type HTTPError struct {
	Channel    string
	Status     int
	RetryAfter time.Duration // from the Retry-After header, 0 when absent
	// Body is a short, secret-free excerpt of the provider's answer.
	Body string
}

func (e *HTTPError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("%s: HTTP %d: %s", e.Channel, e.Status, e.Body)
	}
	return fmt.Sprintf("%s: HTTP %d", e.Channel, e.Status)
}

// PermanentError marks an error that retrying cannot fix (bad config, a
// request the provider rejects as invalid).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err so that Retryable reports false.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Retryable is the one place that decides whether a failed send is worth
// another try, and how long the provider asked us to wait: 429, 408, 5xx,
// network errors, no answer and unreadable 2xx answers retry; other 4xx
// and PermanentError do not.
func Retryable(err error) (retry bool, after time.Duration) {
	if err == nil {
		return false, 0
	}
	var pe *PermanentError
	if errors.As(err, &pe) {
		return false, 0
	}
	var he *HTTPError
	if errors.As(err, &he) {
		if mutant.Enabled && mutant.On("channel-5xx-permanent") && he.Status >= 500 { // mutant (make mutants): a 5xx is parked, not retried
			return false, 0
		}
		switch {
		case he.Status == http.StatusTooManyRequests, he.Status >= 500:
			return true, he.RetryAfter
		case he.Status == 0, he.Status >= 200 && he.Status <= 299:
			// No status, or a success that could not be read: transient.
			return true, he.RetryAfter
		case he.Status == http.StatusRequestTimeout:
			return true, he.RetryAfter
		default:
			return false, 0
		}
	}
	if errors.Is(err, context.Canceled) {
		return false, 0
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return true, 0
	}
	// Unknown errors (connection reset, EOF mid-response, SDK errors) retry:
	// losing an alert is worse than a bounded number of extra attempts.
	return true, 0
}

// ParseRetryAfter reads a Retry-After header (delay-seconds or HTTP-date).
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

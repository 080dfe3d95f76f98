package channel

import (
	"context"
	"fmt"
	"time"

	"rootwatch/internal/backoff"
)

// RetryPolicy is the one retry policy every channel is wrapped in:
// exponential backoff with full jitter, honouring the provider's Retry-After
// (never waiting less than it asked), bounded in attempts and elapsed time.
type RetryPolicy struct {
	MaxAttempts int           // total tries including the first; 0 means 6
	Base        time.Duration // first backoff; 0 means 500ms
	Max         time.Duration // cap on one backoff; 0 means 30s
	MaxElapsed  time.Duration // give up after this long in total; 0 means 5m
	// Sleep waits d or until ctx ends; tests replace it. nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 6
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	if p.MaxElapsed <= 0 {
		p.MaxElapsed = 5 * time.Minute
	}
	if p.Sleep == nil {
		p.Sleep = backoff.Sleep
	}
	return p
}

// Backoff is the wait before retry number attempt (1-based), given the
// provider's Retry-After (0 if none): full jitter in [0, min(Max, Base*2^(attempt-1))],
// but never less than retryAfter.
func (p RetryPolicy) Backoff(attempt int, retryAfter time.Duration) time.Duration {
	p = p.withDefaults()
	d := backoff.Policy{Base: p.Base, Max: p.Max, Jitter: 1}.Delay(attempt - 1)
	if d < retryAfter {
		d = retryAfter
	}
	return d
}

// Result is what a send through the policy came to.
type Result struct {
	State    map[string]string
	Attempts int
	Err      error // nil on success; the last error otherwise
}

// Do sends n through ch, retrying what Retryable says is worth retrying.
// It stops early when ctx ends. A non-nil Result.Err means the caller should
// park the notification (DLQ) or leave it for redelivery.
func (p RetryPolicy) Do(ctx context.Context, ch Channel, n *Notification) Result {
	p = p.withDefaults()
	start := time.Now()
	var last error
	for attempt := 1; attempt <= p.MaxAttempts; attempt++ {
		state, err := ch.Send(ctx, n)
		if err == nil {
			return Result{State: state, Attempts: attempt}
		}
		last = err
		retry, after := Retryable(err)
		if !retry || attempt == p.MaxAttempts {
			return Result{Attempts: attempt, Err: err}
		}
		wait := p.Backoff(attempt, after)
		if time.Since(start)+wait > p.MaxElapsed {
			return Result{Attempts: attempt, Err: fmt.Errorf("giving up after %s: %w", time.Since(start).Round(time.Millisecond), err)}
		}
		if err := p.Sleep(ctx, wait); err != nil {
			return Result{Attempts: attempt, Err: fmt.Errorf("%w (last error: %v)", err, last)}
		}
	}
	return Result{Attempts: p.MaxAttempts, Err: last}
}

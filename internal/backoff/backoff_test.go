package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelayDoublesUpToMax(t *testing.T) {
	p := Policy{Base: time.Second, Max: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := p.Delay(i); got != w {
			t.Errorf("Delay(%d) = %v, want %v", i, got, w)
		}
	}
	if got := p.Delay(1 << 20); got != 10*time.Second {
		t.Errorf("a huge attempt: %v", got)
	}
	if got := (Policy{Base: time.Hour}).Delay(100); got <= 0 {
		t.Errorf("no cap, attempt 100: %v overflowed", got)
	}
	if got := p.Delay(-3); got != time.Second {
		t.Errorf("negative attempt: %v", got)
	}
}

func TestJitterStaysInRange(t *testing.T) {
	full := Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: 1}
	part := Policy{Base: 100 * time.Millisecond, Max: time.Second, Jitter: 0.2}
	var spread bool
	first := full.Delay(3)
	for range 200 {
		d := full.Delay(3) // ceiling 800ms
		if d < 0 || d > 800*time.Millisecond {
			t.Fatalf("full jitter delay %v outside [0, 800ms]", d)
		}
		spread = spread || d != first
		if d := part.Delay(3); d < 640*time.Millisecond || d > 800*time.Millisecond {
			t.Fatalf("20%% jitter delay %v outside [640ms, 800ms]", d)
		}
	}
	if !spread {
		t.Error("200 jittered delays were all equal")
	}
}

func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context: %v", err)
	}
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

func TestRetry(t *testing.T) {
	p := Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}
	calls := 0
	err := p.Retry(context.Background(), func(attempt int) (bool, error) {
		if attempt != calls {
			t.Errorf("attempt %d on call %d", attempt, calls)
		}
		calls++
		if calls < 3 {
			return true, errors.New("not yet")
		}
		return false, nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Retry: %v after %d calls", err, calls)
	}

	stop := errors.New("permanent")
	calls = 0
	err = p.Retry(context.Background(), func(int) (bool, error) { calls++; return false, stop })
	if err != stop || calls != 1 {
		t.Fatalf("no-retry error: %v after %d calls", err, calls)
	}

	ctx, cancel := context.WithCancel(context.Background())
	last := errors.New("broker down")
	err = Policy{Base: time.Hour}.Retry(ctx, func(int) (bool, error) { cancel(); return true, last })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, last) {
		t.Fatalf("cancelled during the wait: %v; want both the context's error and the last one", err)
	}
}

package periodic

import (
	"sync"
	"testing"
	"time"

	"rootwatch/internal/testutil"
)

func TestStart(t *testing.T) {
	var mu sync.Mutex
	var calls []bool
	stop := Start(5*time.Millisecond, func(final bool) {
		mu.Lock()
		calls = append(calls, final)
		mu.Unlock()
	})
	testutil.WaitFor(t, 10*time.Second, "three periodic calls", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) >= 3
	})
	stop()
	stop()
	mu.Lock()
	n := len(calls)
	for i, final := range calls {
		if final != (i == n-1) {
			t.Errorf("call %d of %d: final=%v", i, n, final)
		}
	}
	mu.Unlock()
}

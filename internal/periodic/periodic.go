// Package periodic runs a function every so often until stopped, and once
// more, marked final, when stopped: the shape of a progress report and of
// a checkpoint saver, written once.
package periodic

import (
	"sync"
	"time"
)

// Start calls fn(false) every interval until stop is called; stop calls
// fn(true) once and returns when fn will not be called any more. stop may
// be called more than once.
func Start(every time.Duration, fn func(final bool)) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(false)
			case <-done:
				fn(true)
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

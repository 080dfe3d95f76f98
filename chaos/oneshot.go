package chaos

import "sync"

// oneShot is a callback armed for the next occurrence of an observable
// event (a GET served, a notification acknowledged): the first Fire after
// Arm runs it, once; Disarm takes it back if it has not run.
type oneShot[T any] struct {
	mu sync.Mutex
	fn func(T)
}

// Arm sets fn for the next Fire; it replaces one still armed.
func (o *oneShot[T]) Arm(fn func(T)) {
	o.mu.Lock()
	o.fn = fn
	o.mu.Unlock()
}

// Disarm takes fn back; false when it already ran (or is running).
func (o *oneShot[T]) Disarm() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	armed := o.fn != nil
	o.fn = nil
	return armed
}

// Fire runs the armed callback, if any, in the caller's goroutine.
func (o *oneShot[T]) Fire(v T) {
	o.mu.Lock()
	fn := o.fn
	o.fn = nil
	o.mu.Unlock()
	if fn != nil {
		fn(v)
	}
}

// bite is closed the first time a fault period hits something.
type bite struct {
	once sync.Once
	ch   chan struct{}
}

func newBite() *bite { return &bite{ch: make(chan struct{})} }

func (b *bite) hit() { b.once.Do(func() { close(b.ch) }) }

// C is closed once the fault bit.
func (b *bite) C() <-chan struct{} { return b.ch }

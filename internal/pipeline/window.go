package pipeline

import (
	"context"
	"sync"
)

// Window tracks work items in the order they were started and where a
// source may settle up to: the position P of the last item before which
// every item is done, however out of order they finish. A backfill's
// checkpoint is such a mark (P a source.Position); so is a fleet worker's
// offset commit on one partition (P the next offset). Its size bounds how
// far the start of new items may run ahead of the oldest unfinished one, so
// memory stays bounded whatever the run's size, and an item that never
// finishes holds the mark where it is: nothing after it is settled.
type Window[P any] struct {
	mu    sync.Mutex
	slots chan struct{}
	next  int64 // sequence number of the next item added
	low   int64 // the oldest item not done
	done  map[int64]bool
	pos   map[int64]P
	last  P // position of the item before low
}

// NewWindow returns a window of size items whose mark starts at start.
func NewWindow[P any](size int, start P) *Window[P] {
	return &Window[P]{slots: make(chan struct{}, max(size, 1)), done: map[int64]bool{}, pos: map[int64]P{}, last: start}
}

// Add takes a slot for the item at p (waiting while the window is full)
// and returns its sequence number.
func (w *Window[P]) Add(ctx context.Context, p P) (int64, error) {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seq := w.next
	w.next++
	w.pos[seq] = p
	return seq, nil
}

// Complete marks item seq done, moving the mark past every item done in a
// row from the oldest.
func (w *Window[P]) Complete(seq int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done[seq] = true
	for w.done[w.low] {
		w.last = w.pos[w.low]
		delete(w.done, w.low)
		delete(w.pos, w.low)
		w.low++
		<-w.slots
	}
}

// Mark is the position before which everything is done, and whether every
// item added is.
func (w *Window[P]) Mark() (P, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.low == w.next
}

// Position is Mark without the flag.
func (w *Window[P]) Position() P {
	p, _ := w.Mark()
	return p
}

package pipeline

import (
	"context"
	"sync"

	"rootwatch/internal/source"
)

// lowWater tracks the objects of a backfill in listing order and where the
// checkpoint may be: the position of the last object before which every
// object is done, however out of order they finish. Its size bounds how far
// the listing may run ahead of the oldest unfinished object, so memory
// stays bounded whatever the backfill's size.
type lowWater struct {
	mu    sync.Mutex
	slots chan struct{}
	next  int64 // sequence number of the next object added
	low   int64 // the oldest object not done
	done  map[int64]bool
	pos   map[int64]source.Position
	last  source.Position // position of the object before low
}

func newLowWater(size int, start source.Position) *lowWater {
	return &lowWater{slots: make(chan struct{}, size), done: map[int64]bool{}, pos: map[int64]source.Position{}, last: start}
}

// add takes a slot for the object at p (waiting while the window is full)
// and returns its sequence number.
func (w *lowWater) add(ctx context.Context, p source.Position) (int64, error) {
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

// complete marks object seq done, moving the mark past every object done
// in a row from the oldest.
func (w *lowWater) complete(seq int64) {
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

// mark is the position before which everything is done, and whether every
// object added is.
func (w *lowWater) mark() (source.Position, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.low == w.next
}

// position is mark without the flag.
func (w *lowWater) position() source.Position {
	p, _ := w.mark()
	return p
}

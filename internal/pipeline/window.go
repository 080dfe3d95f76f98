package pipeline

import (
	"context"
	"sync"

	"rootwatch/internal/source"
)

// Window tracks work items in the order they were started and where a
// source may settle up to: the position P of the last item before which
// every item is done, however out of order they finish. A fleet worker's
// offset commit on one partition is such a mark (P the next offset); a
// backfill's checkpoint is two of them (folderWindow: the folders in walk
// order, and in each folder its keys). Its size bounds how far the start
// of new items may run ahead of the oldest unfinished one, so memory stays
// bounded whatever the run's size, and an item that never finishes holds
// the mark where it is: nothing after it is settled.
type Window[P any] struct {
	mu    sync.Mutex
	slots chan struct{} // nil: unbounded
	next  int64         // sequence number of the next item added
	low   int64         // the oldest item not done
	done  map[int64]bool
	pos   map[int64]P
	last  P // position of the item before low
}

// NewWindow returns a window of size items (size < 0: unbounded, for a
// window whose items are bounded elsewhere) whose mark starts at start.
func NewWindow[P any](size int, start P) *Window[P] {
	w := &Window[P]{done: map[int64]bool{}, pos: map[int64]P{}, last: start}
	if size >= 0 {
		w.slots = make(chan struct{}, max(size, 1))
	}
	return w
}

// Add takes a slot for the item at p (waiting while the window is full)
// and returns its sequence number.
func (w *Window[P]) Add(ctx context.Context, p P) (int64, error) {
	if w.slots != nil {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
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
		if w.slots != nil {
			<-w.slots
		}
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

// Pending calls fn, oldest first, for every item the mark has not passed
// yet (the oldest is not done; later ones may be), under the window's
// lock: fn must not call the window.
func (w *Window[P]) Pending(fn func(p P, done bool)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for seq := w.low; seq < w.next; seq++ {
		fn(w.pos[seq], w.done[seq])
	}
}

// folderWindow tracks a backfill's folders in walk order (source.Folder
// order) while many are listed and read at once, and says where the
// checkpoint may be: the mark, before which every folder is done (and, in
// the mark's folder, every key up to the mark's key), plus how far each
// folder beyond it got (done, or done up to a key). Folders and objects
// finish in any order; the mark only moves past a folder once it was
// listed to its end and every object in it was settled. It is two levels
// of Window: the folders, and in each folder its keys.
//
// Two bounds keep memory flat whatever the backfill's size: at most
// maxFolders folders from the mark on (admit waits), so the checkpoint's
// list of folders beyond the mark stays short, and at most maxObjects
// objects listed and not yet settled (addObject waits).
type folderWindow struct {
	folders *Window[*folderState] // bounded by maxFolders
	objects chan struct{}         // maxObjects

	mu sync.Mutex // folderState's fields; taken before a Window's own lock
}

// folderState is one admitted folder.
type folderState struct {
	f    source.Folder
	seq  int64           // in folders
	keys *Window[string] // its listed keys; the mark starts at StartAfter
	// listed: the listing reached the folder's end; closed: the folder is
	// complete and was marked so in folders.
	listed, closed bool
}

// after is the key up to which every key of the folder is done ("" for
// none), and whether every key listed so far is.
func (s *folderState) after() (string, bool) { return s.keys.Mark() }

func (s *folderState) complete() bool {
	_, all := s.after()
	return s.listed && all
}

func newFolderWindow(maxFolders, maxObjects int, mark source.Position) *folderWindow {
	start := &folderState{f: mark.Folder(), keys: NewWindow(-1, mark.Key), closed: true}
	return &folderWindow{folders: NewWindow(maxFolders, start), objects: make(chan struct{}, maxObjects)}
}

// admit adds folder f, to be listed after startAfter (or, done, already
// done by an earlier run), waiting while maxFolders are ahead of the mark.
func (w *folderWindow) admit(ctx context.Context, f source.Folder, startAfter string, done bool) (*folderState, error) {
	s := &folderState{f: f, keys: NewWindow(-1, startAfter), listed: done}
	seq, err := w.folders.Add(ctx, s)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	s.seq = seq
	w.closeIfComplete(s)
	w.mu.Unlock()
	return s, nil
}

// addObject records that s's listing found key (keys come in order),
// waiting while maxObjects are unsettled; it returns the object's slot for
// objectDone.
func (w *folderWindow) addObject(ctx context.Context, s *folderState, key string) (objectSlot, error) {
	select {
	case w.objects <- struct{}{}:
	case <-ctx.Done():
		return objectSlot{}, ctx.Err()
	}
	seq, err := s.keys.Add(ctx, key) // unbounded: never waits
	return objectSlot{s: s, seq: seq}, err
}

// objectSlot names one object of a folder for objectDone.
type objectSlot struct {
	s   *folderState
	seq int64 // in the folder's keys
}

// objectDone records that the object settled (read and acknowledged, or
// dead-lettered), so the checkpoint may pass it.
func (w *folderWindow) objectDone(o objectSlot) {
	w.mu.Lock()
	o.s.keys.Complete(o.seq)
	w.closeIfComplete(o.s)
	w.mu.Unlock()
	<-w.objects
}

// listed records that s's listing reached the folder's end.
func (w *folderWindow) listed(s *folderState) {
	w.mu.Lock()
	s.listed = true
	w.closeIfComplete(s)
	w.mu.Unlock()
}

// closeIfComplete lets the folder mark pass s once it is complete; w.mu is
// held.
func (w *folderWindow) closeIfComplete(s *folderState) {
	if !s.closed && s.complete() {
		s.closed = true
		w.folders.Complete(s.seq)
	}
}

// aheadMark is how far one folder beyond the checkpoint's mark got.
type aheadMark struct {
	source.Folder
	Key  string `json:"key,omitempty"`  // every key up to it is done
	Done bool   `json:"done,omitempty"` // the whole folder is
}

// position is the checkpoint: the mark (the front folder's progress, when
// it has any), the folders beyond it that made progress, and whether no
// admitted folder is left unfinished.
func (w *folderWindow) position() (mark source.Position, ahead []aheadMark, idle bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, idle := w.folders.Mark()
	key, _ := last.after()
	mark = last.f.At(key)
	first := true
	w.folders.Pending(func(s *folderState, done bool) {
		key, _ := s.after()
		switch {
		case first && key != "":
			mark = s.f.At(key)
		case first:
		case done:
			ahead = append(ahead, aheadMark{Folder: s.f, Done: true})
		case key != "":
			ahead = append(ahead, aheadMark{Folder: s.f, Key: key})
		}
		first = false
	})
	return mark, ahead, idle
}

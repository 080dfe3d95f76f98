package pipeline

import (
	"context"
	"sync"

	"rootwatch/internal/source"
)

// folderWindow tracks a backfill's folders in walk order (source.Folder
// order) while many are listed and read at once, and says where the
// checkpoint may be: the mark, before which every folder is done (and, in
// the mark's folder, every key up to the mark's key), plus how far each
// folder beyond it got (done, or done up to a key). Folders and objects
// finish in any order; the mark only moves past a folder once it was
// listed to its end and every object in it was settled.
//
// Two bounds keep memory flat whatever the backfill's size: at most
// maxFolders folders from the mark on (admit waits), so the checkpoint's
// list of folders beyond the mark stays short, and at most maxObjects
// objects listed and not yet settled (addObject waits).
type folderWindow struct {
	folders chan struct{}
	objects chan struct{}

	mu    sync.Mutex
	queue []*folderState  // admitted folders from the mark on, in walk order
	mark  source.Position // before the first folder of queue
}

// folderState is one admitted folder.
type folderState struct {
	f source.Folder
	// after: every key up to it is done ("" for none): the folder's
	// StartAfter at first, then the last of the done keys listed in a row.
	after   string
	base    int      // index (in listing order) of pending[0]
	pending []string // keys listed after `after`, in order
	done    []bool   // which of pending are done
	listed  bool     // the listing reached the folder's end
}

func (s *folderState) complete() bool { return s.listed && len(s.pending) == 0 }

func newFolderWindow(maxFolders, maxObjects int, mark source.Position) *folderWindow {
	return &folderWindow{folders: make(chan struct{}, maxFolders), objects: make(chan struct{}, maxObjects), mark: mark}
}

// admit adds folder f, to be listed after startAfter (or, done, already
// done by an earlier run), waiting while maxFolders are ahead of the mark.
func (w *folderWindow) admit(ctx context.Context, f source.Folder, startAfter string, done bool) (*folderState, error) {
	select {
	case w.folders <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s := &folderState{f: f, after: startAfter, listed: done}
	w.mu.Lock()
	w.queue = append(w.queue, s)
	w.advance()
	w.mu.Unlock()
	return s, nil
}

// addObject records that s's listing found key (keys come in order),
// waiting while maxObjects are unsettled; it returns the object's index
// for objectDone.
func (w *folderWindow) addObject(ctx context.Context, s *folderState, key string) (objectSlot, error) {
	select {
	case w.objects <- struct{}{}:
	case <-ctx.Done():
		return objectSlot{}, ctx.Err()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s.pending = append(s.pending, key)
	s.done = append(s.done, false)
	return objectSlot{s: s, i: s.base + len(s.pending) - 1}, nil
}

// objectSlot names one object of a folder for objectDone.
type objectSlot struct {
	s *folderState
	i int // index in the folder's listing order
}

// objectDone records that the object settled (read and acknowledged, or
// dead-lettered), so the checkpoint may pass it.
func (w *folderWindow) objectDone(o objectSlot) {
	w.mu.Lock()
	s := o.s
	s.done[o.i-s.base] = true
	n := 0
	for n < len(s.pending) && s.done[n] {
		n++
	}
	if n > 0 {
		s.after = s.pending[n-1]
		s.pending, s.done, s.base = s.pending[n:], s.done[n:], s.base+n
	}
	w.advance()
	w.mu.Unlock()
	<-w.objects
}

// listed records that s's listing reached the folder's end.
func (w *folderWindow) listed(s *folderState) {
	w.mu.Lock()
	s.listed = true
	w.advance()
	w.mu.Unlock()
}

// advance moves the mark past the complete folders at the front; w.mu is held.
func (w *folderWindow) advance() {
	for len(w.queue) > 0 && w.queue[0].complete() {
		s := w.queue[0]
		w.mark = s.f.At(s.after)
		w.queue[0] = nil
		w.queue = w.queue[1:]
		<-w.folders
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
	mark = w.mark
	for i, s := range w.queue {
		switch {
		case i == 0 && s.after != "":
			mark = s.f.At(s.after)
		case i == 0:
		case s.complete():
			ahead = append(ahead, aheadMark{Folder: s.f, Done: true})
		case s.after != "":
			ahead = append(ahead, aheadMark{Folder: s.f, Key: s.after})
		}
	}
	return mark, ahead, len(w.queue) == 0
}

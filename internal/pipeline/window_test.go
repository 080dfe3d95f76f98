package pipeline

import (
	"context"
	"errors"
	"testing"

	"rootwatch/internal/source"
)

// The checkpoint mark moves only past objects done in a row from the
// oldest, however out of order they finish, and a full window holds the
// listing back.
func TestWindow(t *testing.T) {
	start := source.Position{Day: "2026/01/04", Key: "before"}
	w := NewWindow(3, start)
	ctx := context.Background()
	pos := func(k string) source.Position { return source.Position{Day: "2026/01/05", Key: k} }
	a, _ := w.Add(ctx, pos("a"))
	b, _ := w.Add(ctx, pos("b"))
	c, _ := w.Add(ctx, pos("c"))

	full, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := w.Add(full, pos("d")); !errors.Is(err, context.Canceled) {
		t.Fatalf("a full window let a fourth object in: %v", err)
	}
	w.Complete(b)
	w.Complete(c)
	if p, all := w.Mark(); p != start || all {
		t.Fatalf("b and c done before a: mark %+v (all %v), want still %+v", p, all, start)
	}
	w.Complete(a)
	if p, all := w.Mark(); p != pos("c") || !all {
		t.Fatalf("all done: mark %+v (all %v), want %+v", p, all, pos("c"))
	}
	if _, err := w.Add(ctx, pos("d")); err != nil {
		t.Fatalf("slots not given back: %v", err)
	}
	if _, all := w.Mark(); all {
		t.Fatal("a new object is not done")
	}
}

package pipeline

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"rootwatch/internal/progress"
	"rootwatch/internal/source"
)

func folder(day, region string) source.Folder {
	return source.Folder{Day: day, Account: "o-x/111111111111", Region: region}
}

// The checkpoint mark moves only past folders listed to their end whose
// objects all settled, however out of order objects and folders finish;
// folders beyond it report how far they got; full windows hold the
// listing back.
func TestFolderWindow(t *testing.T) {
	start := folder("2026/01/04", "us-east-1").At("before")
	w := newFolderWindow(3, 4, start)
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	f1, f2, f3 := folder("2026/01/04", "us-east-1"), folder("2026/01/04", "us-west-2"), folder("2026/01/05", "eu-west-1")
	s1, _ := w.admit(ctx, f1, "before", false)
	s2, _ := w.admit(ctx, f2, "", false)
	s3, _ := w.admit(ctx, f3, "x", false)
	if _, err := w.admit(cancelled, folder("2026/01/06", "eu-west-1"), "", false); !errors.Is(err, context.Canceled) {
		t.Fatalf("a full folder window let a fourth folder in: %v", err)
	}
	a, _ := w.addObject(ctx, s1, "c")
	b, _ := w.addObject(ctx, s1, "d")
	c, _ := w.addObject(ctx, s2, "a")
	d, _ := w.addObject(ctx, s3, "y")
	if _, err := w.addObject(cancelled, s3, "z"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a full object window let a fifth object in: %v", err)
	}

	check := func(what string, mark source.Position, ahead []aheadMark, idle bool) {
		t.Helper()
		m, ah, id := w.position()
		if m != mark || !reflect.DeepEqual(ah, ahead) || id != idle {
			t.Fatalf("%s: position %+v %+v idle=%v, want %+v %+v idle=%v", what, m, ah, id, mark, ahead, idle)
		}
	}
	check("nothing done", start, []aheadMark{{Folder: f3, Key: "x"}}, false)

	w.objectDone(b)
	w.objectDone(d)
	w.listed(s3)
	check("d of f1 and all of f3 done", start, []aheadMark{{Folder: f3, Done: true}}, false)

	w.objectDone(a)
	check("f1's objects done, its listing not", f1.At("d"), []aheadMark{{Folder: f3, Done: true}}, false)

	w.listed(s1)
	check("f1 done", f1.At("d"), []aheadMark{{Folder: f3, Done: true}}, false)
	if _, err := w.admit(ctx, folder("2026/01/06", "eu-west-1"), "", false); err != nil {
		t.Fatalf("f1's folder slot not given back: %v", err)
	}
	w.objectDone(c)
	check("f2's object done, its listing not", f2.At("a"), []aheadMark{{Folder: f3, Done: true}}, false)
	w.listed(s2)
	n := 0
	w.folders.Pending(func(*folderState, bool) { n++ })
	if n != 1 {
		t.Fatalf("%d folders left in the window, want the last one admitted", n)
	}
	check("f1-f3 done", f3.At("y"), nil, false)

	// A folder an earlier run finished is admitted done.
	w2 := newFolderWindow(2, 2, start)
	w2.admit(ctx, f1, "before", true)
	w2.admit(ctx, f2, "", true)
	if m, ah, idle := w2.position(); m != f2.At("") || ah != nil || !idle {
		t.Fatalf("done folders: %+v %+v %v", m, ah, idle)
	}
}

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

// The progress totals of a backfill: what was listed, extrapolated from the
// folders listed to their end while the listing goes on, exact at its end.
func TestListCountTotals(t *testing.T) {
	var c listCount
	var s progress.Snapshot
	c.totals(&s, false)
	if s.TotalObjects != 0 || s.TotalsKnown || s.TotalsEstimated {
		t.Fatalf("nothing listed: %+v", s)
	}
	count, done := c.folder()
	count(10)
	count(30)
	c.totals(&s, false)
	if s.TotalObjects != 2 || s.TotalStored != 40 || s.TotalsEstimated {
		t.Fatalf("2 objects listed, no folder done: %+v", s)
	}
	done()
	c.todo.Store(10)
	c.totals(&s, false)
	if s.TotalObjects != 20 || s.TotalStored != 400 || !s.TotalsEstimated || s.TotalsKnown {
		t.Fatalf("1 of 10 folders done with 2 objects: want an estimate of 20, got %+v", s)
	}
	count, _ = c.folder() // a large folder still being listed
	for range 30 {
		count(1)
	}
	c.totals(&s, false)
	if s.TotalObjects != 32 {
		t.Fatalf("32 listed: the estimate is at least that, got %+v", s)
	}
	c.totals(&s, true)
	if s.TotalObjects != 32 || s.TotalStored != 70 || !s.TotalsKnown {
		t.Fatalf("listing finished: exact totals, got %+v", s)
	}
}

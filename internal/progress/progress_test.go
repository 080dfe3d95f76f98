package progress

import (
	"strings"
	"testing"
	"time"

	"rootwatch/internal/testutil"
)

func TestBarAndLine(t *testing.T) {
	var c Counters
	var tot Totals
	c.Objects.Store(25)
	c.Stored.Store(25 << 20)
	c.Records.Store(50000)
	tot.Objects.Store(100)
	tot.Stored.Store(100 << 20)
	tot.Known.Store(true)
	s := Read(&c, &tot, 10*time.Second)
	bar, line := s.Bar(false), s.Line("backfill")
	for _, want := range []string{"\r[#######.......................] 25/100 objects", "25.0MiB/100.0MiB", "5000 records/s", "ETA 30s"} {
		if !strings.Contains(bar, want) {
			t.Errorf("bar %q lacks %q", bar, want)
		}
	}
	if strings.HasSuffix(bar, "\n") || !strings.HasSuffix(s.Bar(true), "\n") {
		t.Error("only the final bar ends the line")
	}
	for _, want := range []string{"backfill progress: objects=25/100", "bytes=25.0MiB/100.0MiB", "records_per_s=5000", "eta=30s"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
	tot.Known.Store(false)
	line = Read(&c, &tot, 10*time.Second).Line("backfill")
	if !strings.Contains(line, "objects=25/~100") || !strings.Contains(line, "eta=?") {
		t.Errorf("while totals are counted: %q", line)
	}
	// Estimated totals (not yet known) give an ETA marked as approximate.
	est := Read(&c, &tot, 10*time.Second)
	est.TotalsEstimated = true
	if line := est.Line("backfill"); !strings.Contains(line, "objects=25/~100") || !strings.Contains(line, "eta=~30s") {
		t.Errorf("estimated totals: %q", line)
	}
	// A fleet backfill's work items, when there are any, come first.
	s.TotalItems, s.Items, s.ItemsInFlight = 40, 10, 3
	if line := s.Line("fleet"); !strings.HasPrefix(line, "fleet progress: items=10/40 in_flight=3 objects=25/100") {
		t.Errorf("fleet line %q", line)
	}
	if bar := s.Bar(false); !strings.Contains(bar, "] 10/40 items (3 in flight)  25/100 objects") {
		t.Errorf("fleet bar %q", bar)
	}
	c.Stored.Store(100 << 20)
	tot.Known.Store(true)
	if eta := Read(&c, &tot, time.Second).ETA(); eta != "0s" {
		t.Errorf("all done: ETA %s", eta)
	}
}

func TestReporterPrintsUntilStopped(t *testing.T) {
	var c Counters
	var out testutil.SyncBuffer
	stop := Reporter{W: &out, Every: 10 * time.Millisecond, What: "test"}.Start(func() Snapshot {
		return Read(&c, nil, time.Second)
	})
	c.Objects.Store(7)
	testutil.WaitFor(t, 10*time.Second, "a progress line with the count", func() bool {
		return strings.Contains(out.String(), "test progress: objects=7/")
	})
	c.Objects.Store(8)
	stop()
	stop() // a second stop is harmless
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "objects=8/") {
		t.Errorf("last line %q is not the final count", last)
	}
	n := len(out.String())
	c.Objects.Store(9)
	if len(out.String()) != n {
		t.Error("printed after stop")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 3 << 30: "3.0GiB"} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %s, want %s", n, got, want)
		}
	}
}

package pipeline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPrintProgress(t *testing.T) {
	var d progressCounts
	var tot progressTotals
	d.objects.Store(25)
	d.gz.Store(25 << 20)
	d.records.Store(50000)
	tot.objects.Store(100)
	tot.bytes.Store(100 << 20)
	tot.known.Store(true)
	var bar, line bytes.Buffer
	printProgress(&bar, true, &d, &tot, 10*time.Second, false)
	printProgress(&line, false, &d, &tot, 10*time.Second, false)
	for _, want := range []string{"\r[#######.......................] 25/100 objects", "25.0MiB/100.0MiB", "5000 records/s", "ETA 30s"} {
		if !strings.Contains(bar.String(), want) {
			t.Errorf("bar %q lacks %q", bar.String(), want)
		}
	}
	for _, want := range []string{"objects=25/100", "bytes=25.0MiB/100.0MiB", "records_per_s=5000", "eta=30s"} {
		if !strings.Contains(line.String(), want) {
			t.Errorf("line %q lacks %q", line.String(), want)
		}
	}
	tot.known.Store(false)
	line.Reset()
	printProgress(&line, false, &d, &tot, 10*time.Second, false)
	if !strings.Contains(line.String(), "objects=25/~100") || !strings.Contains(line.String(), "eta=?") {
		t.Errorf("while totals are counted: %q", line.String())
	}
}

func TestLimiter(t *testing.T) {
	l := limiter{rate: 1000}
	start := time.Now()
	for range 5 {
		if err := l.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	// Five calls at 1000/s need at least 4ms between the first and the last.
	if time.Since(start) < 4*time.Millisecond {
		t.Errorf("5 calls at 1000/s took %v", time.Since(start))
	}
}

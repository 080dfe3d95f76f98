// Package progress shows how far a long run has got: a bar redrawn in
// place on a terminal, or a log line every so often elsewhere, with
// objects and bytes done of the total, records per second and an ETA. It
// works on plain counts (a Snapshot), so a backfill in this process and a
// status gathered from elsewhere print the same lines.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"rootwatch/internal/periodic"
)

// Counters are what a run has done so far; safe for concurrent use.
type Counters struct {
	Objects, DeadLettered, Records, Findings atomic.Int64
	// Bytes are decompressed bytes read; Stored are the objects' stored
	// (listed, usually gzipped) sizes, which the totals are counted in.
	Bytes, Stored atomic.Int64
}

// Totals are what the whole run will do, as far as known so far; Known
// says they are final.
type Totals struct {
	Objects, Stored atomic.Int64
	Known           atomic.Bool
}

// Snapshot is one reading of the counters and totals.
type Snapshot struct {
	Objects, DeadLettered, Records, Findings int64
	Bytes, Stored                            int64
	TotalObjects, TotalStored                int64
	TotalsKnown                              bool
	// TotalsEstimated: the totals, not yet known, are an estimate of the
	// whole run (not only what was counted so far), good for an ETA.
	TotalsEstimated bool
	Elapsed         time.Duration
	// Items, TotalItems and ItemsInFlight are a fleet backfill's work items
	// done, planned and being read; zero elsewhere (and then not shown).
	Items, TotalItems, ItemsInFlight int64
}

// Read takes a Snapshot of c and t (t may be nil) after elapsed.
func Read(c *Counters, t *Totals, elapsed time.Duration) Snapshot {
	s := Snapshot{Objects: c.Objects.Load(), DeadLettered: c.DeadLettered.Load(), Records: c.Records.Load(),
		Findings: c.Findings.Load(), Bytes: c.Bytes.Load(), Stored: c.Stored.Load(), Elapsed: elapsed}
	if t != nil {
		s.TotalObjects, s.TotalStored, s.TotalsKnown = t.Objects.Load(), t.Stored.Load(), t.Known.Load()
	}
	return s
}

// RecordsPerSecond is the average record rate so far.
func (s Snapshot) RecordsPerSecond() float64 {
	return float64(s.Records) / max(s.Elapsed.Seconds(), 0.001)
}

// ETA is the time left at the rate so far, by stored bytes; "?" while the
// totals are being counted, "~" before it while they are estimated.
func (s Snapshot) ETA() string {
	switch {
	case !s.TotalsKnown && !s.TotalsEstimated:
		return "?"
	case s.TotalStored <= s.Stored:
		return s.approx() + "0s"
	case s.Stored > 0:
		return s.approx() + time.Duration(float64(s.Elapsed)*float64(s.TotalStored-s.Stored)/float64(s.Stored)).Round(time.Second).String()
	}
	return "?"
}

// Fraction is the share of stored bytes done, in [0, 1].
func (s Snapshot) Fraction() float64 {
	if s.TotalStored <= 0 {
		return 0
	}
	return min(float64(s.Stored)/float64(s.TotalStored), 1)
}

// approx marks totals that are not final: counted or estimated so far.
func (s Snapshot) approx() string {
	if s.TotalsKnown {
		return ""
	}
	return "~"
}

// Bar is the terminal line: it starts with '\r' to redraw in place, and
// ends with a newline only when final.
func (s Snapshot) Bar(final bool) string {
	const width = 30
	n := int(s.Fraction() * width)
	end := ""
	if final {
		end = "\n"
	}
	a := s.approx()
	items := ""
	if s.TotalItems > 0 {
		items = fmt.Sprintf("%d/%s%d items (%d in flight)  ", s.Items, a, s.TotalItems, s.ItemsInFlight)
	}
	return fmt.Sprintf("\r[%s%s] %s%d/%s%d objects  %s/%s%s  %.0f records/s  ETA %s   %s",
		strings.Repeat("#", n), strings.Repeat(".", width-n), items, s.Objects, a, s.TotalObjects,
		HumanBytes(s.Stored), a, HumanBytes(s.TotalStored), s.RecordsPerSecond(), s.ETA(), end)
}

// Line is the log line, named by what (e.g. "backfill").
func (s Snapshot) Line(what string) string {
	a := s.approx()
	items := ""
	if s.TotalItems > 0 {
		items = fmt.Sprintf("items=%d/%s%d in_flight=%d ", s.Items, a, s.TotalItems, s.ItemsInFlight)
	}
	return fmt.Sprintf("%s progress: %sobjects=%d/%s%d bytes=%s/%s%s records=%d findings=%d dead_lettered=%d records_per_s=%.0f eta=%s\n",
		what, items, s.Objects, a, s.TotalObjects, HumanBytes(s.Stored), a, HumanBytes(s.TotalStored), s.Records, s.Findings,
		s.DeadLettered, s.RecordsPerSecond(), s.ETA())
}

// HumanBytes is n in B, KiB, MiB, ...
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Reporter prints snapshots to W: a bar every 500ms when Terminal, else a
// Line every Every (default 30s).
type Reporter struct {
	W        io.Writer
	Terminal bool
	Every    time.Duration
	// What names the run in log lines (default "backfill").
	What string
}

// Start reports snapshot() until the returned stop is called; stop prints
// a last, final report and returns once nothing more is printed.
func (r Reporter) Start(snapshot func() Snapshot) (stop func()) {
	every := r.Every
	if every <= 0 {
		every = 30 * time.Second
	}
	if r.Terminal {
		every = 500 * time.Millisecond
	}
	if r.What == "" {
		r.What = "backfill"
	}
	print := func(final bool) {
		s := snapshot()
		if r.Terminal {
			io.WriteString(r.W, s.Bar(final))
		} else {
			io.WriteString(r.W, s.Line(r.What))
		}
	}
	return periodic.Start(every, print)
}

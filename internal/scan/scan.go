// Package scan is the offline scan: local CloudTrail files (a file or a
// folder, recursive) read in parallel, matched, and written out as findings.
// It is what `ingest --source PATH --sink stdout` runs.
package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
)

// Options configure a scan.
type Options struct {
	// Paths are files or folders; folders are walked recursively for
	// .json, .json.gz, .jsonl and .jsonl.gz files.
	Paths   []string
	Workers int // 0 means runtime.NumCPU()
	Reader  cloudtrail.Options
	// Out receives one Finding JSON object per line. Writes are serialised.
	Out io.Writer
	// OnFinding, if set, is called (from several goroutines) for every finding.
	OnFinding func(match.Finding)
	Logger    *slog.Logger
	Now       func() time.Time
	// Progress, if set, is called about once a second with the running totals.
	Progress func(Summary)
}

// FileError is one file that could not be read completely, and why.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }

// Summary is what a scan did.
type Summary struct {
	Files, Skipped, Records, Findings int64
	Bytes                             int64 // decompressed bytes read
	Errors                            []FileError
	Elapsed                           time.Duration
}

// MBps is the decompressed read rate.
func (s Summary) MBps() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Bytes) / 1e6 / s.Elapsed.Seconds()
}

// String is the one-line summary ingest prints on stderr.
func (s Summary) String() string {
	skipped := ""
	if s.Skipped > 0 {
		skipped = fmt.Sprintf(" (%d skipped)", s.Skipped)
	}
	return fmt.Sprintf("scan: %d files%s, %d records, %d findings, %d errors, %.1f MB in %s (%.1f MB/s)",
		s.Files, skipped, s.Records, s.Findings, len(s.Errors), float64(s.Bytes)/1e6,
		s.Elapsed.Round(time.Millisecond), s.MBps())
}

type counters struct {
	files, skipped, records, findings, bytes atomic.Int64
}

func (c *counters) summary() Summary {
	return Summary{Files: c.files.Load(), Skipped: c.skipped.Load(), Records: c.records.Load(),
		Findings: c.findings.Load(), Bytes: c.bytes.Load()}
}

// Run scans opts.Paths. Per-file failures are in Summary.Errors (one bad
// file never stops the others); the error is only for setup failures (a path
// that does not exist) and cancellation.
func Run(ctx context.Context, opts Options) (Summary, error) {
	start := time.Now()
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, p := range opts.Paths {
		if _, err := os.Stat(p); err != nil {
			return Summary{}, fmt.Errorf("source %s: %w", p, err)
		}
	}
	var (
		c      counters
		outMu  sync.Mutex
		errMu  sync.Mutex
		errs   []FileError
		paths  = make(chan string, 256)
		wg     sync.WaitGroup
		walkEr error
	)
	addErr := func(path string, err error) {
		errMu.Lock()
		errs = append(errs, FileError{Path: path, Err: err})
		errMu.Unlock()
	}
	write := func(b []byte) {
		if opts.Out == nil || len(b) == 0 {
			return
		}
		outMu.Lock()
		defer outMu.Unlock()
		if _, err := opts.Out.Write(b); err != nil {
			opts.Logger.Error("write findings", "err", err)
		}
	}
	for i := 0; i < opts.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{opts: opts, c: &c, write: write}
			for p := range paths {
				if ctx.Err() != nil {
					continue
				}
				if err := w.file(ctx, p); err != nil {
					addErr(p, err)
					opts.Logger.Warn("file could not be read completely", "path", p, "err", err)
				}
			}
			w.flush()
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if opts.Progress == nil {
			return
		}
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				s := c.summary()
				s.Elapsed = time.Since(start)
				opts.Progress(s)
			}
		}
	}()
	for _, root := range opts.Paths {
		walkEr = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				addErr(path, err)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if d.IsDir() {
				return nil
			}
			// A file named on the command line is read whatever its name;
			// in folders only log-file names are picked up.
			if path != root && !cloudtrail.IsLogFileName(d.Name()) {
				return nil
			}
			paths <- path
			return nil
		})
		if walkEr != nil {
			break
		}
	}
	close(paths)
	wg.Wait()
	close(stopProgress)
	<-progressDone
	s := c.summary()
	sort.Slice(errs, func(i, j int) bool { return errs[i].Path < errs[j].Path })
	s.Errors = errs
	s.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return s, err
	}
	if walkEr != nil {
		return s, walkEr
	}
	return s, nil
}

// worker reads files one at a time and batches its findings' output.
type worker struct {
	opts  Options
	c     *counters
	write func([]byte)
	buf   bytes.Buffer
	enc   *json.Encoder
}

func (w *worker) flush() {
	w.write(w.buf.Bytes())
	w.buf.Reset()
}

func (w *worker) file(ctx context.Context, path string) error {
	key := filepath.ToSlash(path)
	if cloudtrail.IsDigest(key) {
		w.c.skipped.Add(1)
		w.opts.Logger.Debug("skipping CloudTrail digest file", "path", path)
		return nil
	}
	insight := false
	if k, ok := cloudtrail.ParseKey(key); ok {
		insight = k.Kind == cloudtrail.KindInsight
	} else {
		insight = strings.Contains(key, "_CloudTrail-Insight_")
	}
	r, err := cloudtrail.OpenFile(path, w.opts.Reader)
	if err != nil {
		w.c.files.Add(1)
		return err
	}
	defer r.Close()
	w.c.files.Add(1)
	obj := match.ObjectRef{Key: path}
	var records, lastBytes int64
	defer func() { w.c.bytes.Add(r.BytesRead() - lastBytes) }()
	for {
		raw, err := r.Next()
		if err != nil {
			w.c.records.Add(records % 1024)
			w.flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		records++
		if records%1024 == 0 {
			w.c.records.Add(1024)
			b := r.BytesRead()
			w.c.bytes.Add(b - lastBytes)
			lastBytes = b
			if ctx.Err() != nil {
				w.flush()
				return ctx.Err()
			}
		}
		if !match.IsRoot(raw) { // most records: stop before reading the clock
			continue
		}
		f, ok := match.Find(raw, obj, w.opts.Now())
		if !ok {
			continue
		}
		f.Insight = insight
		w.c.findings.Add(1)
		if w.opts.OnFinding != nil {
			w.opts.OnFinding(f)
		}
		if w.opts.Out != nil {
			if w.enc == nil {
				w.enc = json.NewEncoder(&w.buf)
				w.enc.SetEscapeHTML(false) // keep the record's bytes as they were
			}
			if err := w.enc.Encode(f); err != nil {
				return fmt.Errorf("encode finding %s: %w", f.EventID, err)
			}
			if w.buf.Len() > 64<<10 {
				w.flush()
			}
		}
	}
}

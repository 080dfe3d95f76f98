// Package scan is the offline scan, `ingest --source PATH --sink stdout`:
// the pipeline's local run (pipeline.RunLocal, the same object reader as
// streaming ingest) into a stdout sink, and the summary a person reads.
package scan

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/sink"
)

// Options configure a scan.
type Options struct {
	// Paths are files or folders; folders are walked recursively for
	// .json, .json.gz, .jsonl and .jsonl.gz files (source.WalkLocal).
	Paths   []string
	Workers int // 0 means runtime.NumCPU()
	Reader  cloudtrail.Options
	// Out receives one Finding JSON object per line (nil: discarded).
	Out    io.Writer
	Logger *slog.Logger
	Now    func() time.Time
}

// FileError is one file that could not be read completely, and why.
type FileError struct {
	Path string
	Err  error // the cause, without the path
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

// Run scans o.Paths. Per-file failures are in Summary.Errors (one bad file
// never stops the others, and the records before the damage in a file are
// still matched); the error is for setup failures (a path that does not
// exist), a failed write of the findings, and cancellation.
func Run(ctx context.Context, o Options) (Summary, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.NumCPU()
	}
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	// Unreadable files are named in Summary.Errors; their DLQ entries would
	// say the same again.
	s := sink.NewStdout(out, io.Discard)
	ls, err := pipeline.RunLocal(ctx, pipeline.LocalRun{Paths: o.Paths, Common: pipeline.Common{
		Sink: s, Logger: o.Logger, Reader: o.Reader, Workers: o.Workers, Now: o.Now}})
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write findings: %w", cerr)
	}
	return Summarize(ls), err
}

// Summarize is the Summary of a pipeline.RunLocal.
func Summarize(ls pipeline.ListSummary) Summary {
	sum := Summary{Files: ls.Objects, Skipped: ls.Skipped, Records: ls.Records, Findings: ls.Findings, Bytes: ls.Bytes, Elapsed: ls.Elapsed}
	for _, r := range ls.Failed {
		sum.Errors = append(sum.Errors, FileError{Path: r.Ref.Key, Err: pipeline.Cause(r.Err)})
	}
	return sum
}

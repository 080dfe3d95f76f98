// Package scan is the offline scan, `ingest --source PATH --sink stdout`:
// the pipeline's local run (pipeline.RunLocal, the same object reader as
// streaming ingest) into a stdout sink, and the summary a person reads.
package scan

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
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
	// RootFindings and SessionFindings split Findings by rule when the
	// scan counted them (Run does): root activity (cis-root) and
	// sts:AssumeRoot calls (root-session-issued), which are not root use.
	RootFindings, SessionFindings int64
	Bytes                         int64 // decompressed bytes read
	Errors                        []FileError
	Elapsed                       time.Duration
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
	split := ""
	if s.RootFindings+s.SessionFindings == s.Findings && s.Findings > 0 {
		split = fmt.Sprintf(" (%d root activity, %d root sessions issued)", s.RootFindings, s.SessionFindings)
	}
	return fmt.Sprintf("scan: %d files%s, %d records, %d findings%s, %d errors, %.1f MB in %s (%.1f MB/s)",
		s.Files, skipped, s.Records, s.Findings, split, len(s.Errors), float64(s.Bytes)/1e6,
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
	s := &ruleCounter{Sink: sink.NewStdout(out, io.Discard)}
	ls, err := pipeline.RunLocal(ctx, pipeline.LocalRun{Paths: o.Paths, Common: pipeline.Common{
		Sink: s, Logger: o.Logger, Reader: o.Reader, Workers: o.Workers, Now: o.Now}})
	if cerr := s.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("write findings: %w", cerr)
	}
	sum := Summarize(ls)
	sum.RootFindings, sum.SessionFindings = s.root.Load(), s.session.Load()
	return sum, err
}

// ruleCounter counts the findings written through it by rule, so that
// the summary never counts an AssumeRoot call as root activity.
type ruleCounter struct {
	sink.Sink
	root, session atomic.Int64
}

func (c *ruleCounter) Write(ctx context.Context, t sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	if t == sink.TopicFindings {
		for i := range msgs {
			if ruleOf(msgs[i].Value) == match.RuleRootSessionIssued {
				c.session.Add(1)
			} else {
				c.root.Add(1)
			}
		}
	}
	return c.Sink.Write(ctx, t, msgs, ack)
}

var ruleField = []byte(`"rule":"`)

// ruleOf reads the rule of an encoded finding without decoding it: its
// first "rule" key is the finding's own (the embedded record comes after
// it, and inside a JSON string a quote is escaped). No rule means cis-root.
func ruleOf(finding []byte) match.Rule {
	i := bytes.Index(finding, ruleField)
	if i < 0 {
		return match.RuleCISRoot
	}
	v := finding[i+len(ruleField):]
	if j := bytes.IndexByte(v, '"'); j >= 0 {
		return match.Rule(v[:j])
	}
	return match.RuleCISRoot
}

// Summarize is the Summary of a pipeline.RunLocal.
func Summarize(ls pipeline.ListSummary) Summary {
	sum := Summary{Files: ls.Objects, Skipped: ls.Skipped, Records: ls.Records, Findings: ls.Findings, Bytes: ls.Bytes, Elapsed: ls.Elapsed}
	for _, r := range ls.Failed {
		sum.Errors = append(sum.Errors, FileError{Path: r.Ref.Key, Err: pipeline.Cause(r.Err)})
	}
	return sum
}

// Command demo runs the whole rootwatch pipeline in one process on embedded
// parts, so that `make demo` shows it work with nothing but Go: an
// in-process Kafka broker (kfake), an in-process S3 (gofakes3) filled with
// generated CloudTrail logs, their S3 event notifications on an in-process
// queue behind the SQS API the ingester uses, the real ingest pipeline into
// Kafka, and the real alert service with a console and a webhook channel.
// It prints each alert as it is dispatched, checks every result against
// the generator's truth, and ends with one summary line; it exits 1 when a
// check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// cli parses flags, runs the demo and returns the exit status.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var size int64
	var verbose bool
	fs.Uint64Var(&o.Seed, "seed", 42, "generator seed (the same seed writes the same logs)")
	fs.Int64Var(&size, "size-mb", 6, "megabytes of CloudTrail logs to generate (uncompressed)")
	fs.Float64Var(&o.RootShare, "root-share", 0.002, "share of records that are root activity")
	fs.DurationVar(&o.Timeout, "timeout", 2*time.Minute, "give up after this long")
	fs.StringVar(&o.Serve, "serve", "", "after the run, serve alert's status page (/), /metrics and /api/root-last-used here, e.g. 127.0.0.1:9102, until Ctrl-C")
	fs.BoolVar(&verbose, "v", false, "log what ingest and alert do (info level)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 || size <= 0 {
		fmt.Fprintln(stderr, "usage: demo [--seed N] [--size-mb N] [--root-share F] [--serve addr] [-v]")
		return 2
	}
	o.Size = size << 20
	o.LogLevel = slog.LevelWarn
	if verbose {
		o.LogLevel = slog.LevelInfo
	}
	sum, err := run(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "demo: FAILED: %v\n", err)
	}
	fmt.Fprintln(stdout, sum)
	if err != nil {
		return 1
	}
	return 0
}

// Command demo runs the whole rootwatch pipeline in one process on embedded
// parts, so that `make demo` shows it work with nothing but Go: an
// in-process Kafka broker (kfake), an in-process S3 (gofakes3) filled with
// generated CloudTrail logs, their S3 event notifications on an in-process
// queue behind the SQS API the ingester uses, the real ingest pipeline into
// Kafka, and the real alert service with a console and a webhook channel.
// One root call also arrives through the real-time path (its EventBridge
// event first, its log file later) and must page once. It prints each
// alert as it is dispatched, checks every result against the generator's
// truth, and ends with one summary line; it exits 1 when a check fails.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"rootwatch/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runArgs(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `Usage: demo [flags]

Runs the whole pipeline in one process (an embedded Kafka broker and S3,
generated CloudTrail logs, ingest, alert), prints each root alert as it is
dispatched, checks every result against the generator's truth and ends with
one summary line. Exit status 1 when a check fails.`

// runArgs parses flags, runs the demo and returns the exit status.
func runArgs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o options
	var sizeMB int64
	var verbose bool
	cmd := &cli.Command{Name: "demo", Usage: usageText}
	cmd.Uint64(&o.Seed, "seed", 42, "generator seed (the same seed writes the same logs)")
	cmd.Int64(&sizeMB, "size-mb", 6, "megabytes of CloudTrail logs to generate (uncompressed)")
	cmd.Float(&o.RootShare, "root-share", 0.002, "share of records that are root activity")
	cmd.Duration(&o.Timeout, "timeout", 2*time.Minute, "give up after this long")
	cmd.Duration(&o.S3Delay, "s3-delay", 2*time.Second, "how long after its EventBridge event the log file of the root call shown by both paths arrives (CloudTrail's ~5 minutes, shortened)")
	cmd.String(&o.Serve, "serve", "", "after the run, serve alert's status page (/), /metrics and /api/root-last-used here, e.g. 127.0.0.1:9102, until Ctrl-C")
	cmd.Bool(&verbose, "v", "log what ingest and alert do (--log-level info)")
	cmd.Logging(&o.LogLevel, &o.LogFormat, "warn")
	if code, ok := cmd.Parse(args, nil, stdout, stderr); !ok {
		return code
	}
	if sizeMB <= 0 {
		return cmd.Fail(stderr, fmt.Errorf("--size-mb: want 1 or more, got %d", sizeMB))
	}
	if verbose && !cmd.IsSet("log-level") {
		o.LogLevel = "info"
	}
	o.Size = sizeMB << 20
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

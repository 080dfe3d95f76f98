// Command ingest reads CloudTrail log files — named by S3 notifications on
// SQS, listed in an S3 backfill, or local — splits and matches their
// records, and writes records, root-activity findings and dead letters to
// Kafka (or findings to stdout). Flags and config only: the work is done in
// internal/pipeline, internal/source and internal/kafka.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"rootwatch/internal/cli"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/kafka"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/scan"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
}

const usageText = `ingest reads CloudTrail log files and writes every record, the root-activity
findings and what could not be read to Kafka (or the findings to stdout).

Usage:
  ingest --source <url-or-path> --sink <kafka|stdout> [--config file] [flags]

Sources:
  sqs://<queue-url or name>   S3 notifications (raw S3 events, SNS-wrapped, EventBridge
                              "Object Created", CloudTrail's SNS log notifications). A message
                              is deleted only after Kafka acknowledged everything it named.
  s3://bucket/prefix?from=YYYY-MM-DD[&to=YYYY-MM-DD][&accounts=a,b][&regions=r1,r2]
                              backfill: finds accounts and regions once, then lists the day folders
                              AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/ in parallel
                              (--list-concurrency, oldest first); --checkpoint makes a stopped
                              backfill resume without reading a finished folder again.
                              With --plan: writes the backfill's work items to cloudtrail.backfill
                              instead, for a fleet of workers.
  kafka://cloudtrail.backfill a fleet backfill worker: reads work items in the consumer group --group,
                              commits an item once Kafka acknowledged all it produced. With
                              --status: how far the fleet is. docs/backfill.md walks through it.
  <file or folder>            local .json, .json.gz, .jsonl, .jsonl.gz files (recursive).

Sinks:
  kafka    topics cloudtrail.records (raw records, key = account), cloudtrail.root-activity
           (findings), cloudtrail.dlq (reason + original notification/object).
  stdout   one Finding JSON per line on stdout, a summary on stderr. With a local path this is
           the offline scan; exit status 1 when any file could not be read (each named on stderr).

Concurrency: two knobs, the defaults sized for an organisation trail on one machine.
  --s3-inflight N    objects fetched from S3 at once (default 128; memory bounded by
                     --s3-inflight-bytes, 64 MiB). S3 waits 10-50 ms before each answer, so
                     objects/s is at most N / latency: 128 at 30 ms is about 4,000/s.
  --workers N        CPU workers that gunzip, split, match and produce (default 0: one
                     per core). More than the cores only adds contention.
  SQS messages in progress (--max-inflight) and backfill folder listings
  (--list-concurrency, 128) follow from these; docs/ingest.md#concurrency.

Kafka TLS and SASL are set in the config file only (kafka.tls, kafka.sasl; the
password from ${ENV} or kafka.sasl.password_file); docs/configuration.md lists
every key.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) int {
	var s settings
	cmd := command(&s)
	if code, ok := cmd.Parse(args, lookup, stdout, stderr); !ok {
		return code
	}
	log := cmd.Logger(stderr)
	if s.CPUProfile != "" {
		f, err := os.Create(s.CPUProfile)
		if err != nil {
			return cmd.Fail(stderr, fmt.Errorf("--cpu-profile: %w", err))
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return cmd.Fail(stderr, fmt.Errorf("--cpu-profile: %w", err))
		}
		defer pprof.StopCPUProfile()
	}
	if err := ingest(ctx, s, stdout, stderr, log); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			return cmd.Fail(stderr, err)
		}
		log.Error("ingest failed", "err", err)
		return 1
	}
	return 0
}

// usageError marks an error in what ingest was told (exit status 2).
type usageError struct{ error }

func ingest(ctx context.Context, s settings, stdout, stderr io.Writer, log *slog.Logger) error {
	// --source and --sink are required and --sink is an enum: the command
	// layer (internal/cli) checked them before this runs.
	readerOpts := cloudtrail.Options{MaxRecordBytes: s.MaxRecordBytes, MaxDecompressedBytes: s.MaxObjectBytes}
	kind := sourceKind(s.Source)
	if err := checkModes(kind, s); err != nil {
		return usageError{err}
	}
	if s.Status {
		return runStatus(ctx, s, stdout, stderr, log)
	}

	// A local path to stdout is the offline scan.
	if kind == "local" && s.Sink == "stdout" {
		sum, err := scan.Run(ctx, scan.Options{Paths: []string{s.Source}, Workers: s.Workers, Reader: readerOpts, Out: stdout, Logger: log})
		if err != nil {
			return err
		}
		return reportLocal(stderr, s.Source, sum)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := pipeline.NewMetrics(reg)
	var ready atomic.Bool
	if s.Listen != "" {
		stopHTTP, err := serveOps(s.Listen, reg, &ready, log)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}

	if s.Plan {
		ready.Store(true)
		return runPlan(ctx, s, stderr, log)
	}

	out, err := newSink(ctx, s, stdout, stderr, metrics, log)
	if err != nil {
		return err
	}
	common := pipeline.Common{Sink: out, Metrics: metrics, Logger: log, Reader: readerOpts,
		Workers: s.Workers, Queue: s.Queue, S3Inflight: s.S3Inflight, S3InflightBytes: s.S3InflightBytes,
		ShutdownGrace: s.ShutdownGrace, S3IdleTimeout: s.S3IdleTimeout, MissingRetries: s.MissingRetries}
	runErr := runSource(ctx, kind, s, common, reg, &ready, stderr, log)
	ready.Store(false)
	if err := out.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("close sink: %w", err)
	}
	if runErr != nil && errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		log.Info("stopped")
		return nil
	}
	return runErr
}

// reportLocal tells the person who read local files what happened: every
// file that could not be read, with its reason, the summary line, and a
// warning when there was no log file to read at all.
func reportLocal(stderr io.Writer, src string, sum scan.Summary) error {
	for _, fe := range sum.Errors {
		fmt.Fprintf(stderr, "ingest: could not read %s: %v\n", fe.Path, fe.Err)
	}
	fmt.Fprintln(stderr, sum.String())
	if sum.Files == 0 {
		skipped := ""
		if sum.Skipped > 0 {
			skipped = fmt.Sprintf(" (%d digest file(s) skipped)", sum.Skipped)
		}
		fmt.Fprintf(stderr, "ingest: warning: no CloudTrail log files in %s%s: looked for .json, .json.gz, .jsonl and .jsonl.gz files\n", src, skipped)
		return fmt.Errorf("no CloudTrail log files in %s", src)
	}
	if len(sum.Errors) > 0 {
		return fmt.Errorf("%d file(s) could not be read", len(sum.Errors))
	}
	return nil
}

func sourceKind(src string) string {
	switch {
	case strings.HasPrefix(src, "sqs://"):
		return "sqs"
	case strings.HasPrefix(src, "s3://"):
		return "s3"
	case strings.HasPrefix(src, "kafka://"):
		return "kafka"
	}
	return "local"
}

func newSink(ctx context.Context, s settings, stdout, stderr io.Writer, m *pipeline.Metrics, log *slog.Logger) (sink.Sink, error) {
	if s.Sink == "stdout" {
		return sink.NewStdout(stdout, stderr), nil
	}
	if err := s.Kafka.Validate(); err != nil {
		return nil, usageError{fmt.Errorf("%w (set --brokers or kafka.brokers)", err)}
	}
	topics := kafka.SinkTopics{Records: s.TopicRecords, Findings: s.TopicFindings, DLQ: s.TopicDLQ}
	names := []string{topics.Findings, topics.DLQ}
	if !s.SkipRecords {
		names = append(names, topics.Records)
	}
	if s.CreateTopics {
		if _, err := kafka.WaitForTopics(ctx, s.Kafka, s.KafkaWait, log); err != nil {
			return nil, err
		}
		var specs []kafka.TopicSpec
		for _, n := range names {
			specs = append(specs, kafka.TopicSpec{Name: n, Partitions: s.Partitions, ReplicationFactor: s.ReplicationFactor})
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := kafka.EnsureTopics(cctx, s.Kafka, specs...)
		cancel()
		if err != nil {
			return nil, err
		}
	}
	if _, err := kafka.WaitForTopics(ctx, s.Kafka, s.KafkaWait, log, names...); err != nil {
		if errors.Is(err, kafka.ErrUnknownTopic) {
			return nil, fmt.Errorf("%w (create it, or run with --create-topics)", err)
		}
		return nil, err
	}
	return kafka.NewSink(s.Kafka, kafka.SinkOptions{
		Topics: topics, SkipRecords: s.SkipRecords, Logger: log, Observe: m.ObserveKafka, MaxInFlightBytes: s.MaxInFlightBytes,
		Writer: kafka.WriterOptions{Compression: s.Compression, CompressionLevel: s.CompressionLevel, BatchSize: s.BatchSize, BatchBytes: s.BatchBytes,
			BatchTimeout: s.BatchTimeout, RequiredAcks: s.RequiredAcks},
	})
}

func awsClients(ctx context.Context, s settings) (*sqs.Client, *s3.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, awsconfig.WithRegion(s.Region))
	}
	// Keep a connection for every request ingest may have in flight (the
	// SDK keeps 10 per host): else most requests would open a new one.
	conns := max(s.S3Inflight, 0) + max(s.ListConcurrency, 0) + 2*max(s.Receivers, 1) + 16
	opts = append(opts, awsconfig.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = 2*conns, conns
	})))
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("aws config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if s.SQSEndpoint != "" {
			o.BaseEndpoint = aws.String(s.SQSEndpoint)
		}
	})
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if s.S3Endpoint != "" {
			o.BaseEndpoint = aws.String(s.S3Endpoint)
		}
		o.UsePathStyle = s.S3PathStyle
		// The gzip trailer's CRC-32 already checks every object read, so
		// the SDK checksums only what S3 requires (a CPU cost per request
		// otherwise, at thousands of requests a second).
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	})
	return sq, s3c, nil
}

func runSource(ctx context.Context, kind string, s settings, common pipeline.Common, reg *prometheus.Registry, ready *atomic.Bool, stderr io.Writer, log *slog.Logger) error {
	switch kind {
	case "local":
		ready.Store(true)
		sum, err := pipeline.RunLocal(ctx, pipeline.LocalRun{Common: common, Paths: []string{s.Source}})
		if err != nil && (ctx.Err() != nil || sum.Objects+sum.Skipped == 0) {
			return err
		}
		if rerr := reportLocal(stderr, s.Source, scan.Summarize(sum)); err == nil {
			err = rerr
		}
		return err

	case "s3":
		spec, err := source.ParseBackfillURL(s.Source, time.Now())
		if err != nil {
			return usageError{err}
		}
		_, s3c, err := awsClients(ctx, s)
		if err != nil {
			return err
		}
		var progress io.Writer
		terminal := false
		switch s.Progress {
		case "auto":
			progress = stderr
			terminal = isTerminal(stderr)
		case "bar":
			progress, terminal = stderr, true
		case "log":
			progress = stderr
		}
		ready.Store(true)
		sum, err := pipeline.RunBackfill(ctx, pipeline.BackfillRun{Common: common, S3: s3c, Spec: spec, ListConcurrency: s.ListConcurrency,
			Checkpoint: s.Checkpoint, Rate: s.Rate, Progress: progress, Terminal: terminal})
		fmt.Fprintf(stderr, "ingest: backfill %d objects, %d records, %d findings, %d dead-lettered, complete=%v\n",
			sum.Objects, sum.Records, sum.Findings, sum.DeadLettered, sum.Complete)
		return err

	case "kafka":
		return runWorker(ctx, s, common, reg, func() { ready.Store(true) }, stderr, log)

	case "sqs":
		sq, s3c, err := awsClients(ctx, s)
		if err != nil {
			return err
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		url, err := source.ResolveQueueURL(rctx, sq, s.Source)
		cancel()
		if err != nil {
			return err
		}
		redeliver := pipeline.DefaultRedeliveryBackoff
		redeliver.Max = s.RetryBackoffMax
		ready.Store(true)
		return pipeline.RunSQS(ctx, pipeline.SQSRun{Common: common, SQS: sq, S3: s3c,
			Source: source.SQSOptions{QueueURL: url, WaitTime: s.WaitTime, VisibilityTimeout: s.Visibility,
				MaxInFlight: s.MaxInFlight, Receivers: s.Receivers},
			MaxReceives: s.MaxReceives,
			Backoff:     redeliver,
			OnSource: func(src *source.SQS) {
				reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rootwatch_ingest_oldest_message_age_seconds",
					Help: "Age (since sent) of the oldest SQS message in progress."}, func() float64 { return src.OldestAge().Seconds() }))
			},
		})
	}
	return nil
}

func isTerminal(w io.Writer) bool { return cli.IsTerminal(w) }

// serveOps serves /metrics, /healthz (the process is up) and /readyz (the
// source and sink are set up and it is not shutting down).
func serveOps(addr string, reg *prometheus.Registry, ready *atomic.Bool, log *slog.Logger) (func(), error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("serving /metrics, /healthz, /readyz", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

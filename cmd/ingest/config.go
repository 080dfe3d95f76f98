package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"rootwatch/internal/config"
	"rootwatch/internal/kafka"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
)

// settings is everything ingest can be told. Each field has a flag, an
// environment variable ROOTWATCH_INGEST_<FLAG> and the config-file key in
// its yaml tag (kafka.* keys under `kafka:`).
type settings struct {
	Source string `yaml:"source"`
	Sink   string `yaml:"sink"`

	Kafka             kafka.Config  `yaml:"kafka"`
	KafkaWait         time.Duration `yaml:"kafka_wait"`
	TopicRecords      string        `yaml:"topic_records"`
	TopicFindings     string        `yaml:"topic_findings"`
	TopicDLQ          string        `yaml:"topic_dlq"`
	SkipRecords       bool          `yaml:"skip_records"`
	CreateTopics      bool          `yaml:"create_topics"`
	Partitions        int           `yaml:"partitions"`
	ReplicationFactor int           `yaml:"replication_factor"`
	Compression       string        `yaml:"compression"`
	BatchSize         int           `yaml:"batch_size"`
	BatchBytes        int64         `yaml:"batch_bytes"`
	MaxInFlightBytes  int64         `yaml:"max_inflight_bytes"`
	BatchTimeout      time.Duration `yaml:"batch_timeout"`
	RequiredAcks      string        `yaml:"required_acks"`

	Region          string        `yaml:"region"`
	SQSEndpoint     string        `yaml:"sqs_endpoint"`
	S3Endpoint      string        `yaml:"s3_endpoint"`
	S3PathStyle     bool          `yaml:"s3_path_style"`
	Workers         int           `yaml:"workers"`
	Queue           int           `yaml:"queue"`
	MaxInFlight     int           `yaml:"max_inflight"`
	WaitTime        time.Duration `yaml:"wait_time"`
	Visibility      time.Duration `yaml:"visibility_timeout"`
	MaxReceives     int           `yaml:"max_receives"`
	RetryBackoffMax time.Duration `yaml:"retry_backoff_max"`
	MissingRetries  int           `yaml:"missing_retries"`
	S3IdleTimeout   time.Duration `yaml:"s3_idle_timeout"`
	ShutdownGrace   time.Duration `yaml:"shutdown_grace"`

	Checkpoint string  `yaml:"checkpoint"`
	Rate       float64 `yaml:"rate"`
	Progress   string  `yaml:"progress"`

	MaxRecordBytes int   `yaml:"max_record_bytes"`
	MaxObjectBytes int64 `yaml:"max_object_bytes"`

	Listen     string `yaml:"listen"`
	LogLevel   string `yaml:"log_level"`
	CPUProfile string `yaml:"cpu_profile"`
}

// defaults are the libraries' own defaults (one place for each), plus
// what only this command decides.
func defaults() settings {
	return settings{
		Kafka:             kafka.Config{ClientID: "rootwatch-ingest"},
		KafkaWait:         kafka.DefaultStartWait,
		TopicRecords:      kafka.TopicRecords,
		TopicFindings:     kafka.TopicRootActivity,
		TopicDLQ:          kafka.TopicDLQ,
		Partitions:        6,
		ReplicationFactor: 3,
		Compression:       kafka.DefaultCompression,
		BatchSize:         kafka.DefaultBatchSize,
		BatchBytes:        kafka.DefaultBatchBytes,
		MaxInFlightBytes:  kafka.DefaultMaxInFlightBytes,
		BatchTimeout:      kafka.DefaultBatchTimeout,
		RequiredAcks:      kafka.DefaultRequiredAcks,
		Workers:           pipeline.DefaultWorkers,
		WaitTime:          source.DefaultWaitTime,
		Visibility:        source.DefaultVisibilityTimeout,
		MaxReceives:       pipeline.DefaultMaxReceives,
		RetryBackoffMax:   pipeline.DefaultRetryBackoffMax,
		MissingRetries:    source.DefaultMissingRetries,
		S3IdleTimeout:     source.DefaultS3IdleTimeout,
		ShutdownGrace:     pipeline.DefaultShutdownGrace,
		Progress:          "auto",
		LogLevel:          "info",
	}
}

// listFlag is a comma-separated list that replaces (not appends) on Set.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

func bind(fs *flag.FlagSet, s *settings) *string {
	cfgPath := fs.String("config", "", "YAML config file; every flag has a key there (flag name with '_' for '-'; brokers and kafka-client-id under kafka:, with kafka.tls and kafka.sasl)")
	fs.StringVar(&s.Source, "source", s.Source, "where CloudTrail files come from: sqs://<queue-url or name>, s3://bucket/prefix?from=YYYY-MM-DD[&to=..&accounts=..&regions=..] (backfill), or a local file or folder")
	fs.StringVar(&s.Sink, "sink", s.Sink, "kafka, or stdout (one Finding JSON per line; summary on stderr)")

	fs.Var(listFlag{&s.Kafka.Brokers}, "brokers", "Kafka bootstrap brokers, comma-separated host:port (config: kafka.brokers)")
	fs.StringVar(&s.Kafka.ClientID, "kafka-client-id", s.Kafka.ClientID, "Kafka client id (config: kafka.client_id)")
	fs.DurationVar(&s.KafkaWait, "kafka-wait", s.KafkaWait, "at start, how long to wait for a Kafka broker to answer, retrying, before failing (0: wait for ever)")
	fs.StringVar(&s.TopicRecords, "topic-records", s.TopicRecords, "topic for every record, raw")
	fs.StringVar(&s.TopicFindings, "topic-findings", s.TopicFindings, "topic for root-activity findings")
	fs.StringVar(&s.TopicDLQ, "topic-dlq", s.TopicDLQ, "topic for what could not be processed")
	fs.BoolVar(&s.SkipRecords, "skip-records", s.SkipRecords, "do not write the records topic (findings and DLQ only)")
	fs.BoolVar(&s.CreateTopics, "create-topics", s.CreateTopics, "create missing topics at start (--partitions, --replication-factor)")
	fs.IntVar(&s.Partitions, "partitions", s.Partitions, "partitions of topics created by --create-topics")
	fs.IntVar(&s.ReplicationFactor, "replication-factor", s.ReplicationFactor, "replication factor of topics created by --create-topics")
	fs.StringVar(&s.Compression, "compression", s.Compression, "Kafka compression: zstd, lz4, snappy, gzip or none")
	fs.IntVar(&s.BatchSize, "batch-size", s.BatchSize, "most messages in one Kafka produce batch")
	fs.Int64Var(&s.BatchBytes, "batch-bytes", s.BatchBytes, "most bytes in one Kafka produce batch")
	fs.Int64Var(&s.MaxInFlightBytes, "max-inflight-bytes", s.MaxInFlightBytes, "most bytes written to Kafka and not yet acknowledged; reading waits beyond it (bounds memory)")
	fs.DurationVar(&s.BatchTimeout, "batch-timeout", s.BatchTimeout, "longest a partial Kafka batch waits")
	fs.StringVar(&s.RequiredAcks, "required-acks", s.RequiredAcks, "Kafka acks: all, one or none")

	fs.StringVar(&s.Region, "region", s.Region, "AWS region (default: from the AWS environment)")
	fs.StringVar(&s.SQSEndpoint, "sqs-endpoint", s.SQSEndpoint, "SQS endpoint URL override (tests, VPC endpoints)")
	fs.StringVar(&s.S3Endpoint, "s3-endpoint", s.S3Endpoint, "S3 endpoint URL override")
	fs.BoolVar(&s.S3PathStyle, "s3-path-style", s.S3PathStyle, "path-style S3 addressing (needed by most S3 stand-ins)")
	fs.IntVar(&s.Workers, "workers", s.Workers, "objects read in parallel")
	fs.IntVar(&s.Queue, "queue", s.Queue, "objects waiting for a worker (0: 2*workers)")
	fs.IntVar(&s.MaxInFlight, "max-inflight", s.MaxInFlight, "SQS messages in progress at once (0: max(2*workers, 10))")
	fs.DurationVar(&s.WaitTime, "wait-time", s.WaitTime, "SQS long-poll wait (at most 20s)")
	fs.DurationVar(&s.Visibility, "visibility-timeout", s.Visibility, "SQS visibility timeout, renewed every third of it while a message is in progress")
	fs.IntVar(&s.MaxReceives, "max-receives", s.MaxReceives, "dead-letter a message received more often than this (0: never)")
	fs.DurationVar(&s.RetryBackoffMax, "retry-backoff-max", s.RetryBackoffMax, "longest a transiently failed message stays invisible (backoff doubles per receive from 1s)")
	fs.IntVar(&s.MissingRetries, "missing-retries", s.MissingRetries, "how often a missing S3 object is asked for again before it is dead-lettered")
	fs.DurationVar(&s.S3IdleTimeout, "s3-idle-timeout", s.S3IdleTimeout, "abandon an S3 read that makes no progress for this long (the object is retried later)")
	fs.DurationVar(&s.ShutdownGrace, "shutdown-grace", s.ShutdownGrace, "on SIGTERM, how long in-flight messages may finish before they are released")

	fs.StringVar(&s.Checkpoint, "checkpoint", s.Checkpoint, "backfill checkpoint file (a stopped backfill resumes from it)")
	fs.Float64Var(&s.Rate, "rate", s.Rate, "backfill: most objects started per second (0: no limit)")
	fs.StringVar(&s.Progress, "progress", s.Progress, "backfill progress: auto (bar on a terminal, else log lines), bar, log or none")

	fs.IntVar(&s.MaxRecordBytes, "max-record-bytes", s.MaxRecordBytes, "largest record accepted (0: 16 MiB)")
	fs.Int64Var(&s.MaxObjectBytes, "max-object-bytes", s.MaxObjectBytes, "largest decompressed object accepted (0: 8 GiB)")

	fs.StringVar(&s.Listen, "listen", s.Listen, "address for /metrics, /healthz and /readyz, e.g. :9108 (empty: off)")
	fs.StringVar(&s.LogLevel, "log-level", s.LogLevel, "debug, info, warn or error")
	fs.StringVar(&s.CPUProfile, "cpu-profile", s.CPUProfile, "write a Go CPU profile of the whole run to this file (for tuning)")
	return cfgPath
}

// parse applies flags, then environment, then the config file underneath
// whatever was set explicitly: flag > environment > config file > default.
func parse(args []string, lookup func(string) (string, bool), usage func(fs *flag.FlagSet)) (settings, error) {
	s := defaults()
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := bind(fs, &s)
	fs.Usage = func() { usage(fs) }
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if err := config.ApplyEnv(fs, envPrefix, lookup); err != nil {
		return s, err
	}
	explicit := config.Explicit(fs)
	if *cfgPath != "" {
		saved := map[string]string{}
		fs.VisitAll(func(f *flag.Flag) {
			if explicit[f.Name] {
				saved[f.Name] = f.Value.String()
			}
		})
		if err := config.Load(*cfgPath, &s); err != nil {
			return s, err
		}
		for name, v := range saved {
			if err := fs.Set(name, v); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}

const envPrefix = "ROOTWATCH_INGEST_"

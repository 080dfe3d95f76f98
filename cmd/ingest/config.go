package main

import (
	"time"

	"rootwatch/internal/cli"
	"rootwatch/internal/fleet"
	"rootwatch/internal/kafka"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
)

// settings is everything ingest can be told: the config file decodes into
// it (its yaml tags are the keys; kafka.* under `kafka:`), and command
// declares a flag and an environment variable for each field that has one.
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
	CompressionLevel  int           `yaml:"compression_level"`
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
	S3Inflight      int           `yaml:"s3_inflight"`
	S3InflightBytes int64         `yaml:"s3_inflight_bytes"`
	ListConcurrency int           `yaml:"list_concurrency"`
	MaxInFlight     int           `yaml:"max_inflight"`
	Receivers       int           `yaml:"receivers"`
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

	Plan               bool          `yaml:"plan"`
	Status             bool          `yaml:"status"`
	TopicBackfill      string        `yaml:"topic_backfill"`
	BackfillPartitions int           `yaml:"backfill_partitions"`
	ItemObjects        int           `yaml:"item_objects"`
	Group              string        `yaml:"group"`
	SessionTimeout     time.Duration `yaml:"session_timeout"`

	MaxRecordBytes int   `yaml:"max_record_bytes"`
	MaxObjectBytes int64 `yaml:"max_object_bytes"`

	Listen     string `yaml:"listen"`
	LogLevel   string `yaml:"log_level"`
	LogFormat  string `yaml:"log_format"`
	CPUProfile string `yaml:"cpu_profile"`
}

// command declares every ingest setting once — its field, flag, default
// and help — and so its environment variable ROOTWATCH_INGEST_<FLAG> and its
// config-file key (the field's yaml path); see internal/cli.
func command(s *settings) *cli.Command {
	c := &cli.Command{Name: "ingest", Usage: usageText, Env: true, File: s}
	c.String(&s.Source, "source", "", "where CloudTrail files come from: sqs://<queue-url or name>, s3://bucket/prefix?from=YYYY-MM-DD[&to=..&accounts=..&regions=..] (backfill), kafka://<plan topic> (a fleet backfill worker), or a local file or folder").Required()
	// --sink is required except with --status (checked in ingest).
	c.Enum(&s.Sink, "sink", "", []string{"kafka", "stdout"}, "kafka, or stdout (one Finding JSON per line; summary on stderr)")

	c.List(&s.Kafka.Brokers, "brokers", nil, "Kafka bootstrap brokers, comma-separated host:port")
	c.String(&s.Kafka.ClientID, "kafka-client-id", "rootwatch-ingest", "Kafka client id")
	c.Duration(&s.KafkaWait, "kafka-wait", kafka.DefaultStartWait, "at start, how long to wait for a Kafka broker to answer, retrying, before failing (0: wait for ever)")
	c.String(&s.TopicRecords, "topic-records", kafka.TopicRecords, "topic for every record, raw")
	c.String(&s.TopicFindings, "topic-findings", kafka.TopicRootActivity, "topic for root-activity findings")
	c.String(&s.TopicDLQ, "topic-dlq", kafka.TopicDLQ, "topic for what could not be processed")
	c.Bool(&s.SkipRecords, "skip-records", "do not write the records topic (findings and DLQ only)")
	c.Bool(&s.CreateTopics, "create-topics", "create missing topics at start (--partitions, --replication-factor)")
	c.Int(&s.Partitions, "partitions", 6, "partitions of topics created by --create-topics")
	c.Int(&s.ReplicationFactor, "replication-factor", 3, "replication factor of topics created by --create-topics")
	c.Enum(&s.Compression, "compression", kafka.DefaultCompression, []string{"zstd", "lz4", "snappy", "gzip", "none"}, "Kafka compression")
	c.Int(&s.CompressionLevel, "compression-level", kafka.DefaultZstdLevel, "zstd level: 1 fastest (about the ratio of 3 on CloudTrail for half the CPU), 3 zstd's default, 7+ smaller and slower")
	c.Int(&s.BatchSize, "batch-size", kafka.DefaultBatchSize, "most messages in one Kafka produce batch")
	c.Int64(&s.BatchBytes, "batch-bytes", kafka.DefaultBatchBytes, "most bytes in one Kafka produce batch")
	c.Int64(&s.MaxInFlightBytes, "max-inflight-bytes", kafka.DefaultMaxInFlightBytes, "most bytes written to Kafka and not yet acknowledged; reading waits beyond it (bounds memory)")
	c.Duration(&s.BatchTimeout, "batch-timeout", kafka.DefaultBatchTimeout, "longest a partial Kafka batch waits")
	c.Enum(&s.RequiredAcks, "required-acks", kafka.DefaultRequiredAcks, []string{"all", "one", "none"}, "Kafka acks")

	c.String(&s.Region, "region", "", "AWS region (default: from the AWS environment)")
	c.String(&s.SQSEndpoint, "sqs-endpoint", "", "SQS endpoint URL override (tests, VPC endpoints)")
	c.String(&s.S3Endpoint, "s3-endpoint", "", "S3 endpoint URL override")
	c.Bool(&s.S3PathStyle, "s3-path-style", "path-style S3 addressing (needed by most S3 stand-ins)")
	c.Int(&s.Workers, "workers", pipeline.DefaultWorkers, "CPU workers: objects gunzipped, split, matched and written at once (0: one per core)")
	c.Int(&s.Queue, "queue", 0, "fetched objects waiting for a CPU worker (0: 2*workers)")
	c.Int(&s.S3Inflight, "s3-inflight", pipeline.DefaultS3Inflight, "objects fetched from S3 at once (requests in flight plus bodies waiting for a worker): hides S3's latency per request; about objects/s x latency, e.g. 128 for 2,500/s at 50 ms")
	c.Int64(&s.S3InflightBytes, "s3-inflight-bytes", pipeline.DefaultS3InflightBytes, "most memory for fetched object bodies (stored size); an object over an eighth of it is streamed, not held")
	c.Int(&s.ListConcurrency, "list-concurrency", source.DefaultListConcurrency, "backfill: day folders listed at once (also accounts whose regions are looked up at once)")
	c.Int(&s.MaxInFlight, "max-inflight", 0, "SQS messages, or fleet backfill work items (kafka://), in progress at once (0: 2*(s3-inflight+workers+queue) for SQS, 32 for kafka://)")
	c.Int(&s.Receivers, "receivers", source.DefaultReceivers, "SQS receives at once (each brings up to 10 messages)")
	c.Duration(&s.WaitTime, "wait-time", source.DefaultWaitTime, "SQS long-poll wait (at most 20s)")
	c.Duration(&s.Visibility, "visibility-timeout", source.DefaultVisibilityTimeout, "SQS visibility timeout, renewed every third of it while a message is in progress")
	c.Int(&s.MaxReceives, "max-receives", pipeline.DefaultMaxReceives, "dead-letter a message received more often than this (0: never)")
	c.Duration(&s.RetryBackoffMax, "retry-backoff-max", pipeline.DefaultRetryBackoffMax, "longest a transiently failed message stays invisible (backoff doubles per receive from 1s)")
	c.Int(&s.MissingRetries, "missing-retries", source.DefaultMissingRetries, "how often a missing S3 object is asked for again before it is dead-lettered")
	c.Duration(&s.S3IdleTimeout, "s3-idle-timeout", source.DefaultS3IdleTimeout, "abandon an S3 read that makes no progress for this long (the object is retried later)")
	c.Duration(&s.ShutdownGrace, "shutdown-grace", pipeline.DefaultShutdownGrace, "on SIGTERM, how long in-flight messages may finish before they are released")

	c.String(&s.Checkpoint, "checkpoint", "", "backfill checkpoint file (a stopped backfill resumes from it)")
	c.Float(&s.Rate, "rate", 0, "backfill: most objects started per second, per process (0: no limit)")
	c.Enum(&s.Progress, "progress", "auto", []string{"auto", "bar", "log", "none"}, "backfill progress (and --status): a bar, log lines, or none; auto: a bar on a terminal, else log lines (--status: one report)")

	c.Bool(&s.Plan, "plan", "with an s3:// backfill source: write its work items to the plan topic (--topic-backfill) for fleet workers instead of reading the objects; resumes where a stopped plan ended")
	c.Bool(&s.Status, "status", "with a kafka:// source: show how far the fleet backfill is (items planned, done, in flight, records, findings, rate, ETA) and exit")
	c.String(&s.TopicBackfill, "topic-backfill", fleet.DefaultTopic, "--plan: the plan topic the work items are written to (workers read it as kafka://<topic>)")
	c.Int(&s.BackfillPartitions, "backfill-partitions", fleet.DefaultPartitions, "partitions of a plan topic created by --create-topics: the most workers that can share a backfill")
	c.Int(&s.ItemObjects, "item-objects", fleet.DefaultItemObjects, "--plan: most objects in one work item (a run of keys in one day folder); a killed worker re-reads its items in flight")
	c.String(&s.Group, "group", fleet.DefaultGroup, "kafka:// source: the consumer group the backfill workers share the plan in")
	c.Duration(&s.SessionTimeout, "session-timeout", fleet.DefaultSessionTimeout, "kafka:// source: how soon the items of a worker that stopped answering move to the others")

	c.Int(&s.MaxRecordBytes, "max-record-bytes", 0, "largest record accepted (0: 16 MiB)")
	c.Int64(&s.MaxObjectBytes, "max-object-bytes", 0, "largest decompressed object accepted (0: 8 GiB)")

	c.String(&s.Listen, "listen", "", "address for /metrics, /healthz and /readyz, e.g. :9108 (empty: off)")
	c.Logging(&s.LogLevel, &s.LogFormat, "info")
	c.String(&s.CPUProfile, "cpu-profile", "", "write a Go CPU profile of the whole run to this file (for tuning)")
	return c
}

// parse merges ingest's settings: flag > environment > config file > default.
func parse(args []string, lookup func(string) (string, bool)) (settings, error) {
	var s settings
	err := command(&s).Merge(args, lookup)
	return s, err
}

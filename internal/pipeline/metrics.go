package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rootwatch/internal/sink"
)

// Metrics are the ingest's Prometheus metrics. Labels never carry object
// keys, bucket names or secrets: only bounded sets (format, reason, topic).
type Metrics struct {
	MessagesReceived  *prometheus.CounterVec // by format
	MessagesDeleted   prometheus.Counter
	MessagesDLQ       *prometheus.CounterVec // by reason
	MessagesReleased  *prometheus.CounterVec // left for redelivery, by reason
	Objects           *prometheus.CounterVec // by result: ok, skipped, failed
	Bytes             prometheus.Counter
	Records           prometheus.Counter
	Findings          prometheus.Counter
	InFlightMessages  prometheus.Gauge
	InFlightObjects   prometheus.Gauge
	FetchInFlight     prometheus.Gauge         // objects in the I/O stage
	FetchBytes        prometheus.Gauge         // bytes it holds
	KafkaWriteSeconds *prometheus.HistogramVec // by topic
	KafkaErrors       *prometheus.CounterVec   // by topic
	RealtimeEvents    *prometheus.CounterVec   // EventBridge CloudTrail events, by result: finding, not-root
}

// NewMetrics registers the metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	const ns = "rootwatch_ingest"
	m := &Metrics{
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_received_total",
			Help: "SQS messages received, by notification format (unknown for unparsable)."}, []string{"format"}),
		MessagesDeleted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "messages_deleted_total",
			Help: "SQS messages deleted after everything they named was acknowledged by Kafka (or dead-lettered)."}),
		MessagesDLQ: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "dlq_total",
			Help: "Entries written to the dead-letter topic, by reason."}, []string{"reason"}),
		MessagesReleased: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "messages_released_total",
			Help: "SQS messages left for redelivery, by reason (transient, shutdown)."}, []string{"reason"}),
		Objects: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "objects_total",
			Help: "Objects processed, by result (ok, skipped, transient, permanent)."}, []string{"result"}),
		Bytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "bytes_total",
			Help: "Decompressed bytes of log files read."}),
		Records: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "records_total",
			Help: "CloudTrail records read."}),
		Findings: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "findings_total",
			Help: "Root-activity findings produced."}),
		InFlightMessages: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "inflight_messages",
			Help: "SQS messages received and not yet settled."}),
		InFlightObjects: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "inflight_objects",
			Help: "Objects being read or awaiting Kafka acknowledgement."}),
		FetchInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "fetch_inflight_objects",
			Help: "Objects being fetched from S3, or fetched and waiting for a worker (at most --s3-inflight)."}),
		FetchBytes: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "fetch_inflight_bytes",
			Help: "Memory reserved for fetched object bodies (at most --s3-inflight-bytes)."}),
		KafkaWriteSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "kafka_write_seconds",
			Help:    "Time from handing a batch to the Kafka writer to its acknowledgement, by topic.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12)}, []string{"topic"}),
		KafkaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "kafka_errors_total",
			Help: "Kafka produce batches that failed after the writer's retries, by topic."}, []string{"topic"}),
		RealtimeEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "realtime_events_total",
			Help: "EventBridge CloudTrail events settled, by result: finding (root activity, written to the findings topic) or not-root (acknowledged; the log file brings the record)."}, []string{"result"}),
	}
	reg.MustRegister(m.MessagesReceived, m.MessagesDeleted, m.MessagesDLQ, m.MessagesReleased, m.Objects,
		m.Bytes, m.Records, m.Findings, m.InFlightMessages, m.InFlightObjects, m.FetchInFlight, m.FetchBytes, m.KafkaWriteSeconds, m.KafkaErrors,
		m.RealtimeEvents)
	return m
}

// ObserveKafka records one batch Kafka answered for (the Observe hook of
// kafka.SinkOptions).
func (m *Metrics) ObserveKafka(t sink.Topic, took time.Duration, err error) {
	m.KafkaWriteSeconds.WithLabelValues(t.String()).Observe(took.Seconds())
	if err != nil {
		m.KafkaErrors.WithLabelValues(t.String()).Inc()
	}
}

package alert

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are alert's Prometheus series, on a registry of their own so that
// several Services (tests, replicas in one process) never collide.
type metrics struct {
	reg          *prometheus.Registry
	findings     *prometheus.CounterVec // by outcome
	bad          *prometheus.CounterVec // by reason
	incidents    prometheus.Counter
	updates      prometheus.Counter
	sends        *prometheus.CounterVec // channel, kind, outcome
	retries      *prometheus.CounterVec // channel
	dlq          *prometheus.CounterVec // reason
	lag          *prometheus.GaugeVec   // partition
	rootLastUsed *prometheus.GaugeVec   // account
	dedupSize    *prometheus.GaugeVec   // partition
	incidentSize *prometheus.GaugeVec   // partition
	sendLatency  prometheus.Histogram
	sessions     prometheus.Gauge       // centralised-root sessions in the fleet view
	joins        *prometheus.CounterVec // when: at-open, late

	// The two paths a root call arrives by (paths.go).
	firstArrivals   *prometheus.CounterVec   // path
	secondCopyDelay *prometheus.HistogramVec // first
	timeToDetect    *prometheus.HistogramVec // path
	timeToNotify    *prometheus.HistogramVec // path
	enriched        prometheus.Counter
}

// pathBuckets cover both paths: EventBridge within seconds, CloudTrail's
// log files every ~5 minutes (15 is not rare), a replay or backfill days.
var pathBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 21600, 86400}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_findings_total",
			Help: "Findings read, by what became of them (opened, updated, duplicate, silenced, allowlisted, unrouted).",
		}, []string{"outcome"}),
		bad: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_bad_messages_total",
			Help: "Messages or lines that were not a valid finding (logged, and sent to the DLQ in Kafka mode).",
		}, []string{"reason"}),
		incidents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rootwatch_alert_incidents_opened_total",
			Help: "Incidents opened (including compliance notifications).",
		}),
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rootwatch_alert_incidents_updated_total",
			Help: "Findings that joined an open incident.",
		}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_sends_total",
			Help: "Notifications by channel, kind and outcome (ok, failed).",
		}, []string{"channel", "kind", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_send_retries_total",
			Help: "Send attempts beyond the first, by channel.",
		}, []string{"channel"}),
		dlq: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_dlq_total",
			Help: "Messages parked in the alert DLQ, by reason (bad-message, delivery).",
		}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rootwatch_alert_consumer_lag",
			Help: "Messages behind the end of the findings topic, by owned partition.",
		}, []string{"partition"}),
		rootLastUsed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rootwatch_root_last_used_timestamp_seconds",
			Help: "Event time of the last root activity seen per account (every account: the fleet view of the state topic).",
		}, []string{"account"}),
		dedupSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rootwatch_alert_dedup_entries",
			Help: "Event IDs remembered for dedup, by owned partition.",
		}, []string{"partition"}),
		incidentSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "rootwatch_alert_open_incidents",
			Help: "Incidents held in state, by owned partition.",
		}, []string{"partition"}),
		sendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "rootwatch_alert_first_send_latency_seconds",
			Help:    "From a finding's arrival in Kafka (message time) to the first successful send of the incident it opened.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
		sessions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "rootwatch_alert_root_sessions",
			Help: "Centralised-root sessions (sts:AssumeRoot) known to the session table, fleet-wide.",
		}),
		joins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_session_joins_total",
			Help: "Session incidents joined with who opened them: at-open (the AssumeRoot call was known first) or late (it arrived after the incident opened, which was then updated).",
		}, []string{"when"}),
		firstArrivals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rootwatch_alert_first_arrivals_total",
			Help: "Root calls (distinct eventIDs) by the path their first finding came by: eventbridge (real time) or s3 (log file).",
		}, []string{"path"}),
		secondCopyDelay: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rootwatch_alert_second_copy_delay_seconds",
			Help:    "From the arrival of a root call's first finding to the arrival of its finding by the other path, by the first path (first=eventbridge: the time the real-time path saved).",
			Buckets: pathBuckets,
		}, []string{"first"}),
		timeToDetect: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rootwatch_alert_time_to_detect_seconds",
			Help:    "A finding's detectedAt minus its eventTime (when ingest saw the call, after it was made), for the first finding of each root call by each path.",
			Buckets: pathBuckets,
		}, []string{"path"}),
		timeToNotify: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rootwatch_alert_time_to_notify_seconds",
			Help:    "From the eventTime of the finding that opened an incident to the incident's first successful notification (any channel), by that finding's path.",
			Buckets: pathBuckets,
		}, []string{"path"}),
		enriched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rootwatch_alert_findings_enriched_total",
			Help: "Stored findings of an incident replaced by the richer copy of the same root call from the log file (no new notification).",
		}),
	}
	m.reg.MustRegister(m.findings, m.bad, m.incidents, m.updates, m.sends, m.retries, m.dlq,
		m.lag, m.rootLastUsed, m.dedupSize, m.incidentSize, m.sendLatency,
		m.firstArrivals, m.secondCopyDelay, m.timeToDetect, m.timeToNotify, m.enriched, m.sessions, m.joins)
	m.reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

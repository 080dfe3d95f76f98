package fleet

import "github.com/prometheus/client_golang/prometheus"

// Metrics are a backfill worker's own metrics, beside the pipeline's
// (objects, records, findings, dead letters): its items, and the fleet's
// progress as it reads it from Kafka. Labels are bounded sets only.
type Metrics struct {
	Items         *prometheus.CounterVec // by result: done, dead-lettered
	InFlight      prometheus.Gauge
	Partitions    prometheus.Gauge
	Commits       *prometheus.CounterVec // by result: ok, error
	FleetItems    *prometheus.GaugeVec   // by state: planned, done
	FleetComplete prometheus.Gauge
}

// NewMetrics registers the metrics on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	const ns, sub = "rootwatch_ingest", "backfill"
	m := &Metrics{
		Items: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "items_total",
			Help: "Backfill work items this worker finished, by result (done; dead-lettered: the item itself could not be read)."}, []string{"result"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "items_inflight",
			Help: "Backfill work items this worker is reading."}),
		Partitions: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "partitions",
			Help: "Plan topic partitions assigned to this worker."}),
		Commits: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "commits_total",
			Help: "Offset commits of done items, by result (ok, error)."}, []string{"result"}),
		FleetItems: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "fleet_items",
			Help: "The whole fleet's work items, as read from Kafka, by state (planned, done: committed by the group)."}, []string{"state"}),
		FleetComplete: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "fleet_complete",
			Help: "1 once the plan is complete and every item is done."}),
	}
	reg.MustRegister(m.Items, m.InFlight, m.Partitions, m.Commits, m.FleetItems, m.FleetComplete)
	return m
}

// observe sets the fleet gauges from a status.
func (m *Metrics) observe(s Status) {
	m.FleetItems.WithLabelValues("planned").Set(float64(s.Planned))
	m.FleetItems.WithLabelValues("done").Set(float64(s.Done))
	if s.Complete() {
		m.FleetComplete.Set(1)
	} else {
		m.FleetComplete.Set(0)
	}
}

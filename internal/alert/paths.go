package alert

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"sort"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"

	"rootwatch/internal/match"
)

// One root call reaches alert twice when the real-time path is set up:
// its finding from EventBridge within seconds (path "eventbridge", no
// object), and its finding from the log file minutes later (path "s3",
// authoritative). Dedup by eventID already makes the first one page and
// the second one silent; this file remembers which path came first, when,
// and in which incident the first copy landed, so that
//   - the second copy replaces the first in the incident when it is richer
//     (the log file's copy names its object), without a new notification;
//   - the delay between the two, the time to detect per path and the time
//     to first notification are measured (metrics, status page).
// A root call that only ever arrives through S3 (a region without the
// rule, an event over EventBridge's 256 KB) is an ordinary first copy.

// arrival is what alert keeps about the copies of one event, next to its
// dedup expiry in the state topic (the value of d/<eventID>: 8 bytes of
// expiry, then this as JSON). It is kept only when it says more than the
// 8 bytes do ("first by S3, arrived dedup_ttl before the expiry"), so the
// state of a deployment without the real-time path is written exactly as
// before.
type arrival struct {
	First match.Path `json:"first"`
	// At is when the first copy arrived, unix milliseconds.
	At int64 `json:"at"`
	// Incident is the incident the first copy joined, if any.
	Incident string `json:"inc,omitempty"`
	// Both is true once the other path delivered the event too.
	Both bool `json:"both,omitempty"`
}

// dedupValue is the state value of a dedup entry.
func dedupValue(exp int64, a *arrival) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 96), uint64(exp))
	if a == nil {
		return v
	}
	b, _ := json.Marshal(a) // plain strings and numbers: cannot fail
	return append(v, b...)
}

// parseDedupValue reads a dedup entry's state value (8 bytes of expiry,
// optionally followed by an arrival).
func parseDedupValue(v []byte) (exp int64, a *arrival, err error) {
	if len(v) < 8 {
		return 0, nil, errors.New("bad dedup value")
	}
	exp = int64(binary.BigEndian.Uint64(v))
	if len(v) == 8 {
		return exp, nil, nil
	}
	a = &arrival{}
	if err := json.Unmarshal(v[8:], a); err != nil || (a.First != match.PathS3 && a.First != match.PathEventBridge) {
		return exp, nil, fmt.Errorf("bad arrival in dedup value: %q", excerptOf(v[8:], 80))
	}
	return exp, a, nil
}

// pathOf is the path a finding came by; findings from before paths came by S3.
func pathOf(f *match.Finding) match.Path {
	if f.Path == "" {
		return match.PathS3
	}
	return f.Path
}

// copyResult is what one finding was among the copies of its root call.
type copyResult struct {
	// first: the first copy (by any path); second: the first copy by the
	// other path (the first came by firstPath, delay before).
	first, second bool
	firstPath     match.Path
	delay         time.Duration
	// enriched: the stored copy in the incident was replaced by this one;
	// differs: the two copies were classified differently.
	enriched, differs bool
}

// trackCopies notes f among the copies of its root call after ingest
// decided its outcome. It never changes what is sent: a duplicate stays a
// duplicate; it only records arrivals and may replace the incident's
// stored copy with a richer one (marking the state to be written).
func (s *partState) trackCopies(f *match.Finding, res ingestResult, now time.Time, dedupTTL time.Duration) copyResult {
	path := pathOf(f)
	if res.outcome != OutcomeDuplicate {
		delete(s.arrivals, f.EventID) // left by an entry that expired before the tick removed it
		if path != match.PathS3 {
			a := &arrival{First: path, At: now.UnixMilli()}
			if res.inc != nil {
				a.Incident = res.inc.ID
			}
			s.arrivals[f.EventID] = a // the dedup key is marked already
		}
		return copyResult{first: true}
	}
	a := s.arrivals[f.EventID]
	if a == nil {
		exp, ok := s.dedup[f.EventID]
		if !ok {
			return copyResult{}
		}
		// Written without an arrival: the first copy came from S3 when the
		// entry was made (1 s resolution).
		a = &arrival{First: match.PathS3, At: time.Unix(exp, 0).Add(-dedupTTL).UnixMilli()}
	}
	if a.Both || path == a.First {
		return copyResult{} // a plain duplicate (redelivery, replay, retry)
	}
	a.Both = true
	s.arrivals[f.EventID] = a
	s.mark(prefixDedup + f.EventID)
	r := copyResult{second: true, firstPath: a.First, delay: max(now.Sub(time.UnixMilli(a.At)), 0)}
	if a.Incident != "" {
		r.enriched, r.differs = s.enrich(a.Incident, f)
	}
	return r
}

// richer reports whether copy b of a finding says more than copy a: the
// log file's copy names its object (and is what cloudtrail.records holds),
// and a record kept whole beats one left out for its size.
func richer(b, a *match.Finding) bool {
	if b.Object.Key != "" && a.Object.Key == "" {
		return true
	}
	return a.RecordTruncated && !b.RecordTruncated
}

// enrich replaces the stored copy of f in incident id by f when f is
// richer, keeping its place in the incident (no new notification is owed:
// the incident's count does not change) and the earlier detectedAt.
func (s *partState) enrich(id string, f *match.Finding) (enriched, differs bool) {
	inc := s.incidents[id]
	if inc == nil {
		return false, false
	}
	for i := range inc.Recent {
		old := &inc.Recent[i].Finding
		if old.EventID != f.EventID {
			continue
		}
		nf := *f
		if old.Category == CategoryUnusualTaskPolicy && f.Rule == match.RuleRootSessionIssued && f.Category == match.CategorySessionIssued {
			// The stored copy is the alert ingest made of this AssumeRoot
			// call (noteIssued): the other copy is the same call and gets
			// the same classification.
			nf.Category, nf.Severity = old.Category, old.Severity
		}
		differs = old.Category != nf.Category || old.Severity != nf.Severity
		if !richer(&nf, old) {
			return false, differs
		}
		nf.Record = nil // the state keeps no records
		if !old.DetectedAt.IsZero() && old.DetectedAt.Before(nf.DetectedAt) {
			nf.DetectedAt = old.DetectedAt
		}
		*old = nf
		s.mark(prefixIncident + id)
		return true, differs
	}
	return false, false // no longer among the incident's recent findings
}

// notice is an incident waiting for its first successful notification.
type notice struct {
	path      match.Path
	eventTime time.Time
}

// notePaths records the metrics of one finding's place among the copies
// of its root call, and remembers an incident it opened until its first
// notification is sent.
func (w *worker) notePaths(f *match.Finding, res ingestResult, c copyResult, now time.Time) {
	m := w.svc.m
	path := string(pathOf(f))
	if c.first || c.second {
		if !f.DetectedAt.IsZero() && !f.EventTime.IsZero() {
			m.timeToDetect.WithLabelValues(path).Observe(max(f.DetectedAt.Sub(f.EventTime).Seconds(), 0))
		}
	}
	if c.first {
		m.firstArrivals.WithLabelValues(path).Inc()
		if res.outcome == OutcomeOpened && res.inc != nil {
			w.notices[res.inc.ID] = notice{path: pathOf(f), eventTime: f.EventTime}
		}
	}
	if c.second {
		m.secondCopyDelay.WithLabelValues(string(c.firstPath)).Observe(c.delay.Seconds())
		if c.enriched {
			m.enriched.Inc()
		}
		log := w.log.Info
		if c.differs {
			log = w.log.Warn // the S3 copy is authoritative and is kept; say that they disagreed
		}
		log("second copy of a root call absorbed", "eventID", f.EventID, "account", f.AccountID,
			"first", c.firstPath, "then", path, "after", c.delay.Round(time.Millisecond), "enriched", c.enriched, "copiesDiffer", c.differs)
	}
}

// noteNotified observes the time to first notification of an incident
// whose first notification was just sent.
func (w *worker) noteNotified(incID string, at time.Time) {
	n, ok := w.notices[incID]
	if !ok {
		return
	}
	delete(w.notices, incID)
	if !n.eventTime.IsZero() {
		w.svc.m.timeToNotify.WithLabelValues(string(n.path)).Observe(max(at.Sub(n.eventTime).Seconds(), 0))
	}
}

// pruneNotices forgets incidents that left the state without a successful
// notification (every channel parked, then expired).
func (w *worker) pruneNotices() {
	for id := range w.notices {
		if w.st.incidents[id] == nil {
			delete(w.notices, id)
		}
	}
}

// PathStat is one path's line of PathStats.
type PathStat struct {
	Path string `json:"path"`
	// First is how many root calls arrived first by this path; ThenOther
	// how many of those arrived by the other path afterwards, and
	// OtherLater how much later (mean, median and 90th percentile,
	// seconds; NaN when none).
	First          float64 `json:"first"`
	ThenOther      float64 `json:"thenOther"`
	OtherLaterMean float64 `json:"otherLaterMean"`
	OtherLaterP50  float64 `json:"otherLaterP50"`
	OtherLaterP90  float64 `json:"otherLaterP90"`
	// Detected is how many findings came by this path as the first copy
	// of their root call by it; DetectP50/P90 their time to detect.
	Detected  float64 `json:"detected"`
	DetectP50 float64 `json:"detectP50"`
	DetectP90 float64 `json:"detectP90"`
	// Notified is how many incidents opened by this path were notified;
	// NotifyP50/P90 their time from eventTime to first notification.
	Notified  float64 `json:"notified"`
	NotifyP50 float64 `json:"notifyP50"`
	NotifyP90 float64 `json:"notifyP90"`
}

// PathStats is how root calls arrived by each path since this process
// started (the status page, the demo): the same numbers as /metrics,
// with quantiles estimated from the histograms' buckets.
func (s *Service) PathStats() []PathStat {
	fams, _ := s.m.reg.Gather()
	return pathStats(fams)
}

func pathStats(fams []*dto.MetricFamily) []PathStat {
	byPath := map[string]*PathStat{}
	get := func(p string) *PathStat {
		if byPath[p] == nil {
			byPath[p] = &PathStat{Path: p}
		}
		return byPath[p]
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "rootwatch_alert_first_arrivals_total":
				get(label(m, "path")).First = m.GetCounter().GetValue()
			case "rootwatch_alert_second_copy_delay_seconds":
				ps := get(label(m, "first"))
				ps.ThenOther = float64(m.GetHistogram().GetSampleCount())
				ps.OtherLaterMean = m.GetHistogram().GetSampleSum() / ps.ThenOther
				ps.OtherLaterP50, ps.OtherLaterP90 = histQuantile(0.5, m.GetHistogram()), histQuantile(0.9, m.GetHistogram())
			case "rootwatch_alert_time_to_detect_seconds":
				ps := get(label(m, "path"))
				ps.Detected = float64(m.GetHistogram().GetSampleCount())
				ps.DetectP50, ps.DetectP90 = histQuantile(0.5, m.GetHistogram()), histQuantile(0.9, m.GetHistogram())
			case "rootwatch_alert_time_to_notify_seconds":
				ps := get(label(m, "path"))
				ps.Notified = float64(m.GetHistogram().GetSampleCount())
				ps.NotifyP50, ps.NotifyP90 = histQuantile(0.5, m.GetHistogram()), histQuantile(0.9, m.GetHistogram())
			}
		}
	}
	out := make([]PathStat, 0, len(byPath))
	for _, ps := range byPath {
		out = append(out, *ps)
	}
	// The real-time path first.
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// histQuantile estimates the q-quantile of a histogram as Prometheus's
// histogram_quantile does: linear interpolation inside the bucket that
// holds it (the highest finite bound when it falls in +Inf). NaN when the
// histogram is empty.
func histQuantile(q float64, h *dto.Histogram) float64 {
	total := float64(h.GetSampleCount())
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, cum := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if cum >= rank {
			if cum == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(cum-below)
		}
		lower, below = upper, cum
	}
	return lower
}

// The status page's section on the two paths (a part of statusTemplate).
var _ = template.Must(statusTemplate.New("paths").Funcs(template.FuncMap{"secs": secs}).Parse(`
<section id="paths">
<h2>Paths: real time (EventBridge) and log files (S3)</h2>
{{if .Paths}}
<table>
<thead><tr><th>Path</th><th class="num">Root calls first by it</th><th class="num">Then by the other path</th><th>The other path later by (p50 / p90)</th><th>Time to detect (p50 / p90)</th><th>Time to first notification (p50 / p90)</th></tr></thead>
<tbody>
{{range .Paths}}<tr>
<td><code>{{.Path}}</code></td>
<td class="num">{{num .First}}</td>
<td class="num">{{num .ThenOther}}</td>
<td>{{secs .OtherLaterP50}} / {{secs .OtherLaterP90}}</td>
<td>{{secs .DetectP50}} / {{secs .DetectP90}} <span class="muted">({{num .Detected}})</span></td>
<td>{{secs .NotifyP50}} / {{secs .NotifyP90}} <span class="muted">({{num .Notified}})</span></td>
</tr>
{{end}}</tbody>
</table>
<p class="muted">A root call pages on its first finding; the copy from the other path is absorbed (the log file's copy, which names its object, replaces the real-time one in the incident). Percentiles are estimated from the histograms' buckets, since this process started.</p>
{{else}}<p class="muted">No finding read yet.</p>{{end}}
</section>
`))

// secs says a duration in seconds the way a person reads it; "—" for none.
func secs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v < 60:
		return strconv.FormatFloat(v, 'f', 1, 64) + " s"
	case v < 3600:
		return strconv.FormatFloat(v/60, 'f', 1, 64) + " min"
	}
	return strconv.FormatFloat(v/3600, 'f', 1, 64) + " h"
}

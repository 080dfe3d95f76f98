package alert

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// copies returns the real-time and the log-file copy of one root call:
// the same record, the first without an object and detected seconds
// after the call, the second naming its log file minutes after.
func copies(acct string, i int) (eb, s3 match.Finding) {
	s3 = finding(acct, "198.51.100.9", match.CategoryConsoleLogin, i)
	s3.Severity = match.SeverityCritical
	s3.Path = match.PathS3
	s3.DetectedAt = s3.EventTime.Add(6 * time.Minute)
	eb = s3
	eb.Path = match.PathEventBridge
	eb.Object = match.ObjectRef{}
	eb.DetectedAt = eb.EventTime.Add(3 * time.Second)
	return eb, s3
}

// The dedup entry remembers which path came first, when and where; it
// survives a restore; the second path's copy is a duplicate that replaces
// the stored real-time copy (keeping its place, count and earlier
// detectedAt) without owing a notification; a third copy is a plain
// duplicate. An S3-first entry is written in the 8-byte format of before.
func TestTrackCopiesAcrossPathsAndRestore(t *testing.T) {
	s, err := New(testConfig(t, "source: \"-\"\nchannels: [{name: chat, type: console}]\nroutes: [{channels: [chat]}]\n"), Options{Logger: testLogger(t), Channels: map[string]channel.Channel{"chat": noop{}}})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	st := newPartState(0)
	ebA, s3A := copies("111122223333", 1)
	ebB, s3B := copies("444455556666", 2)

	res := st.ingest(s.rules, &s.params, &ebA, t0, nil)
	if c := st.trackCopies(&ebA, res, t0, s.params.dedupTTL); !c.first || res.outcome != OutcomeOpened {
		t.Fatalf("first copy: %+v, outcome %s", c, res.outcome)
	}
	incA := res.inc
	res = st.ingest(s.rules, &s.params, &s3B, t0, nil)
	st.trackCopies(&s3B, res, t0, s.params.dedupTTL)
	for _, d := range incA.Out {
		d.Sent, d.N = incA.Count, 1 // the page went out
	}
	st.mark(prefixIncident + incA.ID)
	recs, err := st.records()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		switch r.Key {
		case prefixDedup + s3B.EventID:
			if len(r.Value) != 8 {
				t.Errorf("an S3-first dedup entry is %d bytes, want the 8 of before", len(r.Value))
			}
		case prefixDedup + ebA.EventID:
			if len(r.Value) <= 8 || !strings.Contains(string(r.Value[8:]), `"first":"eventbridge"`) {
				t.Errorf("an EventBridge-first dedup entry does not say so: %q", r.Value)
			}
		}
	}

	// Restart: the state is restored from what was written.
	back := newPartState(0)
	for _, r := range recs {
		if err := back.apply(r, t0); err != nil {
			t.Fatal(err)
		}
	}
	back.finishRestore()
	if a := back.arrivals[ebA.EventID]; a == nil || a.First != match.PathEventBridge || a.Incident != incA.ID || a.At != t0.UnixMilli() {
		t.Fatalf("arrival not restored: %+v", a)
	}

	t1 := t0.Add(7 * time.Minute)
	res = back.ingest(s.rules, &s.params, &s3A, t1, nil)
	c := back.trackCopies(&s3A, res, t1, s.params.dedupTTL)
	if res.outcome != OutcomeDuplicate || !c.second || c.firstPath != match.PathEventBridge || c.delay != 7*time.Minute || !c.enriched || c.differs {
		t.Fatalf("the log file's copy: outcome %s, %+v", res.outcome, c)
	}
	inc := back.incidents[incA.ID]
	got := inc.Recent[0].Finding
	if inc.Count != 1 || got.Path != match.PathS3 || got.Object != s3A.Object || !got.DetectedAt.Equal(ebA.DetectedAt) || got.Record != nil {
		t.Fatalf("stored copy after the merge: count %d, %+v", inc.Count, got)
	}
	for name, d := range inc.Out {
		if k, due, _ := inc.due(d, t1, time.Second, 0, time.Hour); due {
			t.Errorf("the merge made %s owe a %s", name, k)
		}
	}
	if _, dirty := back.dirty[prefixIncident+incA.ID]; !dirty {
		t.Error("the enriched incident is not written to the state")
	}
	// A redelivery of either copy is a plain duplicate now.
	for _, f := range []match.Finding{s3A, ebA} {
		res = back.ingest(s.rules, &s.params, &f, t1, nil)
		if c := back.trackCopies(&f, res, t1, s.params.dedupTTL); c.first || c.second {
			t.Errorf("copy %d by %s counted again: %+v", 3, f.Path, c)
		}
	}

	// S3 first (8-byte entry), the real-time copy 20 s later: measured
	// from the entry's expiry, never enriching (S3 is the richer copy).
	t2 := t0.Add(20 * time.Second)
	res = back.ingest(s.rules, &s.params, &ebB, t2, nil)
	c = back.trackCopies(&ebB, res, t2, s.params.dedupTTL)
	if !c.second || c.firstPath != match.PathS3 || c.delay != 20*time.Second || c.enriched {
		t.Fatalf("the late real-time copy: %+v", c)
	}
	recs, _ = back.records()
	for _, r := range recs {
		if r.Key == prefixDedup+ebB.EventID && !strings.Contains(string(r.Value), `"both":true`) {
			t.Errorf("the entry does not remember both paths: %q", r.Value)
		}
	}
	// Expiry drops the arrivals with the entries.
	back.expire(t0.Add(s.params.dedupTTL+time.Minute), time.Hour)
	if len(back.arrivals) != 0 || len(back.dedup) != 0 {
		t.Fatalf("after expiry: %d arrivals, %d dedup entries", len(back.arrivals), len(back.dedup))
	}
}

// A broken arrival does not lose the dedup entry.
func TestParseDedupValue(t *testing.T) {
	v := dedupValue(1234, nil)
	if exp, a, err := parseDedupValue(v); exp != 1234 || a != nil || err != nil || len(v) != 8 {
		t.Fatalf("8-byte value: %d %v %v", exp, a, err)
	}
	v = dedupValue(1234, &arrival{First: match.PathEventBridge, At: 5, Incident: "inc-1"})
	if exp, a, err := parseDedupValue(v); exp != 1234 || a == nil || a.Incident != "inc-1" || err != nil {
		t.Fatalf("with arrival: %d %+v %v", exp, a, err)
	}
	if exp, a, err := parseDedupValue(append(dedupValue(99, nil), `{"first":"carrier-pigeon"}`...)); exp != 99 || a != nil || err == nil {
		t.Fatalf("bad arrival: %d %+v %v", exp, a, err)
	}
	if _, _, err := parseDedupValue([]byte{1, 2}); err == nil {
		t.Fatal("a 2-byte value was accepted")
	}
	st := newPartState(0)
	now := time.Unix(100, 0)
	if err := st.apply(Record{Key: prefixDedup + "e1", Value: append(dedupValue(200, nil), "{oops"...)}, now); err == nil || st.dedup["e1"] != 200 {
		t.Fatalf("a broken arrival: err %v, dedup %v", err, st.dedup)
	}
}

// Through the service: a root call by both paths in either order, and
// one by S3 alone, page once each; the metrics count the first arrivals
// per path, the delay to the second copy, the time to detect per path and
// the time to first notification; the status page shows them.
func TestTwoPathsPageOnceAndAreMeasured(t *testing.T) {
	cfg := testConfig(t, `
source: "-"
grouping: {group_interval: 10ms}
channels: [{name: pager, type: console}]
routes: [{channels: [pager]}]
`)
	pager := newRecorder("pager")
	s := newService(t, cfg, pager)
	ebA, s3A := copies("111122223333", 1) // EventBridge first
	ebB, s3B := copies("444455556666", 2) // S3 first
	_, s3C := copies("777788889999", 3)   // S3 only
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in := lines(t, []match.Finding{ebA, s3B, s3A, ebB, s3C, s3A, ebA})
	if err := s.RunStdin(ctx, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	pages := nonCompliance(pager.notes()) // each account's first root use is also a compliance notice
	seen := map[string]int{}
	for _, n := range pages {
		for _, f := range n.Findings {
			seen[f.EventID]++
		}
	}
	for _, f := range []match.Finding{s3A, s3B, s3C} {
		if seen[f.EventID] != 1 {
			t.Errorf("%s: in %d notifications, want 1", f.EventID, seen[f.EventID])
		}
	}
	if n := len(pages); n != 3 {
		t.Errorf("%d notifications, want 3", n)
	}
	m := s.m
	for path, want := range map[string]float64{"eventbridge": 1, "s3": 2} {
		if got := value(t, m.firstArrivals.WithLabelValues(path)); got != want {
			t.Errorf("first_arrivals_total{path=%s} = %v, want %v", path, got, want)
		}
	}
	if got := value(t, m.enriched); got != 1 {
		t.Errorf("findings_enriched_total = %v, want 1", got)
	}
	h := func(o prometheus.Observer) *dto.Histogram {
		var d dto.Metric
		if err := o.(prometheus.Metric).Write(&d); err != nil {
			t.Fatal(err)
		}
		return d.GetHistogram()
	}
	for _, c := range []struct {
		name  string
		h     *dto.Histogram
		count uint64
		sum   float64
	}{
		{"second_copy_delay{first=eventbridge}", h(m.secondCopyDelay.WithLabelValues("eventbridge")), 1, -1},
		{"second_copy_delay{first=s3}", h(m.secondCopyDelay.WithLabelValues("s3")), 1, -1},
		{"time_to_detect{eventbridge}", h(m.timeToDetect.WithLabelValues("eventbridge")), 2, 6},
		{"time_to_detect{s3}", h(m.timeToDetect.WithLabelValues("s3")), 3, 3 * 360},
		{"time_to_notify{eventbridge}", h(m.timeToNotify.WithLabelValues("eventbridge")), 1, -1},
		{"time_to_notify{s3}", h(m.timeToNotify.WithLabelValues("s3")), 2, -1},
	} {
		if c.h.GetSampleCount() != c.count || (c.sum >= 0 && math.Abs(c.h.GetSampleSum()-c.sum) > 1e-6) {
			t.Errorf("%s: count %d sum %v, want %d and %v", c.name, c.h.GetSampleCount(), c.h.GetSampleSum(), c.count, c.sum)
		}
	}
	stats := s.PathStats()
	if len(stats) != 2 || stats[0].Path != "eventbridge" || stats[0].First != 1 || stats[0].ThenOther != 1 ||
		stats[1].Path != "s3" || stats[1].First != 2 || stats[1].ThenOther != 1 || stats[0].DetectP50 > 5 || stats[1].DetectP50 < 300 {
		t.Fatalf("PathStats %+v", stats)
	}
	var page bytes.Buffer
	if err := statusTemplate.Execute(&page, s.status()); err != nil {
		t.Fatal(err)
	}
	body := page.String()
	for _, want := range []string{`<section id="paths">`, "<code>eventbridge</code>", "<code>s3</code>", "Time to detect"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

func TestHistQuantile(t *testing.T) {
	b := func(ub float64, c uint64) *dto.Bucket { return &dto.Bucket{UpperBound: &ub, CumulativeCount: &c} }
	n := uint64(10)
	h := &dto.Histogram{SampleCount: &n, Bucket: []*dto.Bucket{b(1, 0), b(2, 5), b(5, 10)}}
	if q := histQuantile(0.5, h); q != 2 {
		t.Errorf("p50 = %v, want 2", q)
	}
	if q := histQuantile(0.9, h); math.Abs(q-4.4) > 1e-9 {
		t.Errorf("p90 = %v, want 4.4", q)
	}
	zero := uint64(0)
	if q := histQuantile(0.5, &dto.Histogram{SampleCount: &zero}); !math.IsNaN(q) {
		t.Errorf("empty: %v", q)
	}
	if secs(math.NaN()) != "—" || secs(3) != "3.0 s" || secs(90) != "1.5 min" || secs(7200) != "2.0 h" {
		t.Error("secs")
	}
}

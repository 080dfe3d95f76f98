package alert

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// noop accepts everything.
type noop struct{}

func (noop) Name() string { return "noop" }
func (noop) Send(context.Context, *channel.Notification) (map[string]string, error) {
	return nil, nil
}

const benchConfig = `
source: "-"
grouping: {group_interval: 1s}
channels: [{name: noop, type: console}]
routes: [{match: {min_severity: low}, channels: [noop]}]
`

// BenchmarkIngest: findings/s through dedup, allowlist, silences, routing and
// grouping (state only, decoded findings; 1 in 10 a duplicate).
func BenchmarkIngest(b *testing.B) {
	cfg := testConfig(b, benchConfig)
	s, err := New(cfg, Options{Logger: testLogger(b), Channels: map[string]channel.Channel{"noop": noop{}}})
	if err != nil {
		b.Fatal(err)
	}
	st := newPartState(0)
	fs := make([]match.Finding, 10000)
	for i := range fs {
		fs[i] = finding(fmt.Sprintf("1000000000%02d", i%50), fmt.Sprintf("192.0.2.%d", i%200), match.CategoryMutating, i)
	}
	now := time.Now()
	var chans []string
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		f := &fs[i%len(fs)]
		if i%10 != 9 {
			f.EventID = fmt.Sprint(i) // new event; every 10th repeats the previous id
		}
		st.ingest(s.rules, &s.params, f, now, chans)
		if len(st.dirty) > 4096 {
			st.records()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
}

// BenchmarkStdinPipeline: findings/s end to end in one process: JSON lines
// decoded, deduplicated, grouped, routed and sent to a no-op channel.
func BenchmarkStdinPipeline(b *testing.B) {
	cfg := testConfig(b, benchConfig)
	s, err := New(cfg, Options{Logger: testLogger(b), Channels: map[string]channel.Channel{"noop": noop{}}})
	if err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		for i := range b.N {
			f := finding(fmt.Sprintf("1000000000%02d", i%50), fmt.Sprintf("192.0.2.%d", i%200), match.CategoryMutating, i)
			pw.Write(append(mustJSON(b, f), '\n'))
		}
		pw.Close()
	}()
	b.ResetTimer()
	if err := s.RunStdin(context.Background(), pr); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "findings/s")
}

// BenchmarkKafkaFirstSendLatency measures, under a steady load of new
// incidents produced to kfake, the time from a finding's produce call to the
// first send of the incident it opens. Reported as p50/p99 (ms), not asserted.
// Run: go test -run x -bench KafkaFirstSendLatency -benchtime 1x ./internal/alert
func BenchmarkKafkaFirstSendLatency(b *testing.B) {
	for range b.N {
		p50, p99, n := measureFirstSendLatency(b, 400, 200)
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(n), "incidents")
	}
}

// measureFirstSendLatency produces total findings, each opening its own
// incident, at rate per second, and returns the latency percentiles.
func measureFirstSendLatency(b *testing.B, total, rate int) (p50, p99 time.Duration, n int) {
	b.StopTimer()
	env := newKafkaEnvTB(b)
	cfg := env.config(pagerOnly)
	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	s, err := New(cfg, Options{Logger: testLogger(b), Channels: map[string]channel.Channel{"pager": noopNamed("pager")},
		OnSent: func(ch string, n *channel.Notification, at time.Time) {
			if n.Kind != channel.KindOpen || n.Incident.Category == CategoryCompliance {
				return
			}
			mu.Lock()
			if _, ok := sentAt[n.Findings[0].EventID]; !ok {
				sentAt[n.Findings[0].EventID] = time.Now()
			}
			mu.Unlock()
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunKafka(ctx) }()
	defer func() { cancel(); <-done }()
	testutil.WaitFor(b, 15*time.Second, "ready", s.ready.Load)
	// Warm up: every account seen once, so compliance notices are out of the way.
	var warm []match.Finding
	for a := range 20 {
		warm = append(warm, finding(fmt.Sprintf("2000000000%02d", a), "198.51.100.1", match.CategoryMutating, 0))
	}
	env.produce(warm...)
	testutil.WaitFor(b, 10*time.Second, "warm-up sent", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sentAt) == len(warm)
	})
	mu.Lock()
	clear(sentAt)
	mu.Unlock()
	b.StartTimer()
	producedAt := map[string]time.Time{}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for i := range total {
		<-tick.C
		f := finding(fmt.Sprintf("2000000000%02d", i%20), fmt.Sprintf("203.0.%d.%d", i/250, i%250), match.CategoryMutating, i+1)
		producedAt[f.EventID] = time.Now()
		env.produce(f)
	}
	tick.Stop()
	testutil.WaitFor(b, 20*time.Second, "all first sends", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(sentAt) >= total
	})
	b.StopTimer()
	var lat []time.Duration
	mu.Lock()
	for id, p := range producedAt {
		if s, ok := sentAt[id]; ok {
			lat = append(lat, s.Sub(p))
		}
	}
	mu.Unlock()
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100], len(lat)
}

type noopNamed string

func (n noopNamed) Name() string { return string(n) }
func (noopNamed) Send(context.Context, *channel.Notification) (map[string]string, error) {
	return nil, nil
}

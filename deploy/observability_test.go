package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"rootwatch/internal/pipeline"
)

// recordingRegisterer keeps what is registered on it.
type recordingRegisterer struct{ cs []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.cs = append(r.cs, c)
	return nil
}
func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) { r.cs = append(r.cs, cs...) }
func (r *recordingRegisterer) Unregister(prometheus.Collector) bool    { return false }

var fqNameRe = regexp.MustCompile(`fqName: "([^"]+)"`)

// registeredMetrics are the metric names ingest and alert register: the
// pipeline's through pipeline.NewMetrics itself, cmd/ingest's and alert's
// from their source (alert's registry is private to the package).
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	var rr recordingRegisterer
	pipeline.NewMetrics(&rr)
	for _, c := range rr.cs {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqNameRe.FindStringSubmatch(d.String()); m != nil {
				names[m[1]] = true
			}
		}
	}
	if len(names) < 8 {
		t.Fatalf("pipeline.NewMetrics registered only %v", names)
	}
	nameRe := regexp.MustCompile(`Name:\s*"(rootwatch_[a-z0-9_]+)"`)
	for _, f := range []string{"cmd/ingest/main.go", "internal/alert/metrics.go"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range nameRe.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	for _, must := range []string{"rootwatch_ingest_oldest_message_age_seconds", "rootwatch_alert_sends_total", "rootwatch_alert_consumer_lag"} {
		if !names[must] {
			t.Fatalf("registered metrics lack %s: %v", must, names)
		}
	}
	return names
}

var metricRe = regexp.MustCompile(`\brootwatch_[a-z0-9_]+`)

// unknownMetrics returns the rootwatch_* names in expr that are not
// registered (a histogram's _bucket, _sum and _count series count as its own).
func unknownMetrics(expr string, reg map[string]bool) []string {
	var bad []string
	for _, n := range metricRe.FindAllString(expr, -1) {
		base := n
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(n, suf) && reg[strings.TrimSuffix(n, suf)] {
				base = strings.TrimSuffix(n, suf)
			}
		}
		if !reg[base] {
			bad = append(bad, n)
		}
	}
	return bad
}

// Every metric the Grafana dashboard queries is one the code registers.
func TestGrafanaDashboardQueriesRegisteredMetrics(t *testing.T) {
	reg := registeredMetrics(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy/grafana/rootwatch.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string
		UID    string
		Panels []struct {
			Title   string
			Type    string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("rootwatch.json: %v", err)
	}
	queried := map[string]bool{}
	exprs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs++
			if bad := unknownMetrics(tg.Expr, reg); len(bad) > 0 {
				t.Errorf("panel %q queries unregistered %v", p.Title, bad)
			}
			for _, n := range metricRe.FindAllString(tg.Expr, -1) {
				queried[n] = true
			}
		}
	}
	if d.UID == "" || exprs < 10 {
		t.Fatalf("dashboard: uid %q, %d queries", d.UID, exprs)
	}
	// The signals the runbook is about are on the dashboard.
	for _, n := range []string{"rootwatch_ingest_dlq_total", "rootwatch_ingest_oldest_message_age_seconds", "rootwatch_alert_consumer_lag", "rootwatch_alert_sends_total", "rootwatch_root_last_used_timestamp_seconds",
		// The two paths (docs/realtime.md): time to detect and to notify per path, and the time saved.
		"rootwatch_alert_time_to_detect_seconds_bucket", "rootwatch_alert_time_to_notify_seconds_bucket", "rootwatch_alert_second_copy_delay_seconds_bucket",
		"rootwatch_alert_first_arrivals_total", "rootwatch_ingest_realtime_events_total"} {
		if !queried[n] {
			t.Errorf("dashboard does not show %s", n)
		}
	}
}

// Every alerting rule queries registered metrics and links to a section
// of docs/runbook.md that exists.
func TestAlertRulesAndRunbook(t *testing.T) {
	reg := registeredMetrics(t)
	b, err := os.ReadFile(filepath.Join(root, "deploy/prometheus/rootwatch-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	rb, err := os.ReadFile(filepath.Join(root, "docs/runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{2,3} (.+)$`).FindAllStringSubmatch(string(rb), -1) {
		a := strings.ToLower(strings.TrimSpace(m[1]))
		a = regexp.MustCompile(`[^a-z0-9 -]`).ReplaceAllString(a, "")
		anchors[strings.ReplaceAll(a, " ", "-")] = true
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if bad := unknownMetrics(r.Expr, reg); len(bad) > 0 || len(metricRe.FindAllString(r.Expr, -1)) == 0 {
				t.Errorf("rule %s: expr %q uses unregistered %v", r.Alert, r.Expr, bad)
			}
			u := r.Annotations["runbook_url"]
			anchor := u[strings.Index(u, "#")+1:]
			if !strings.HasPrefix(u, "docs/runbook.md#") || !anchors[anchor] {
				t.Errorf("rule %s: runbook_url %q has no section in docs/runbook.md", r.Alert, u)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d rules", n)
	}
}

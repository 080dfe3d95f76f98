package alert

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"rootwatch/internal/channel"
)

// The status page is what a person opens first (GET /): the incidents
// this replica notified recently, the last root use per account against
// the root_unused_days threshold, and the pipeline's counts and rates.
// Server-rendered with html/template (every value escaped), no scripts,
// no external assets, so it works air-gapped and behind any proxy.

// statusMaxIncidents is how many recent incidents the page keeps.
const statusMaxIncidents = 50

// statusLog remembers the incidents this process notified, newest last,
// fed by the Service's after-send hook.
type statusLog struct {
	mu      sync.Mutex
	started time.Time
	byID    map[string]*statusIncident
	order   []string // incident ids, least recently notified first
}

// statusIncident is one row of "Recent incidents".
type statusIncident struct {
	ID, Title, Severity, Category, Account, Kind string
	Count                                        int
	OpenedAt, LastSent                           time.Time
	Channels                                     []string
}

func newStatusLog(now time.Time) *statusLog {
	return &statusLog{started: now, byID: map[string]*statusIncident{}}
}

// wrap returns an OnSent hook that records into l and then calls next.
func (l *statusLog) wrap(next func(string, *channel.Notification, time.Time)) func(string, *channel.Notification, time.Time) {
	return func(ch string, n *channel.Notification, at time.Time) {
		l.observe(ch, n, at)
		if next != nil {
			next(ch, n, at)
		}
	}
}

func (l *statusLog) observe(ch string, n *channel.Notification, at time.Time) {
	m := channel.Render(n)
	l.mu.Lock()
	defer l.mu.Unlock()
	inc := l.byID[n.Incident.ID]
	if inc == nil {
		inc = &statusIncident{ID: n.Incident.ID, OpenedAt: n.Incident.OpenedAt}
		l.byID[inc.ID] = inc
	} else {
		for i, id := range l.order {
			if id == inc.ID {
				l.order = append(l.order[:i], l.order[i+1:]...)
				break
			}
		}
	}
	l.order = append(l.order, inc.ID)
	if n.Kind == channel.KindOpen || inc.Title == "" {
		inc.Title = m.Title.In(channel.Plain) // html/template escapes it again for HTML
	}
	inc.Severity, inc.Category, inc.Account = string(m.Severity), m.Category.In(channel.Plain), m.Account
	inc.Kind, inc.Count, inc.LastSent = string(n.Kind), max(inc.Count, n.Incident.Count), at
	if !containsString(inc.Channels, ch) {
		inc.Channels = append(inc.Channels, ch)
		sort.Strings(inc.Channels)
	}
	for len(l.order) > statusMaxIncidents {
		delete(l.byID, l.order[0])
		l.order = l.order[1:]
	}
}

// recent returns copies of the incidents, most recently notified first.
func (l *statusLog) recent() []statusIncident {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]statusIncident, 0, len(l.order))
	for i := len(l.order) - 1; i >= 0; i-- {
		inc := *l.byID[l.order[i]]
		inc.Channels = append([]string(nil), inc.Channels...)
		out = append(out, inc)
	}
	return out
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// statusPage is the data of the template.
type statusPage struct {
	Now           time.Time
	Ready         bool
	Uptime        string
	ThresholdDays int
	Accounts      []statusAccount
	Incidents     []statusIncident
	Findings      []statusCount
	FindingsTotal float64
	Sends         []statusSend
	PerMinute     func(float64) string
	Paths         []PathStat // the real-time and log-file paths (paths.go)
}

// statusAccount is one row of the root-use table; the values from
// findings are shown as every channel shows them (channel.Plain).
type statusAccount struct {
	RootLastUsed
	Ago                            string
	AccountID, EventName, SourceIP string
}

type statusCount struct {
	Name  string
	Value float64
}

type statusSend struct {
	Channel, Kind string
	OK, Failed    float64
}

// daysAgo says how long ago in words a person reads at a glance.
func daysAgo(d int) string {
	switch d {
	case 0:
		return "today (0 days ago)"
	case 1:
		return "1 day ago"
	}
	return strconv.Itoa(d) + " days ago"
}

// status gathers the page's data.
func (s *Service) status() statusPage {
	now := s.now()
	p := statusPage{Now: now.UTC(), Ready: s.ready.Load() && !s.killed.Load()}
	ru := s.RootLastUsed()
	p.ThresholdDays = ru.ThresholdDays
	for _, a := range ru.Accounts {
		p.Accounts = append(p.Accounts, statusAccount{RootLastUsed: a, Ago: daysAgo(a.DaysSince),
			AccountID: channel.Untrusted(a.AccountID, 64).In(channel.Plain),
			EventName: channel.Untrusted(a.EventName, 64).In(channel.Plain), SourceIP: channel.Untrusted(a.SourceIP, 64).In(channel.Plain)})
	}
	// Accounts where root was used recently come first.
	sort.SliceStable(p.Accounts, func(i, j int) bool { return p.Accounts[i].Time.After(p.Accounts[j].Time) })
	started := now
	if s.statusLog != nil {
		p.Incidents = s.statusLog.recent()
		started = s.statusLog.started
	}
	up := max(now.Sub(started), time.Second)
	p.Uptime = up.Truncate(time.Second).String()
	p.PerMinute = func(v float64) string { return strconv.FormatFloat(v/up.Minutes(), 'f', 1, 64) }
	fams, _ := s.m.reg.Gather()
	sends := map[[2]string]*statusSend{}
	for _, f := range fams {
		switch f.GetName() {
		case "rootwatch_alert_findings_total":
			for _, m := range f.GetMetric() {
				v := m.GetCounter().GetValue()
				p.Findings = append(p.Findings, statusCount{Name: label(m, "outcome"), Value: v})
				p.FindingsTotal += v
			}
		case "rootwatch_alert_sends_total":
			for _, m := range f.GetMetric() {
				k := [2]string{label(m, "channel"), label(m, "kind")}
				if sends[k] == nil {
					sends[k] = &statusSend{Channel: k[0], Kind: k[1]}
				}
				if label(m, "outcome") == "ok" {
					sends[k].OK += m.GetCounter().GetValue()
				} else {
					sends[k].Failed += m.GetCounter().GetValue()
				}
			}
		}
	}
	p.Paths = pathStats(fams)
	sort.Slice(p.Findings, func(i, j int) bool { return p.Findings[i].Name < p.Findings[j].Name })
	for _, v := range sends {
		p.Sends = append(p.Sends, *v)
	}
	sort.Slice(p.Sends, func(i, j int) bool {
		if p.Sends[i].Channel != p.Sends[j].Channel {
			return p.Sends[i].Channel < p.Sends[j].Channel
		}
		return p.Sends[i].Kind < p.Sends[j].Kind
	})
	return p
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// handleStatus serves the status page.
func (s *Service) handleStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := statusTemplate.Execute(w, s.status()); err != nil {
		s.log.Warn("render status page", "error", err)
	}
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"num":  func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) },
	"join": func(s []string) string { return strings.Join(s, ", ") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="30">
<title>rootwatch alert — status</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
header{background:#1d2330;color:#fff;padding:14px 24px;display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:19px;margin:0}
header .meta{color:#b9c0cc;font-size:13px}
main{padding:8px 24px 32px;max-width:1200px}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;margin:16px 0;padding:4px 16px 12px}
h2{font-size:16px;margin:12px 0 8px}
table{border-collapse:collapse;width:100%}
table+table{margin-top:20px}
.nowrap{white-space:nowrap}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #eceef2;vertical-align:top}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#5b6473}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.used{background:#fde2e1;color:#a1150f}.unused{background:#def5e5;color:#17663a}
.critical{background:#a1150f;color:#fff}.high{background:#f4c7c3;color:#7c1009}.medium{background:#fdecc8;color:#7a4b00}.low{background:#e4e8ee;color:#333}
.ready{color:#8fe3ad}.notready{color:#ffb4ab}
.muted{color:#6b7383}
code{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
</style>
</head>
<body>
<header>
<h1>rootwatch alert</h1>
<span class="meta">{{if .Ready}}<span class="ready">● ready</span>{{else}}<span class="notready">● not ready</span>{{end}}
· up {{.Uptime}} · {{ts .Now}} · threshold {{.ThresholdDays}} days</span>
</header>
<main>
<section id="root-last-used">
<h2>Last root use per account</h2>
{{if .Accounts}}
<table>
<thead><tr><th>Account</th><th>Last root use</th><th>Days ago</th><th>Against {{.ThresholdDays}}-day threshold</th><th>Event</th><th>From</th><th>How</th></tr></thead>
<tbody>
{{range .Accounts}}<tr>
<td><code>{{.AccountID}}</code></td>
<td>{{ts .Time}}</td>
<td class="nowrap">{{.Ago}}</td>
<td>{{if .WithinThreshold}}<span class="pill used">root used within {{$.ThresholdDays}} days</span>{{else}}<span class="pill unused">not used in {{$.ThresholdDays}} days</span>{{end}}</td>
<td>{{.EventName}}</td>
<td><code>{{.SourceIP}}</code></td>
<td>{{if .Console}}console{{else}}API{{end}}{{if .MFA}}, MFA{{else}}, no MFA{{end}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="muted">No root use seen by this replica yet (it knows the accounts of the partitions it owns).</p>{{end}}
</section>

<section id="incidents">
<h2>Recent incidents</h2>
{{if .Incidents}}
<table>
<thead><tr><th>Severity</th><th>Incident</th><th class="num">Findings</th><th>Opened</th><th>Last notified</th><th>Channels</th></tr></thead>
<tbody>
{{range .Incidents}}<tr>
<td><span class="pill {{.Severity}}">{{.Severity}}</span></td>
<td>{{.Title}}<br><span class="muted"><code>{{.ID}}</code> · {{.Category}} · last {{.Kind}}</span></td>
<td class="num">{{.Count}}</td>
<td>{{ts .OpenedAt}}</td>
<td>{{ts .LastSent}}</td>
<td>{{join .Channels}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="muted">No incident notified since this process started.</p>{{end}}
</section>

{{template "paths" .}}

<section id="pipeline">
<h2>Pipeline</h2>
<table>
<thead><tr><th>Findings in, by outcome</th><th class="num">Total</th><th class="num">Per minute (since start)</th></tr></thead>
<tbody>
{{range .Findings}}<tr><td>{{.Name}}</td><td class="num">{{num .Value}}</td><td class="num">{{call $.PerMinute .Value}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">No findings read yet.</td></tr>
{{end}}<tr><th>all findings</th><td class="num">{{num .FindingsTotal}}</td><td class="num">{{call .PerMinute .FindingsTotal}}</td></tr>
</tbody>
</table>
<table>
<thead><tr><th>Sends: channel</th><th>Kind</th><th class="num">OK</th><th class="num">Failed</th></tr></thead>
<tbody>
{{range .Sends}}<tr><td>{{.Channel}}</td><td>{{.Kind}}</td><td class="num">{{num .OK}}</td><td class="num">{{num .Failed}}</td></tr>
{{else}}<tr><td colspan="4" class="muted">Nothing sent yet.</td></tr>
{{end}}</tbody>
</table>
<p class="muted">Machine-readable: <a href="/metrics">/metrics</a> · <a href="/api/root-last-used">/api/root-last-used</a> · <a href="/readyz">/readyz</a></p>
</section>
</main>
</body>
</html>
`))

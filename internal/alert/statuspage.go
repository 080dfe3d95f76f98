package alert

import (
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"

	"rootwatch/internal/channel"
)

// The status page is what a person opens first (GET /): the incidents
// held in state, the last root use per account against the
// root_unused_days threshold, the centralised-root sessions known (all
// three fleet-wide, from the fleet view: the same whichever replica
// answers), and this replica's own counts and rates.
// Server-rendered with html/template (every value escaped), no scripts,
// no external assets, so it works air-gapped and behind any proxy.

// statusMaxIncidents and statusMaxSessions bound the page's lists.
const (
	statusMaxIncidents = 50
	statusMaxSessions  = 50
)

// statusPage is the data of the template.
type statusPage struct {
	Now           time.Time
	Ready         bool
	Uptime        string
	ThresholdDays int
	Accounts      []statusAccount
	Incidents     []statusIncident
	Sessions      []statusSession
	StateRead     int64 // state records read by the fleet view
	Findings      []statusCount
	FindingsTotal float64
	Sends         []statusSend
	PerMinute     func(float64) string
	Paths         []PathStat // the real-time and log-file paths (paths.go)
}

// statusIncident is one row of "Incidents"; the values from findings are
// shown as every channel shows them (channel.Plain).
type statusIncident struct {
	FleetIncident
	Category, OpenedBy string
}

// statusSession is one row of "Centralised root sessions".
type statusSession struct {
	IssuedAt, Expiration                              time.Time
	Caller, SourceIP, Target, TaskPolicy, AccessKeyID string
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
	fleet := s.Status()
	p.ThresholdDays = fleet.ThresholdDays
	for _, o := range fleet.StateOffsets {
		p.StateRead += o
	}
	plain := func(v string, n int) string { return channel.Untrusted(v, n).In(channel.Plain) }
	for i, fi := range fleet.Incidents {
		if i == statusMaxIncidents {
			break
		}
		p.Incidents = append(p.Incidents, statusIncident{FleetIncident: fi, Category: plain(string(fi.Category), 40), OpenedBy: plain(fi.OpenedBy, 512)})
	}
	for i, ss := range fleet.Sessions {
		if i == statusMaxSessions {
			break
		}
		p.Sessions = append(p.Sessions, statusSession{IssuedAt: ss.IssuedAt, Expiration: ss.Expiration,
			Caller: plain(ss.CallerARN, 256), SourceIP: plain(ss.CallerSourceIP, 64), Target: plain(ss.TargetAccountID, 64),
			TaskPolicy: plain(ss.TaskPolicy(), 128), AccessKeyID: plain(ss.AccessKeyID, 64)})
	}
	for _, a := range fleet.RootLastUsed {
		p.Accounts = append(p.Accounts, statusAccount{RootLastUsed: a, Ago: daysAgo(a.DaysSince),
			AccountID: channel.Untrusted(a.AccountID, 64).In(channel.Plain),
			EventName: channel.Untrusted(a.EventName, 64).In(channel.Plain), SourceIP: channel.Untrusted(a.SourceIP, 64).In(channel.Plain)})
	}
	// Accounts where root was used recently come first.
	sort.SliceStable(p.Accounts, func(i, j int) bool { return p.Accounts[i].Time.After(p.Accounts[j].Time) })
	up := max(now.Sub(s.started), time.Second)
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
{{else}}<p class="muted">No root use seen yet.</p>{{end}}
</section>

<section id="incidents">
<h2>Incidents</h2>
{{if .Incidents}}
<table>
<thead><tr><th>Severity</th><th>Incident</th><th class="num">Findings</th><th>Opened</th><th>Last notified</th><th>Channels</th></tr></thead>
<tbody>
{{range .Incidents}}<tr>
<td><span class="pill {{.Severity}}">{{.Severity}}</span></td>
<td>{{.Title}}<br><span class="muted"><code>{{.ID}}</code> · {{.Category}} · {{.Notifications}} notification(s){{if .Owed}} · owed to {{join .Owed}}{{end}}{{if .Parked}} · parked for {{join .Parked}}{{end}}</span>{{if .AccessKeyID}}<br><span class="muted">session <code>{{.AccessKeyID}}</code> · {{if .OpenedBy}}{{.OpenedBy}}{{else}}who opened it is not known yet{{end}}</span>{{end}}</td>
<td class="num">{{.Count}}</td>
<td>{{ts .OpenedAt}}</td>
<td>{{ts .LastSent}}</td>
<td>{{join .Channels}}</td>
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="muted">No incident held in state (incidents are kept a grouping window after their last finding).</p>{{end}}
</section>

<section id="sessions">
<h2>Centralised root sessions (sts:AssumeRoot)</h2>
{{if .Sessions}}
<table>
<thead><tr><th>Opened</th><th>By</th><th>From</th><th>Account</th><th>Task policy</th><th>Expires</th><th>Access key</th></tr></thead>
<tbody>
{{range .Sessions}}<tr>
<td>{{ts .IssuedAt}}</td>
<td><code>{{.Caller}}</code></td>
<td><code>{{.SourceIP}}</code></td>
<td><code>{{.Target}}</code></td>
<td>{{.TaskPolicy}}</td>
<td>{{ts .Expiration}}</td>
<td><code>{{.AccessKeyID}}</code></td>
</tr>
{{end}}</tbody>
</table>
{{else}}<p class="muted">No centralised root session known (they are kept for dedup_ttl after their AssumeRoot call).</p>{{end}}
</section>

{{template "paths" .}}

<section id="pipeline">
<h2>This replica</h2>
<p class="muted">The sections above are the whole fleet's: every replica shows the same, once it has read the state topic as far (offsets summed over its partitions: {{.StateRead}}); the counts below are this replica's own.</p>
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

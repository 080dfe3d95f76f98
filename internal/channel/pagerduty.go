package channel

import (
	"context"
	"net/http"
	"time"

	"rootwatch/internal/match"
)

func init() { Register("pagerduty", newPagerDuty) }

// pagerDuty sends Events API v2 events. Every notification of an incident
// carries the same dedup_key (derived from Incident.ID), so PagerDuty folds
// retries and follow-ups into one alert; a resolve closes it.
type pagerDuty struct {
	name       string
	url        string
	routingKey Secret
	source     string
	http       *httpDoer
}

type pagerDutyConfig struct {
	RoutingKey     Secret `yaml:"routing_key"`
	RoutingKeyFile string `yaml:"routing_key_file"`
	// BaseURL replaces https://events.pagerduty.com (EU: https://events.eu.pagerduty.com).
	BaseURL string `yaml:"base_url"`
	// Source overrides payload.source (default: the account ID).
	Source string `yaml:"source"`
}

func newPagerDuty(c Config, d Deps) (Channel, error) {
	var cfg pagerDutyConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	key, err := c.secret("routing_key", cfg.RoutingKey, cfg.RoutingKeyFile, true)
	if err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, c.FieldError("routing_key", "must be the 32-character integration key of an Events API v2 integration")
	}
	base, err := c.parseBaseURL("base_url", cfg.BaseURL, "https://events.pagerduty.com")
	if err != nil {
		return nil, err
	}
	return &pagerDuty{name: c.Name, url: base + "/v2/enqueue", routingKey: key, source: cfg.Source, http: newHTTPDoer(c.Name, d, key)}, nil
}

func (p *pagerDuty) Name() string { return p.name }

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Client      string     `json:"client,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

type pdResponse struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// pdSeverity maps a finding severity to PagerDuty's four.
func pdSeverity(s match.Severity) string {
	switch s {
	case match.SeverityCritical:
		return "critical"
	case match.SeverityHigh:
		return "error"
	case match.SeverityMedium:
		return "warning"
	}
	return "info"
}

// maxPDSummary: payload.summary is "a brief text summary of the event …
// maximum length is 1024 characters" (Events API v2).
const maxPDSummary = 1024

// pdDedupKey is the dedup_key of an incident (at most 255 characters).
func pdDedupKey(id string) string { return providerKey("rootwatch/", id, 255) }

func (p *pagerDuty) event(n *Notification) pdEvent {
	key := pdDedupKey(n.Incident.ID)
	ev := pdEvent{RoutingKey: p.routingKey.Reveal(), DedupKey: key, EventAction: "trigger", Client: "rootwatch"}
	if n.Kind == KindResolve {
		ev.EventAction = "resolve"
		return ev // resolve events need no payload
	}
	m := Render(n)
	src := p.source
	if src == "" {
		src = "aws-account-" + m.Account
	}
	ts := n.Incident.LastSeen
	if len(n.Findings) > 0 {
		ts = n.Findings[0].EventTime
	}
	pl := &pdPayload{
		Summary:  Fit(Plain, m.Title.In(Plain)+" — "+m.Summary.In(Plain), maxPDSummary),
		Source:   src,
		Severity: pdSeverity(n.Incident.Severity),
		Class:    Fit(Plain, m.Category.In(Plain), 64),
		Group:    m.Account,
		CustomDetails: map[string]any{
			"kind":     n.Kind,
			"incident": boundedIncident(n.Incident, displayValue),
			"findings": boundedFindings(n.Findings, displayValue),
		},
	}
	if len(m.Notes) > 0 {
		var notes []string
		for _, note := range m.Notes {
			notes = append(notes, note.In(Plain))
		}
		pl.CustomDetails["notes"] = notes
	}
	if len(m.Events) > 0 {
		pl.Component = Fit(Plain, m.Events[0].Source.In(Plain), 64)
	}
	if !ts.IsZero() {
		pl.Timestamp = ts.UTC().Format(time.RFC3339)
	}
	ev.Payload = pl
	return ev
}

func (p *pagerDuty) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	ev := p.event(n)
	var out pdResponse
	_, err := p.http.doJSON(ctx, request{method: http.MethodPost, url: p.url, what: "enqueue " + ev.EventAction}, ev, &out)
	if err != nil {
		return nil, err
	}
	key := out.DedupKey
	if key == "" {
		key = ev.DedupKey
	}
	return map[string]string{"dedup_key": key}, nil
}

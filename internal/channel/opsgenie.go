package channel

import (
	"context"
	"net/http"
	"net/url"

	"rootwatch/internal/match"
)

func init() { Register("opsgenie", newOpsgenie) }

// opsgenie creates an alert whose alias is derived from the incident ID
// (Opsgenie deduplicates open alerts by alias, so a retried create is
// absorbed), adds follow-ups as notes and closes it on resolve.
type opsgenie struct {
	name string
	base string
	auth string
	cfg  opsgenieConfig
	http *httpDoer
}

type opsgenieConfig struct {
	APIKey     Secret `yaml:"api_key"`
	APIKeyFile string `yaml:"api_key_file"`
	// BaseURL replaces https://api.opsgenie.com (EU: https://api.eu.opsgenie.com).
	BaseURL string   `yaml:"base_url"`
	Tags    []string `yaml:"tags"`
	// Team routes the alert to a team by name.
	Team string `yaml:"team"`
}

func newOpsgenie(c Config, d Deps) (Channel, error) {
	var cfg opsgenieConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	key, err := c.secret("api_key", cfg.APIKey, cfg.APIKeyFile, true)
	if err != nil {
		return nil, err
	}
	base, err := c.parseBaseURL("base_url", cfg.BaseURL, "https://api.opsgenie.com")
	if err != nil {
		return nil, err
	}
	o := &opsgenie{name: c.Name, base: base, cfg: cfg, auth: "GenieKey " + key.Reveal()}
	o.http = newHTTPDoer(c.Name, d, key)
	return o, nil
}

func (o *opsgenie) Name() string { return o.name }

func ogPriority(s match.Severity) string {
	switch s {
	case match.SeverityCritical:
		return "P1"
	case match.SeverityHigh:
		return "P2"
	case match.SeverityMedium:
		return "P3"
	}
	return "P4"
}

// Opsgenie Alert API limits: message "limited to 130 characters",
// description "limited to 15000 characters", note "limited to 25000
// characters" (docs.opsgenie.com, Alert API).
const (
	maxOGMessage     = 130
	maxOGDescription = 15000
	maxOGNote        = 25000
)

// ogAlias is the alert alias of an incident (at most 512 characters).
func ogAlias(id string) string { return providerKey("rootwatch-", id, 512) }

type ogResponse struct {
	Result    string  `json:"result"`
	Took      float64 `json:"took"`
	RequestID string  `json:"requestId"`
}

func (o *opsgenie) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	alias := ogAlias(n.Incident.ID)
	m := Render(n)
	hdr := http.Header{"Authorization": {o.auth}}
	var r request
	var body any
	switch {
	case n.Kind == KindResolve:
		r = request{method: http.MethodPost, url: o.base + "/v2/alerts/" + url.PathEscape(alias) + "/close?identifierType=alias", what: "close alert"}
		body = map[string]string{"source": "rootwatch", "user": "rootwatch", "note": Fit(Plain, m.Summary.In(Plain), maxOGNote)}
	case n.Kind == KindUpdate && n.State["alias"] != "":
		r = request{method: http.MethodPost, url: o.base + "/v2/alerts/" + url.PathEscape(alias) + "/notes?identifierType=alias", what: "add note"}
		body = map[string]string{"source": "rootwatch", "user": "rootwatch", "note": Fit(Plain, m.Body(Plain), maxOGNote)}
	default: // open, repeat, or an update whose open was never delivered
		a := map[string]any{
			"message":     Fit(Plain, m.Title.In(Plain), maxOGMessage),
			"alias":       alias,
			"description": Fit(Plain, m.Body(Plain), maxOGDescription),
			"tags":        append([]string{"rootwatch", "root-activity"}, o.cfg.Tags...),
			"details": map[string]string{
				"account":  m.Account,
				"category": Fit(Plain, m.Category.In(Plain), 64),
				"severity": string(m.Severity),
				"incident": Fit(Plain, m.IncidentID.In(Plain), 200),
				"kind":     string(n.Kind),
			},
			"entity":   "aws-account-" + m.Account,
			"source":   "rootwatch",
			"priority": ogPriority(n.Incident.Severity),
		}
		if o.cfg.Team != "" {
			a["responders"] = []map[string]string{{"type": "team", "name": o.cfg.Team}}
		}
		r = request{method: http.MethodPost, url: o.base + "/v2/alerts", what: "create alert"}
		body = a
	}
	r.header = hdr
	var out ogResponse
	if _, err := o.http.doJSON(ctx, r, body, &out); err != nil {
		return nil, err
	}
	return map[string]string{"alias": alias, "request_id": out.RequestID}, nil
}

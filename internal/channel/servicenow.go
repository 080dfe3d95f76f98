package channel

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"rootwatch/internal/match"
)

func init() { Register("servicenow", newServiceNow) }

// serviceNow opens an incident through the Table API and adds follow-ups as
// work notes. Before creating it looks the incident up by correlation_id
// (derived from Incident.ID), so a retried open never creates a second one.
type serviceNow struct {
	name  string
	table string // https://<instance>/api/now/table/incident
	auth  string // Authorization header value
	cfg   serviceNowConfig
	http  *httpDoer
	log   *slog.Logger
}

type serviceNowConfig struct {
	// InstanceURL is https://<instance>.service-now.com.
	InstanceURL string `yaml:"instance_url"`
	// BaseURL overrides InstanceURL (tests, proxies).
	BaseURL          string `yaml:"base_url"`
	Username         string `yaml:"username"`
	Password         Secret `yaml:"password"`
	PasswordFile     string `yaml:"password_file"`
	OAuthToken       Secret `yaml:"oauth_token"`
	OAuthTokenFile   string `yaml:"oauth_token_file"`
	AssignmentGroup  string `yaml:"assignment_group"`
	CallerID         string `yaml:"caller_id"`
	Category         string `yaml:"category"`
	Subcategory      string `yaml:"subcategory"`
	ResolveState     string `yaml:"resolve_state"`      // default "6" (Resolved)
	ResolveCloseCode string `yaml:"resolve_close_code"` // default "Resolved by caller"
}

func newServiceNow(c Config, d Deps) (Channel, error) {
	var cfg serviceNowConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.InstanceURL == "" && cfg.BaseURL == "" {
		return nil, c.FieldError("instance_url", "required (https://<instance>.service-now.com)")
	}
	field, v := "instance_url", cfg.InstanceURL
	if cfg.BaseURL != "" {
		field, v = "base_url", cfg.BaseURL
	}
	base, err := c.parseBaseURL(field, v, "")
	if err != nil {
		return nil, err
	}
	pw, err := c.secret("password", cfg.Password, cfg.PasswordFile, false)
	if err != nil {
		return nil, err
	}
	tok, err := c.secret("oauth_token", cfg.OAuthToken, cfg.OAuthTokenFile, false)
	if err != nil {
		return nil, err
	}
	s := &serviceNow{name: c.Name, table: base + "/api/now/table/incident", cfg: cfg, log: d.Logger}
	switch {
	case tok != "" && (pw != "" || cfg.Username != ""):
		return nil, c.FieldError("oauth_token", "set oauth_token or username and password, not both")
	case tok != "":
		s.auth = "Bearer " + tok.Reveal()
	case cfg.Username == "":
		return nil, c.FieldError("username", "required (or oauth_token)")
	case pw == "":
		return nil, c.FieldError("password", "required with username (set password, e.g. to ${ENV_VAR}, or password_file)")
	default:
		s.auth = basicAuth(cfg.Username, pw.Reveal())
	}
	if s.cfg.ResolveState == "" {
		s.cfg.ResolveState = "6"
	}
	if s.cfg.ResolveCloseCode == "" {
		s.cfg.ResolveCloseCode = "Resolved by caller"
	}
	s.http = newHTTPDoer(c.Name, d, pw, tok, Secret(s.auth))
	return s, nil
}

func (s *serviceNow) Name() string { return s.name }

// ServiceNow field lengths on a default instance: incident.short_description
// is a string of max_length 160; description and journal entries (work
// notes, close notes) are cut at 4,000 characters, the dictionary
// max_length of task.description.
const (
	maxSNShortDescription = 160
	maxSNJournal          = 4000
)

// snCorrelationID is the incident's correlation_id (the field holds 100 characters).
func snCorrelationID(id string) string { return providerKey("rootwatch:", id, 100) }

// snUrgencyImpact maps severity to ServiceNow urgency and impact (1 high .. 3 low).
func snUrgencyImpact(s match.Severity) (string, string) {
	switch s {
	case match.SeverityCritical:
		return "1", "1"
	case match.SeverityHigh:
		return "1", "2"
	case match.SeverityMedium:
		return "2", "2"
	}
	return "3", "3"
}

type snRecord struct {
	SysID  string `json:"sys_id"`
	Number string `json:"number"`
}

func (s *serviceNow) header() http.Header {
	return http.Header{"Authorization": {s.auth}}
}

// lookup finds the incident opened for correlation id corr, if any.
func (s *serviceNow) lookup(ctx context.Context, corr string) (snRecord, bool, error) {
	q := url.Values{
		"sysparm_query":  {"correlation_id=" + corr},
		"sysparm_fields": {"sys_id,number"},
		"sysparm_limit":  {"1"},
	}
	var out struct {
		Result []snRecord `json:"result"`
	}
	_, err := s.http.doJSON(ctx, request{method: http.MethodGet, url: s.table + "?" + q.Encode(), header: s.header(), what: "look up incident"}, nil, &out)
	if err != nil || len(out.Result) == 0 {
		return snRecord{}, false, err
	}
	return out.Result[0], out.Result[0].SysID != "", nil
}

func (s *serviceNow) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	corr := snCorrelationID(n.Incident.ID)
	m := Render(n)
	notes := Fit(Markdown, m.Body(Markdown), maxSNJournal)
	rec := snRecord{SysID: n.State["sys_id"], Number: n.State["number"]}
	if rec.SysID == "" {
		found, ok, err := s.lookup(ctx, corr)
		if err != nil {
			return nil, err
		}
		if ok {
			rec = found
			if n.Kind == KindOpen {
				// A previous attempt created it and its answer was lost.
				s.log.Info("servicenow incident already open for this incident", "channel", s.name, "number", rec.Number)
				return rec.state(), nil
			}
		} else {
			if n.Kind == KindResolve {
				return nil, nil // nothing to resolve
			}
			return s.create(ctx, n, corr, m, notes)
		}
	}
	body := map[string]string{"work_notes": notes}
	if n.Kind == KindResolve {
		body["state"] = s.cfg.ResolveState
		body["close_code"] = s.cfg.ResolveCloseCode
		body["close_notes"] = Fit(Markdown, m.Summary.In(Markdown), maxSNJournal)
	}
	_, err := s.http.doJSON(ctx, request{method: http.MethodPatch, url: s.table + "/" + url.PathEscape(rec.SysID), header: s.header(), what: "add work note"}, body, nil)
	if err != nil {
		return nil, err
	}
	return rec.state(), nil
}

func (s *serviceNow) create(ctx context.Context, n *Notification, corr string, m Message, notes string) (map[string]string, error) {
	urg, imp := snUrgencyImpact(n.Incident.Severity)
	body := map[string]string{
		"short_description":   Fit(Plain, m.Title.In(Plain), maxSNShortDescription), // a plain string field
		"description":         notes,
		"correlation_id":      corr,
		"correlation_display": "rootwatch",
		"urgency":             urg,
		"impact":              imp,
	}
	for k, v := range map[string]string{"assignment_group": s.cfg.AssignmentGroup, "caller_id": s.cfg.CallerID, "category": s.cfg.Category, "subcategory": s.cfg.Subcategory} {
		if v != "" {
			body[k] = v
		}
	}
	var out struct {
		Result snRecord `json:"result"`
	}
	_, err := s.http.doJSON(ctx, request{method: http.MethodPost, url: s.table, header: s.header(), what: "create incident"}, body, &out)
	if err != nil {
		return nil, err
	}
	if out.Result.SysID == "" {
		return nil, fmt.Errorf("%s: create incident: answer without result.sys_id", s.name)
	}
	return out.Result.state(), nil
}

func (r snRecord) state() map[string]string {
	st := map[string]string{"sys_id": r.SysID}
	if r.Number != "" {
		st["number"] = strings.TrimSpace(r.Number)
	}
	return st
}

package channel

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"rootwatch/internal/match"
)

func init() { Register("zendesk", newZendesk) }

// zendesk opens a ticket (POST /api/v2/tickets.json with Idempotency-Key,
// so a retried create returns the first ticket) and adds follow-ups as
// private comments on it (PUT /api/v2/tickets/{id}.json).
type zendesk struct {
	name string
	base string
	auth string
	cfg  zendeskConfig
	http *httpDoer
	log  *slog.Logger
}

type zendeskConfig struct {
	// URL is https://<subdomain>.zendesk.com.
	URL string `yaml:"url"`
	// BaseURL overrides URL (tests, proxies).
	BaseURL      string   `yaml:"base_url"`
	Email        string   `yaml:"email"`
	APIToken     Secret   `yaml:"api_token"`
	APITokenFile string   `yaml:"api_token_file"`
	Tags         []string `yaml:"tags"`
	GroupID      int64    `yaml:"group_id"`
	// PublicComments makes follow-up comments visible to the requester (default private).
	PublicComments bool `yaml:"public_comments"`
}

func newZendesk(c Config, d Deps) (Channel, error) {
	var cfg zendeskConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	field, v := "url", cfg.URL
	if cfg.BaseURL != "" {
		field, v = "base_url", cfg.BaseURL
	}
	if v == "" {
		return nil, c.FieldError("url", "required (https://<subdomain>.zendesk.com)")
	}
	base, err := c.parseBaseURL(field, v, "")
	if err != nil {
		return nil, err
	}
	if cfg.Email == "" {
		return nil, c.FieldError("email", "required (the agent the API token belongs to)")
	}
	tok, err := c.secret("api_token", cfg.APIToken, cfg.APITokenFile, true)
	if err != nil {
		return nil, err
	}
	z := &zendesk{name: c.Name, base: base, cfg: cfg, log: d.Logger, auth: basicAuth(cfg.Email+"/token", tok.Reveal())}
	z.http = newHTTPDoer(c.Name, d, tok, Secret(z.auth))
	return z, nil
}

func (z *zendesk) Name() string { return z.name }

func zdPriority(s match.Severity) string {
	switch s {
	case match.SeverityCritical:
		return "urgent"
	case match.SeverityHigh:
		return "high"
	case match.SeverityMedium:
		return "normal"
	}
	return "low"
}

// Zendesk limits: a comment body is about 65,000 characters at most
// (Zendesk support: "a character limit, depending on your encoding/markup,
// of ~65,000"); the subject is kept to the title bound, 150.
const (
	maxZDComment = 60000
	maxZDSubject = maxTitle
)

type zdComment struct {
	Body   string `json:"body"`
	Public bool   `json:"public"`
}

type zdTicket struct {
	Subject    string     `json:"subject,omitempty"`
	Comment    *zdComment `json:"comment,omitempty"`
	Priority   string     `json:"priority,omitempty"`
	Type       string     `json:"type,omitempty"`
	Status     string     `json:"status,omitempty"`
	Tags       []string   `json:"tags,omitempty"`
	ExternalID string     `json:"external_id,omitempty"`
	GroupID    int64      `json:"group_id,omitempty"`
}

func (z *zendesk) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	m := Render(n)
	body := Fit(Markdown, m.Body(Markdown), maxZDComment)
	hdr := http.Header{"Authorization": {z.auth}}
	id := n.State["ticket_id"]
	if id == "" {
		if n.Kind == KindResolve {
			return nil, nil // nothing was opened
		}
		key := n.IdempotencyKey
		if key == "" {
			key = providerKey("rootwatch-", n.Incident.ID, 128)
		}
		hdr.Set("Idempotency-Key", key)
		t := zdTicket{
			Subject:    Fit(Plain, m.Title.In(Plain), maxZDSubject),
			Comment:    &zdComment{Body: body, Public: false},
			Priority:   zdPriority(n.Incident.Severity),
			Type:       "incident",
			Tags:       append([]string{"rootwatch", "root-activity"}, z.cfg.Tags...),
			ExternalID: providerKey("rootwatch:", n.Incident.ID, 255),
			GroupID:    z.cfg.GroupID,
		}
		var out struct {
			Ticket struct {
				ID int64 `json:"id"`
			} `json:"ticket"`
		}
		resp, err := z.http.doJSON(ctx, request{method: http.MethodPost, url: z.base + "/api/v2/tickets.json", header: hdr, what: "create ticket"}, map[string]any{"ticket": t}, &out)
		if err != nil {
			return nil, err
		}
		if resp.header.Get("X-Idempotency-Lookup") == "hit" {
			z.log.Info("zendesk returned the ticket an earlier attempt created", "channel", z.name, "ticket_id", out.Ticket.ID)
		}
		if out.Ticket.ID == 0 {
			return nil, fmt.Errorf("%s: create ticket: answer without ticket.id", z.name)
		}
		return map[string]string{"ticket_id": strconv.FormatInt(out.Ticket.ID, 10)}, nil
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return nil, Permanent(fmt.Errorf("%s: state ticket_id %q is not a number", z.name, clean(id, 32)))
	}
	t := zdTicket{Comment: &zdComment{Body: body, Public: z.cfg.PublicComments}}
	if n.Kind == KindResolve {
		t.Status = "solved"
	}
	_, err := z.http.doJSON(ctx, request{method: http.MethodPut, url: z.base + "/api/v2/tickets/" + id + ".json", header: hdr, what: "update ticket"}, map[string]any{"ticket": t}, nil)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ticket_id": id}, nil
}

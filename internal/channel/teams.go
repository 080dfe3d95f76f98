package channel

import (
	"context"
	"net/http"
	"strings"
)

func init() { Register("teams", newTeams) }

// teams posts an Adaptive Card to a Microsoft Teams Workflows (Power
// Automate) webhook, in the message/attachments envelope the "When a Teams
// webhook request is received" trigger expects. The workflow URL carries
// its signature, so it is a secret.
type teams struct {
	name string
	url  string
	http *httpDoer
}

type teamsConfig struct {
	WebhookURL     Secret `yaml:"webhook_url"`
	WebhookURLFile string `yaml:"webhook_url_file"`
	BaseURL        string `yaml:"base_url"`
}

func newTeams(c Config, d Deps) (Channel, error) {
	var cfg teamsConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	u, err := c.secretURL("webhook_url", cfg.WebhookURL, cfg.WebhookURLFile, cfg.BaseURL, true)
	if err != nil {
		return nil, err
	}
	t := &teams{name: c.Name, url: u}
	t.http = newHTTPDoer(c.Name, d, cfg.WebhookURL, Secret(u))
	return t, nil
}

func (t *teams) Name() string { return t.name }

// cardContentType is the attachment content type of an Adaptive Card.
const cardContentType = "application/vnd.microsoft.card.adaptive"

type cardAttachment struct {
	ContentType string `json:"contentType"`
	ContentURL  any    `json:"contentUrl"`
	Content     any    `json:"content"`
}

// teamsCard builds the Adaptive Card; untrusted text goes through escCard.
func teamsCard(n *Notification) map[string]any {
	m := Render(n)
	color := "Attention"
	switch n.Kind {
	case KindResolve:
		color = "Good"
	case KindUpdate:
		color = "Warning"
	}
	facts := make([]map[string]string, 0, len(m.Facts))
	for _, f := range m.Facts {
		facts = append(facts, map[string]string{"title": f.Label, "value": escCard(f.Value)})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": escCard(m.Title), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color},
		map[string]any{"type": "TextBlock", "text": kindLabel(n.Kind) + ": " + escCard(m.Summary), "wrap": true},
		map[string]any{"type": "FactSet", "facts": facts},
	}
	if len(m.Events) > 0 {
		var lines []string
		for _, e := range m.Events {
			lines = append(lines, "- "+e.line(escCard))
		}
		if m.Omitted > 0 {
			lines = append(lines, "- …and more")
		}
		body = append(body, map[string]any{"type": "TextBlock", "text": strings.Join(lines, "\n"), "wrap": true, "size": "Small"})
	}
	return map[string]any{
		"type": "message",
		"attachments": []cardAttachment{{
			ContentType: cardContentType,
			ContentURL:  nil,
			Content: map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard",
				"version": "1.4",
				"body":    body,
				"msteams": map[string]any{"width": "Full"},
			},
		}},
	}
}

func (t *teams) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	_, err := t.http.doJSON(ctx, request{method: http.MethodPost, url: t.url, what: "post workflow"}, teamsCard(n), nil)
	return nil, err
}

package channel

import (
	"context"
	"fmt"
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

// maxTeamsBody bounds the posted JSON: Teams refuses a message over 28 KB
// ("The message size limit is 28 KB", Teams incoming webhooks; the Workflows
// Teams connector documents "about 28 KB"); 1 KB is left for what the
// workflow adds.
const maxTeamsBody = 27 << 10

// teamsCard builds the Adaptive Card; every text is Card, and the card is
// cut to fit maxTeamsBody (the event list first, marked).
func teamsCard(n *Notification) map[string]any {
	m := Render(n)
	var lines []string
	for _, e := range m.Events {
		lines = append(lines, "- "+e.Line(Card))
	}
	if m.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("- …and %d more", m.Omitted))
	}
	events := strings.Join(lines, "\n")
	card := buildCard(n.Kind, m, events)
	for {
		b, err := encodeJSON(card)
		over := len(b) - maxTeamsBody
		if err != nil || over <= 0 || events == "" {
			return card
		}
		// JSON escaping makes text longer in the body than in Go: cut by
		// the excess plus a margin, and measure again.
		keep := len(events) - over - 256
		if keep < len(truncMarker)+16 {
			events = ""
		} else {
			events = Fit(Card, events, keep)
		}
		card = buildCard(n.Kind, m, events)
	}
}

func buildCard(kind Kind, m Message, events string) map[string]any {
	color := "Attention"
	switch kind {
	case KindResolve:
		color = "Good"
	case KindUpdate:
		color = "Warning"
	}
	facts := make([]map[string]string, 0, len(m.Facts))
	for _, f := range m.Facts {
		facts = append(facts, map[string]string{"title": f.Label, "value": f.Value.In(Card)})
	}
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.Title.In(Card), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color},
		map[string]any{"type": "TextBlock", "text": kindLabel(kind) + ": " + m.Summary.In(Card), "wrap": true},
	}
	for _, note := range m.Notes {
		body = append(body, map[string]any{"type": "TextBlock", "text": "Note: " + note.In(Card), "wrap": true})
	}
	body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	if events != "" {
		body = append(body, map[string]any{"type": "TextBlock", "text": events, "wrap": true, "size": "Small"})
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

package channel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

func init() { Register("slack", newSlack) }

// slack posts Block Kit messages (with a plain-text fallback) through an
// incoming webhook, or through chat.postMessage with a bot token, in which
// case follow-ups go into the first message's thread (thread_ts in state).
type slack struct {
	name    string
	webhook string // incoming webhook URL (secret), or "" for the bot API
	token   Secret
	apiURL  string // chat.postMessage endpoint
	channel string
	http    *httpDoer
}

type slackConfig struct {
	WebhookURL     Secret `yaml:"webhook_url"`
	WebhookURLFile string `yaml:"webhook_url_file"`
	Token          Secret `yaml:"token"`
	TokenFile      string `yaml:"token_file"`
	// Channel is the conversation ID (or #name) for the bot API.
	Channel string `yaml:"channel"`
	// BaseURL replaces https://slack.com (bot API) or the webhook's
	// scheme and host (incoming webhook).
	BaseURL string `yaml:"base_url"`
}

func newSlack(c Config, d Deps) (Channel, error) {
	var cfg slackConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	hook, err := c.secretURL("webhook_url", cfg.WebhookURL, cfg.WebhookURLFile, cfg.BaseURL, false)
	if err != nil {
		return nil, err
	}
	tok, err := c.secret("token", cfg.Token, cfg.TokenFile, false)
	if err != nil {
		return nil, err
	}
	s := &slack{name: c.Name, token: tok, channel: cfg.Channel}
	switch {
	case hook != "" && tok != "":
		return nil, c.FieldError("webhook_url", "set webhook_url or token (bot API), not both")
	case hook != "":
		if cfg.Channel != "" {
			return nil, c.FieldError("channel", "an incoming webhook posts to its own channel; channel is for the bot API")
		}
		s.webhook = hook
	case tok != "":
		if !strings.HasPrefix(tok.Reveal(), "xox") {
			return nil, c.FieldError("token", "must be a Slack bot token (xoxb-...)")
		}
		if cfg.Channel == "" {
			return nil, c.FieldError("channel", "required with token (a conversation ID like C0123456789)")
		}
		base, err := c.parseBaseURL("base_url", cfg.BaseURL, "https://slack.com")
		if err != nil {
			return nil, err
		}
		s.apiURL = base + "/api/chat.postMessage"
	default:
		return nil, c.FieldError("webhook_url", "required (or token and channel for the bot API)")
	}
	s.http = newHTTPDoer(c.Name, d, cfg.WebhookURL, Secret(hook), tok)
	return s, nil
}

func (s *slack) Name() string { return s.name }

// slackText is a Block Kit text object.
type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackMessage struct {
	Channel  string       `json:"channel,omitempty"`
	Text     string       `json:"text"`
	Blocks   []slackBlock `json:"blocks"`
	ThreadTS string       `json:"thread_ts,omitempty"`
	// ReplyBroadcast also shows a thread reply in the channel (repeats, resolves).
	ReplyBroadcast bool `json:"reply_broadcast,omitempty"`
	UnfurlLinks    bool `json:"unfurl_links"`
	UnfurlMedia    bool `json:"unfurl_media"`
}

var slackEmoji = map[Kind]string{KindOpen: ":rotating_light:", KindUpdate: ":heavy_plus_sign:", KindRepeat: ":repeat:", KindResolve: ":white_check_mark:"}

// Slack Block Kit limits: header text 150 characters, section text 3,000,
// at most 10 fields of 2,000 each, context text 2,000; the top-level text
// is truncated by Slack at 40,000 characters and should stay under 4,000
// (api.slack.com, Block Kit reference and chat.postMessage).
const (
	maxSlackHeader  = 150
	maxSlackSection = 3000
	maxSlackField   = 2000
	maxSlackText    = 4000
)

// slackRender builds the Block Kit message; every text is SlackMrkdwn
// (the header, a plain_text object, is Plain) and within Slack's limits.
func slackRender(n *Notification) slackMessage {
	m := Render(n)
	msg := slackMessage{Text: Fit(SlackMrkdwn, fmt.Sprintf("%s %s — %s", slackEmoji[n.Kind], m.Title.In(SlackMrkdwn), m.Summary.In(SlackMrkdwn)), maxSlackText)}
	summary := "*" + kindLabel(n.Kind) + "*  " + m.Summary.In(SlackMrkdwn)
	for _, note := range m.Notes {
		summary += "\n*Note* " + note.In(SlackMrkdwn)
	}
	msg.Blocks = append(msg.Blocks,
		// header blocks are plain_text: no mrkdwn, no links, no mentions.
		slackBlock{Type: "header", Text: &slackText{Type: "plain_text", Text: Fit(Plain, m.Title.In(Plain), maxSlackHeader)}},
		slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: Fit(SlackMrkdwn, summary, maxSlackSection)}},
	)
	var fields []slackText
	for _, f := range m.Facts {
		if len(fields) == 10 { // Slack allows 10 fields per section
			break
		}
		fields = append(fields, slackText{Type: "mrkdwn", Text: Fit(SlackMrkdwn, "*"+f.Label+"*\n"+f.Value.In(SlackMrkdwn), maxSlackField)})
	}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Fields: fields})
	if len(m.Events) > 0 {
		var sb strings.Builder
		for _, e := range m.Events {
			line := "• " + Fit(SlackMrkdwn, e.Line(SlackMrkdwn), maxSlackSection-100) + "\n"
			if sb.Len()+len(line) > maxSlackSection-100 {
				break
			}
			sb.WriteString(line)
		}
		if m.Omitted > 0 {
			fmt.Fprintf(&sb, "• …and %d more\n", m.Omitted)
		}
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: strings.TrimRight(sb.String(), "\n")}})
	}
	msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{{Type: "mrkdwn", Text: Fit(SlackMrkdwn, "rootwatch · incident "+m.IncidentID.In(SlackMrkdwn), maxSlackField)}}})
	return msg
}

func kindLabel(k Kind) string {
	switch k {
	case KindUpdate:
		return "Update"
	case KindRepeat:
		return "Still ongoing"
	case KindResolve:
		return "Resolved"
	}
	return "New incident"
}

// slackAPIResponse is chat.postMessage's answer: HTTP 200 either way.
type slackAPIResponse struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	TS    string `json:"ts"`
	// Channel is the conversation ID the message landed in.
	Channel string `json:"channel"`
}

// slackRetryable are chat.postMessage error codes worth another try; all
// others (invalid_auth, channel_not_found, not_in_channel, ...) are permanent.
var slackRetryable = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true,
	"service_unavailable": true, "request_timeout": true, "team_added_to_org": true,
}

func (s *slack) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	msg := slackRender(n)
	if s.webhook != "" {
		// Incoming webhooks answer "ok" (text) and cannot thread.
		_, err := s.http.doJSON(ctx, request{method: http.MethodPost, url: s.webhook, what: "post webhook"}, msg, nil)
		return nil, err
	}
	msg.Channel = s.channel
	if ts := n.State["thread_ts"]; ts != "" && n.Kind != KindOpen {
		msg.ThreadTS = ts
		msg.ReplyBroadcast = n.Kind == KindRepeat || n.Kind == KindResolve
		if ch := n.State["channel"]; ch != "" {
			msg.Channel = ch // the ID chat.postMessage answered, when configured by #name
		}
	}
	var out slackAPIResponse
	_, err := s.http.doJSON(ctx, request{
		method: http.MethodPost, url: s.apiURL, what: "chat.postMessage",
		header: http.Header{"Authorization": {"Bearer " + s.token.Reveal()}},
	}, msg, &out)
	if err != nil {
		return nil, err
	}
	if !out.OK {
		e := fmt.Errorf("%s: chat.postMessage: %s", s.name, excerpt([]byte(out.Error)))
		if out.Error == "" {
			e = errors.New(s.name + ": chat.postMessage: ok=false without an error code")
		}
		if !slackRetryable[out.Error] {
			return nil, Permanent(e)
		}
		return nil, e
	}
	if msg.ThreadTS != "" {
		return map[string]string{"thread_ts": msg.ThreadTS, "channel": msg.Channel}, nil
	}
	return map[string]string{"thread_ts": out.TS, "channel": out.Channel}, nil
}

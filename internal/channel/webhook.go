package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"rootwatch/internal/match"
)

func init() { Register("webhook", newWebhook) }

// webhook POSTs the incident and its findings as JSON to any URL, signed
// with HMAC-SHA256 (X-Rootwatch-Signature: sha256=<hex>) when a secret is
// configured, and with Idempotency-Key so the receiver can drop retries.
type webhook struct {
	name    string
	url     string
	secret  Secret
	headers http.Header
	record  bool
	http    *httpDoer
}

type webhookConfig struct {
	URL        Secret            `yaml:"url"`
	URLFile    string            `yaml:"url_file"`
	BaseURL    string            `yaml:"base_url"`
	Secret     Secret            `yaml:"secret"`
	SecretFile string            `yaml:"secret_file"`
	Headers    map[string]string `yaml:"headers"`
	// IncludeRecord adds each finding's raw CloudTrail record to the body.
	IncludeRecord bool `yaml:"include_record"`
}

func newWebhook(c Config, d Deps) (Channel, error) {
	var cfg webhookConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	u, err := c.secretURL("url", cfg.URL, cfg.URLFile, cfg.BaseURL, true)
	if err != nil {
		return nil, err
	}
	sec, err := c.secret("secret", cfg.Secret, cfg.SecretFile, false)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		if strings.ContainsAny(k+v, "\r\n") || k == "" {
			return nil, c.FieldError("headers", "names and values must be one line")
		}
		h.Set(k, v)
	}
	w := &webhook{name: c.Name, url: u, secret: sec, headers: h, record: cfg.IncludeRecord}
	w.http = newHTTPDoer(c.Name, d, cfg.URL, Secret(u), sec)
	return w, nil
}

func (w *webhook) Name() string { return w.name }

// webhookBody is the JSON the generic webhook sends; its field names are a
// contract with receivers (docs/channels.md).
type webhookBody struct {
	Version  string          `json:"version"`
	Kind     Kind            `json:"kind"`
	Title    string          `json:"title"`
	Summary  string          `json:"summary"`
	Incident Incident        `json:"incident"`
	Findings []match.Finding `json:"findings"`
	SentAt   time.Time       `json:"sentAt,omitzero"`
}

// Signature computes the X-Rootwatch-Signature header value for body.
func Signature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *webhook) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	m := Render(n)
	body := webhookBody{
		Version: "1", Kind: n.Kind, Title: m.Title, Summary: m.Summary,
		Incident: boundedIncident(n.Incident), Findings: boundedFindings(n.Findings, w.record),
		SentAt: w.http.now().UTC(),
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, Permanent(err)
	}
	h := w.headers.Clone()
	h.Set("Content-Type", "application/json")
	if n.IdempotencyKey != "" {
		h.Set("Idempotency-Key", n.IdempotencyKey)
	}
	if w.secret != "" {
		h.Set("X-Rootwatch-Signature", Signature([]byte(w.secret.Reveal()), b))
	}
	_, err = w.http.do(ctx, request{method: http.MethodPost, url: w.url, header: h, body: b, what: "post"})
	return nil, err
}

// boundedFindings copies findings with their free-text fields cut to a sane
// length, and the raw record dropped unless asked for, so a hostile 1 MB
// user agent cannot blow up a provider's payload limit.
func boundedFindings(fs []match.Finding, record bool) []match.Finding {
	const limit = 4096
	out := make([]match.Finding, 0, len(fs))
	for _, f := range fs {
		f.UserAgent = truncateRaw(f.UserAgent, limit)
		f.ErrorMessage = truncateRaw(f.ErrorMessage, limit)
		f.SourceIPAddress = truncateRaw(f.SourceIPAddress, 256)
		f.EventName = truncateRaw(f.EventName, 256)
		f.EventSource = truncateRaw(f.EventSource, 256)
		f.ErrorCode = truncateRaw(f.ErrorCode, 256)
		f.EventID = truncateRaw(f.EventID, 256)
		f.AccountID = truncateRaw(f.AccountID, 256)
		f.Region = truncateRaw(f.Region, 256)
		f.EventType = truncateRaw(f.EventType, 256)
		f.PrincipalARN = truncateRaw(f.PrincipalARN, 2048)
		f.Category = match.Category(truncateRaw(string(f.Category), 256))
		f.Severity = match.Severity(truncateRaw(string(f.Severity), 256))
		f.Object.Bucket = truncateRaw(f.Object.Bucket, 256)
		f.Object.Key = truncateRaw(f.Object.Key, 2048)
		if !record {
			f.Record = nil
		}
		out = append(out, f)
	}
	return out
}

// boundedIncident copies an incident with its lists and their values bounded.
func boundedIncident(in Incident) Incident {
	bound := func(vs []string) []string {
		if len(vs) > 50 {
			vs = vs[:50]
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = truncateRaw(v, 256)
		}
		return out
	}
	in.EventNames = bound(in.EventNames)
	in.SourceIPs = bound(in.SourceIPs)
	in.ID = truncateRaw(in.ID, 256)
	in.AccountID = truncateRaw(in.AccountID, 256)
	in.Category = match.Category(truncateRaw(string(in.Category), 256))
	in.Severity = match.Severity(truncateRaw(string(in.Severity), 256))
	in.GroupKey = truncateRaw(in.GroupKey, 1024)
	return in
}

// truncateRaw cuts s to at most max bytes on a rune boundary, with
// truncMarker; unlike clean it keeps every other character (JSON escapes them).
func truncateRaw(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + truncMarker
}

package channel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
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
	http    *httpDoer
}

type webhookConfig struct {
	URL        Secret            `yaml:"url"`
	URLFile    string            `yaml:"url_file"`
	BaseURL    string            `yaml:"base_url"`
	Secret     Secret            `yaml:"secret"`
	SecretFile string            `yaml:"secret_file"`
	Headers    map[string]string `yaml:"headers"`
	// IncludeRecord is gone: alert keeps no CloudTrail records (its state
	// stays small), so it could only ever send null. false is accepted and
	// ignored; true is an error that says where the record is.
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
	if cfg.IncludeRecord {
		return nil, c.FieldError("include_record", "no longer supported: alert does not keep CloudTrail records; "+
			"each finding in the body names its record (eventID, object {bucket,key}), which is in the log file and on cloudtrail.records")
	}
	w := &webhook{name: c.Name, url: u, secret: sec, headers: h}
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
	// Notes are the notification's notes (e.g. a compliance notice), plain text.
	Notes  []string  `json:"notes,omitempty"`
	SentAt time.Time `json:"sentAt,omitzero"`
}

// Signature computes the X-Rootwatch-Signature header value for body.
func Signature(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func (w *webhook) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	b, err := encodeJSON(dataBody(n, w.http.now().UTC()))
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

// dataBody is the structured body of the webhook and the SNS topic: title,
// summary and notes as plain text for people, the incident and findings as
// data (values kept, bounded; encodeJSON escapes invisible characters).
func dataBody(n *Notification, sentAt time.Time) webhookBody {
	m := Render(n)
	b := webhookBody{
		Version: "1", Kind: n.Kind, Title: m.Title.In(Plain), Summary: m.Summary.In(Plain),
		Incident: boundedIncident(n.Incident, keepValue), Findings: boundedFindings(n.Findings, keepValue),
		SentAt: sentAt,
	}
	for _, note := range m.Notes {
		b.Notes = append(b.Notes, note.In(Plain))
	}
	return b
}

// Bounds of data values: free text (user agent, error message) and
// everything else.
const (
	maxDataText  = 4096
	maxDataValue = 256
)

// keepValue bounds a data value and keeps every character of it.
func keepValue(s string, max int) string { return truncateRaw(s, max) }

// displayValue bounds a data value a provider shows people as it is
// (PagerDuty custom_details): invisible characters become visible \uXXXX,
// and the result is bounded again (marking grows it).
func displayValue(s string, max int) string {
	return truncateRaw(markForDisplay(truncateRaw(s, max)), max)
}

// boundedFindings copies findings with every string passed through value
// (with its bound: 4 KB for free text), and without the raw record, so a
// hostile 1 MB user agent cannot blow up a provider's payload limit.
func boundedFindings(fs []match.Finding, value func(string, int) string) []match.Finding {
	out := make([]match.Finding, 0, len(fs))
	for _, f := range fs {
		f.UserAgent = value(f.UserAgent, maxDataText)
		f.ErrorMessage = value(f.ErrorMessage, maxDataText)
		f.SourceIPAddress = value(f.SourceIPAddress, maxDataValue)
		f.EventName = value(f.EventName, maxDataValue)
		f.EventSource = value(f.EventSource, maxDataValue)
		f.ErrorCode = value(f.ErrorCode, maxDataValue)
		f.EventID = value(f.EventID, maxDataValue)
		f.AccountID = value(f.AccountID, maxDataValue)
		f.Region = value(f.Region, maxDataValue)
		f.EventType = value(f.EventType, maxDataValue)
		f.PrincipalARN = value(f.PrincipalARN, 2048)
		f.AccessKeyID = value(f.AccessKeyID, maxDataValue)
		if s := f.Session; s != nil {
			c := *s
			c.AccessKeyID, c.CallerARN, c.CallerAccountID = value(c.AccessKeyID, maxDataValue), value(c.CallerARN, 2048), value(c.CallerAccountID, maxDataValue)
			c.CallerSourceIP, c.CallerUserAgent = value(c.CallerSourceIP, maxDataValue), value(c.CallerUserAgent, maxDataText)
			c.TargetAccountID, c.TaskPolicyARN, c.IssueEventID = value(c.TargetAccountID, maxDataValue), value(c.TaskPolicyARN, 2048), value(c.IssueEventID, maxDataValue)
			f.Session = &c
		}
		f.Rule = match.Rule(value(string(f.Rule), maxDataValue))
		f.Path = match.Path(value(string(f.Path), maxDataValue))
		f.Category = match.Category(value(string(f.Category), maxDataValue))
		f.Severity = match.Severity(value(string(f.Severity), maxDataValue))
		f.Object.Bucket = value(f.Object.Bucket, maxDataValue)
		f.Object.Key = value(f.Object.Key, 2048)
		f.Record = nil
		out = append(out, f)
	}
	return out
}

// boundedIncident copies an incident with its lists and values bounded.
func boundedIncident(in Incident, value func(string, int) string) Incident {
	bound := func(vs []string) []string {
		if len(vs) > 50 {
			vs = vs[:50]
		}
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i] = value(v, maxDataValue)
		}
		return out
	}
	in.EventNames = bound(in.EventNames)
	in.SourceIPs = bound(in.SourceIPs)
	in.ID = value(in.ID, maxDataValue)
	in.AccountID = value(in.AccountID, maxDataValue)
	in.Category = match.Category(value(string(in.Category), maxDataValue))
	in.Severity = match.Severity(value(string(in.Severity), maxDataValue))
	in.GroupKey = value(in.GroupKey, 1024)
	return in
}

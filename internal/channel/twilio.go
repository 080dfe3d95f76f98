package channel

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

func init() { Register("twilio", newTwilio) }

// twilio sends an SMS through the Messages API: form-encoded To, From (or
// MessagingServiceSid) and Body, basic auth AccountSid:AuthToken.
type twilio struct {
	name string
	url  string
	auth string
	to   string
	from string
	mss  string
	http *httpDoer
}

type twilioConfig struct {
	AccountSID    string `yaml:"account_sid"`
	AuthToken     Secret `yaml:"auth_token"`
	AuthTokenFile string `yaml:"auth_token_file"`
	// From is a Twilio number in E.164 form; or set MessagingServiceSID.
	From                string `yaml:"from"`
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	To                  string `yaml:"to"`
	// BaseURL replaces https://api.twilio.com.
	BaseURL string `yaml:"base_url"`
}

var (
	e164       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	twilioSID  = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	twilioMGID = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

func newTwilio(c Config, d Deps) (Channel, error) {
	var cfg twilioConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if !twilioSID.MatchString(cfg.AccountSID) {
		return nil, c.FieldError("account_sid", "must be AC followed by 32 hex digits")
	}
	tok, err := c.secret("auth_token", cfg.AuthToken, cfg.AuthTokenFile, true)
	if err != nil {
		return nil, err
	}
	if !e164.MatchString(cfg.To) {
		return nil, c.FieldError("to", "must be a phone number in E.164 form (+14155550100)")
	}
	switch {
	case cfg.From != "" && cfg.MessagingServiceSID != "":
		return nil, c.FieldError("from", "set from or messaging_service_sid, not both")
	case cfg.MessagingServiceSID != "":
		if !twilioMGID.MatchString(cfg.MessagingServiceSID) {
			return nil, c.FieldError("messaging_service_sid", "must be MG followed by 32 hex digits")
		}
	case !e164.MatchString(cfg.From):
		return nil, c.FieldError("from", "must be a phone number in E.164 form (or set messaging_service_sid)")
	}
	base, err := c.parseBaseURL("base_url", cfg.BaseURL, "https://api.twilio.com")
	if err != nil {
		return nil, err
	}
	t := &twilio{
		name: c.Name, to: cfg.To, from: cfg.From, mss: cfg.MessagingServiceSID,
		url:  base + "/2010-04-01/Accounts/" + cfg.AccountSID + "/Messages.json",
		auth: basicAuth(cfg.AccountSID, tok.Reveal()),
	}
	t.http = newHTTPDoer(c.Name, d, tok, Secret(t.auth))
	return t, nil
}

func (t *twilio) Name() string { return t.name }

func (t *twilio) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	form := url.Values{"To": {t.to}, "Body": {smsMessage(n)}}
	if t.mss != "" {
		form.Set("MessagingServiceSid", t.mss)
	} else {
		form.Set("From", t.from)
	}
	resp, err := t.http.do(ctx, request{
		method: http.MethodPost, url: t.url, what: "create message",
		header: http.Header{
			"Authorization": {t.auth},
			"Content-Type":  {"application/x-www-form-urlencoded"},
			"Accept":        {"application/json"},
		},
		body: []byte(form.Encode()),
	})
	if err != nil {
		return nil, err
	}
	var out struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(resp.body, &out) // the SID is informative only
	if out.SID == "" {
		return nil, nil
	}
	return map[string]string{"message_sid": strings.TrimSpace(out.SID)}, nil
}

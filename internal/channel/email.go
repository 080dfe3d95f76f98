package channel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

func init() { Register("email", newEmail) }

// email sends a multipart (text + HTML) message over SMTP with go-mail.
// Follow-ups reference the first message (In-Reply-To), so mail clients
// thread an incident's messages together.
type email struct {
	name    string
	client  *gomail.Client
	from    string
	to      []string
	prefix  string
	now     func() time.Time
	secrets *httpDoer // only for scrubbing errors
	log     *slog.Logger
}

type emailConfig struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is the STARTTLS policy: mandatory (default), opportunistic or none.
	TLS string `yaml:"tls"`
	// SSL uses implicit TLS (SMTPS, usually port 465) instead of STARTTLS.
	SSL          bool   `yaml:"ssl"`
	Username     string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// Auth is the SMTP AUTH mechanism: plain (default with a username), login, cram-md5, scram-sha-256, none.
	Auth          string        `yaml:"auth"`
	From          string        `yaml:"from"`
	To            []string      `yaml:"to"`
	SubjectPrefix string        `yaml:"subject_prefix"`
	Timeout       time.Duration `yaml:"timeout"`
	HELO          string        `yaml:"helo"`
}

var smtpAuth = map[string]gomail.SMTPAuthType{
	"plain": gomail.SMTPAuthPlain, "login": gomail.SMTPAuthLogin,
	"cram-md5": gomail.SMTPAuthCramMD5, "scram-sha-256": gomail.SMTPAuthSCRAMSHA256,
}

func newEmail(c Config, d Deps) (Channel, error) {
	var cfg emailConfig
	if err := c.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Host == "" || strings.ContainsAny(cfg.Host, " /\r\n") {
		return nil, c.FieldError("host", "required: the SMTP server's host name")
	}
	from, to, err := emailAddresses(c, cfg.From, cfg.To)
	if err != nil {
		return nil, err
	}
	pw, err := c.secret("password", cfg.Password, cfg.PasswordFile, false)
	if err != nil {
		return nil, err
	}
	opts := []gomail.Option{gomail.WithoutNoop()}
	if cfg.Port != 0 {
		if cfg.Port < 1 || cfg.Port > 65535 {
			return nil, c.FieldError("port", "must be 1-65535")
		}
	}
	switch cfg.TLS {
	case "", "mandatory":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSMandatory))
	case "opportunistic":
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.TLSOpportunistic))
	case "none":
		if cfg.SSL {
			return nil, c.FieldError("tls", "none contradicts ssl: true")
		}
		opts = append(opts, gomail.WithTLSPortPolicy(gomail.NoTLS))
	default:
		return nil, c.FieldError("tls", "must be mandatory, opportunistic or none")
	}
	if cfg.SSL {
		opts = append(opts, gomail.WithSSLPort(false))
	}
	if cfg.Port != 0 {
		opts = append(opts, gomail.WithPort(cfg.Port)) // after the TLS policy, which picks a default port
	}
	switch {
	case cfg.Auth == "none" || (cfg.Auth == "" && cfg.Username == ""):
		if pw != "" {
			return nil, c.FieldError("password", "set without a username")
		}
	default:
		mech := cfg.Auth
		if mech == "" {
			mech = "plain"
		}
		t, ok := smtpAuth[mech]
		if !ok {
			return nil, c.FieldError("auth", "must be plain, login, cram-md5, scram-sha-256 or none")
		}
		if cfg.Username == "" || pw == "" {
			return nil, c.FieldError("username", "username and password are required with auth "+mech)
		}
		opts = append(opts, gomail.WithSMTPAuth(t), gomail.WithUsername(cfg.Username), gomail.WithPassword(pw.Reveal()))
	}
	if cfg.Timeout > 0 {
		opts = append(opts, gomail.WithTimeout(cfg.Timeout))
	}
	if cfg.HELO != "" {
		opts = append(opts, gomail.WithHELO(cfg.HELO))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, c.errorf("", "smtp client: %v", err)
	}
	prefix := cfg.SubjectPrefix
	if prefix == "" {
		prefix = "[rootwatch]"
	}
	e := &email{name: c.Name, client: client, from: from, to: to, prefix: clean(prefix, 40), now: d.Now, log: d.Logger}
	e.secrets = newHTTPDoer(c.Name, d, pw)
	return e, nil
}

// emailAddresses validates the sender and recipients.
func emailAddresses(c Config, from string, to []string) (string, []string, error) {
	if _, err := mail.ParseAddress(from); err != nil || strings.ContainsAny(from, "\r\n") {
		return "", nil, c.FieldError("from", "must be an email address")
	}
	if len(to) == 0 {
		return "", nil, c.FieldError("to", "at least one recipient is required")
	}
	for _, a := range to {
		if _, err := mail.ParseAddress(a); err != nil || strings.ContainsAny(a, "\r\n") {
			return "", nil, c.FieldError("to", fmt.Sprintf("%q is not an email address", clean(a, 80)))
		}
	}
	return from, to, nil
}

func (e *email) Name() string { return e.name }

// maxSubject bounds an email subject: RFC 5322 allows 998 characters a
// line and recommends 78; mail clients show about 150.
const maxSubject = 150

// emailContent renders the subject (Plain, one line), the plain-text part
// (Plain: mail clients link bare URLs and hosts, so they are defanged) and
// the HTML part (HTML).
func emailContent(prefix string, n *Notification) (subject, text, htmlBody string) {
	m := Render(n)
	subject = Fit(Plain, prefix+" "+strings.ToUpper(string(m.Severity))+": "+m.Title.In(Plain), maxSubject)
	text = m.Body(Plain) + "\n-- \nrootwatch\n"
	var sb strings.Builder
	sb.WriteString(`<!DOCTYPE html><html><body style="font-family:sans-serif">`)
	fmt.Fprintf(&sb, "<h2>%s</h2>\n<p>%s</p>\n", m.Title.In(HTML), m.Summary.In(HTML))
	for _, note := range m.Notes {
		fmt.Fprintf(&sb, "<p><b>Note:</b> %s</p>\n", note.In(HTML))
	}
	sb.WriteString("<table>\n")
	for _, f := range m.Facts {
		fmt.Fprintf(&sb, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n", f.Label, f.Value.In(HTML))
	}
	sb.WriteString("</table>\n")
	if len(m.Events) > 0 {
		sb.WriteString("<h3>Events</h3>\n<ul>\n")
		for _, ev := range m.Events {
			fmt.Fprintf(&sb, "<li>%s</li>\n", ev.Line(HTML))
		}
		if m.Omitted > 0 {
			fmt.Fprintf(&sb, "<li>…and %d more</li>\n", m.Omitted)
		}
		sb.WriteString("</ul>\n")
	}
	sb.WriteString("<p style=\"color:#888\">rootwatch</p></body></html>\n")
	return subject, text, sb.String()
}

// emailMessageID is the Message-ID of an incident's first email, so
// follow-ups can reference it without keeping it in state.
func emailMessageID(incidentID, from string) string {
	domain := "rootwatch.invalid"
	if a, err := mail.ParseAddress(from); err == nil {
		if i := strings.LastIndexByte(a.Address, '@'); i > 0 {
			domain = a.Address[i+1:]
		}
	}
	return "<" + providerKey("rootwatch.", incidentID, 64) + "@" + domain + ">"
}

func (e *email) Send(ctx context.Context, n *Notification) (map[string]string, error) {
	subject, text, htmlBody := emailContent(e.prefix, n)
	msg := gomail.NewMsg()
	if err := msg.From(e.from); err != nil {
		return nil, Permanent(fmt.Errorf("%s: from: %w", e.name, err))
	}
	if err := msg.To(e.to...); err != nil {
		return nil, Permanent(fmt.Errorf("%s: to: %w", e.name, err))
	}
	msg.Subject(subject)
	msg.SetDateWithValue(e.now())
	root := emailMessageID(n.Incident.ID, e.from)
	if n.Kind == KindOpen {
		msg.SetMessageIDWithValue(strings.Trim(root, "<>"))
	} else {
		msg.SetMessageID()
		msg.SetGenHeader(gomail.HeaderInReplyTo, root)
		msg.SetGenHeader(gomail.HeaderReferences, root)
	}
	msg.SetGenHeader("X-Rootwatch-Incident", safeToken(n.Incident.ID, 128))
	msg.SetGenHeader("X-Rootwatch-Kind", string(n.Kind))
	msg.SetBodyString(gomail.TypeTextPlain, text)
	msg.AddAlternativeString(gomail.TypeTextHTML, htmlBody)
	// One connection per send, so concurrent sends do not share the
	// client's connection (go-mail's *WithSMTPClient calls are safe for that).
	conn, err := e.client.DialToSMTPClientWithContext(ctx)
	if err == nil {
		err = e.client.SendWithSMTPClient(conn, msg)
		if cerr := e.client.CloseWithSMTPClient(conn); err == nil && cerr != nil {
			e.log.Debug("smtp quit failed after a successful send", "channel", e.name, "err", e.secrets.scrub(cerr.Error()))
		}
	}
	if err != nil {
		se := &sendError{msg: e.secrets.scrub(fmt.Sprintf("%s: smtp send: %v", e.name, err)), cause: err}
		var sendErr *gomail.SendError
		if errors.As(err, &sendErr) && sendErr.ErrorCode() >= 500 {
			return nil, Permanent(se) // 5xx: the server refused for good
		}
		return nil, se
	}
	return map[string]string{"message_id": root}, nil
}

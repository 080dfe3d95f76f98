package channel

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"rootwatch/internal/mutant"
)

// maxResponse bounds how much of a provider's answer is read.
const maxResponse = 1 << 20

// excerptLen bounds the body excerpt kept in an HTTPError.
const excerptLen = 200

// httpDoer is the shared HTTP client of every HTTP channel: it sends one
// request, turns a non-2xx answer into *HTTPError (with Retry-After and a
// short, secret-free excerpt) so Retryable decides in one place, and makes
// sure no error carries a URL path, query or credential.
type httpDoer struct {
	name    string
	client  *http.Client
	now     func() time.Time
	secrets []string // scrubbed from every error text
}

func newHTTPDoer(name string, d Deps, secrets ...Secret) *httpDoer {
	h := &httpDoer{name: name, client: d.HTTPClient, now: d.Now}
	for _, s := range secrets {
		h.addSecret(s.Reveal())
	}
	return h
}

// addSecret registers a value to scrub from errors; URLs also register
// their path and query, which is where webhook tokens live.
func (h *httpDoer) addSecret(s string) {
	if len(s) < 4 {
		return
	}
	h.secrets = append(h.secrets, s)
	for _, scheme := range []string{"Basic ", "Bearer ", "GenieKey "} {
		if rest, ok := strings.CutPrefix(s, scheme); ok && len(rest) >= 4 {
			h.secrets = append(h.secrets, rest)
		}
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		if len(u.Path) > 1 {
			h.secrets = append(h.secrets, u.Path, strings.TrimPrefix(u.Path, "/"))
		}
		if u.RawQuery != "" {
			h.secrets = append(h.secrets, u.RawQuery)
			for _, vs := range u.Query() {
				for _, v := range vs {
					if len(v) >= 4 {
						h.secrets = append(h.secrets, v)
					}
				}
			}
		}
	}
}

// scrub removes every known secret from s.
func (h *httpDoer) scrub(s string) string {
	for _, sec := range h.secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// request is one call to a provider.
type request struct {
	method string
	url    string
	header http.Header
	body   []byte
	// what names the call in errors ("create incident"), never the URL.
	what string
}

// response is a 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *httpDoer) do(ctx context.Context, r request) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, bytes.NewReader(r.body))
	if err != nil {
		return nil, Permanent(h.errorf(r, "build request: %s", redactURLError(err)))
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "rootwatch")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		cause := err
		var ue *url.Error
		if errors.As(err, &ue) {
			cause = ue.Err
		}
		return nil, &sendError{msg: h.scrub(fmt.Sprintf("%s: %s %s: %s", h.name, r.what, safeURL(req.URL), cause)), cause: cause}
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err := checkStatus(h.name, r.what, resp, body, h.now(), h.scrub); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, &sendError{msg: h.scrub(fmt.Sprintf("%s: %s: read answer: %s", h.name, r.what, rerr)), cause: rerr}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// CheckResponse turns a non-2xx answer into *HTTPError (status,
// Retry-After, a short excerpt of the body) so that Retryable can decide;
// it returns nil for 2xx. It reads (a bounded part of) the body but does not
// close it. The excerpt is not scrubbed: callers whose provider may echo a
// secret use the channel package's own senders, which do.
func CheckResponse(channel string, resp *http.Response, now time.Time) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	return checkStatus(channel, "", resp, body, now, func(s string) string { return s })
}

func checkStatus(channel, what string, resp *http.Response, body []byte, now time.Time, scrub func(string) string) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	if mutant.Enabled && mutant.On("channel-5xx-delivered") && resp.StatusCode >= 500 { // mutant (make mutants): a 5xx counts as delivered
		return nil
	}
	ex := excerpt([]byte(scrub(string(body)))) // scrub before cutting: no half secrets
	if what != "" {
		ex = what + ": " + ex
	}
	return &HTTPError{
		Channel:    channel,
		Status:     resp.StatusCode,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), now),
		Body:       ex,
	}
}

// doJSON sends v as JSON and decodes a JSON answer into out (when not nil).
func (h *httpDoer) doJSON(ctx context.Context, r request, v, out any) (*response, error) {
	if v != nil {
		b, err := encodeJSON(v)
		if err != nil {
			return nil, Permanent(h.errorf(r, "encode: %v", err))
		}
		r.body = b
		if r.header == nil {
			r.header = http.Header{}
		}
		r.header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if r.header == nil {
		r.header = http.Header{}
	}
	r.header.Set("Accept", "application/json")
	resp, err := h.do(ctx, r)
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(resp.body)) > 0 {
		if err := json.Unmarshal(resp.body, out); err != nil {
			// The provider accepted the request but answered something
			// unexpected; retrying is safe because every channel sends an
			// idempotency key or looks up before creating.
			return resp, h.errorf(r, "HTTP %d with an unreadable answer: %s", resp.status, excerpt(resp.body))
		}
	}
	return resp, nil
}

func (h *httpDoer) errorf(r request, format string, args ...any) error {
	return &sendError{msg: h.scrub(h.name + ": " + r.what + ": " + fmt.Sprintf(format, args...))}
}

// sendError is a delivery failure whose text has been scrubbed of secrets;
// the cause stays reachable for errors.Is/As (context.Canceled, net.Error).
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

// safeURL is the scheme and host only: paths and queries may hold tokens.
func safeURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return "invalid URL"
}

// excerpt is a short printable excerpt of a provider's answer.
func excerpt(b []byte) string {
	b = bytes.TrimSpace(b)
	var sb strings.Builder
	for len(b) > 0 && sb.Len() < excerptLen {
		r, size := utf8.DecodeRune(b)
		b = b[size:]
		switch {
		case r == utf8.RuneError && size <= 1:
			sb.WriteByte('?')
		case r < 0x20 || r == 0x7f:
			sb.WriteByte(' ')
		default:
			sb.WriteRune(r)
		}
	}
	if len(b) > 0 {
		sb.WriteString("…")
	}
	return sb.String()
}

// basicAuth is the value of an Authorization header for HTTP basic auth.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// parseBaseURL checks a configured URL and returns it without a trailing slash.
func (c Config) parseBaseURL(field, v, def string) (string, error) {
	if v == "" {
		v = def
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", c.FieldError(field, "must be an https or http URL")
	}
	return strings.TrimRight(v, "/"), nil
}

// checkSecretURL checks a URL that is itself a secret (a webhook URL with
// its token in the path): errors never echo it.
func (c Config) checkSecretURL(field string, v Secret) error {
	u, err := url.Parse(v.Reveal())
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return c.FieldError(field, "must be an https or http URL")
	}
	return nil
}

// secretURL resolves a URL that is itself a secret (inline or from its
// *_file key), checks it, and applies a base_url override; "" when unset
// and not required.
func (c Config) secretURL(field string, inline Secret, file, base string, required bool) (string, error) {
	u, err := c.secret(field, inline, file, required)
	if err != nil || u == "" {
		return "", err
	}
	if err := c.checkSecretURL(field, u); err != nil {
		return "", err
	}
	if base != "" {
		if _, err := c.parseBaseURL("base_url", base, ""); err != nil {
			return "", err
		}
	}
	return overrideBase(u.Reveal(), base), nil
}

// overrideBase replaces the scheme and host of a secret URL with base (for
// tests and proxies), keeping its path and query.
func overrideBase(secretURL, base string) string {
	if base == "" {
		return secretURL
	}
	u, err := url.Parse(secretURL)
	if err != nil {
		return secretURL
	}
	b, err := url.Parse(base)
	if err != nil {
		return secretURL
	}
	u.Scheme, u.Host = b.Scheme, b.Host
	u.Path = strings.TrimRight(b.Path, "/") + u.Path
	return u.String()
}

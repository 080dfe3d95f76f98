package channel

import (
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	smtpmock "github.com/mocktools/go-smtp-mock/v2"
)

func startSMTP(t *testing.T) *smtpmock.Server {
	t.Helper()
	srv := smtpmock.New(smtpmock.ConfigurationAttr{HostAddress: "127.0.0.1", MultipleMessageReceiving: true, MultipleRcptto: true})
	if err := srv.Start(); err != nil {
		t.Fatalf("start smtp mock: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// received is one message as it arrived at the SMTP server.
type received struct {
	header mail.Header
	parts  map[string]string // content type -> decoded body
}

func readMessage(t *testing.T, m smtpmock.Message) received {
	t.Helper()
	raw := m.MsgRequest()
	raw = strings.TrimSuffix(strings.TrimSuffix(raw, "\r\n.\r\n"), ".\r\n")
	msg, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, want multipart/alternative", msg.Header.Get("Content-Type"))
	}
	out := received{header: msg.Header, parts: map[string]string{}}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		b, _ := io.ReadAll(p) // quoted-printable is decoded by the reader
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		out.parts[ct] = string(b)
	}
	return out
}

func emailConfigFor(srv *smtpmock.Server) string {
	return fmt.Sprintf("name: mail\ntype: email\nhost: 127.0.0.1\nport: %d\ntls: none\nfrom: \"rootwatch <rootwatch@example.com>\"\nto: [secops@example.com, oncall@example.com]\ntimeout: 10s\nhelo: rootwatch.example.com\n", srv.PortNumber())
}

func TestEmailEndToEnd(t *testing.T) {
	srv := startSMTP(t)
	ch := mustBuild(t, emailConfigFor(srv), testDeps(t))
	ctx := testCtx(t)

	hostile := sampleFinding(1)
	hostile.UserAgent = "<script>alert(1)</script>\r\nBcc: x@evil.example"
	open := sampleNotification(KindOpen, hostile)
	st, err := ch.Send(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	up := sampleNotification(KindUpdate, sampleFinding(2), sampleFinding(3))
	up.Incident.EventNames = []string{"ConsoleLogin\r\nBcc: y@evil.example"}
	up.Findings[0].EventName = "GetCallerIdentity\r\nBcc: y@evil.example"
	up.State = st
	if _, err := ch.Send(ctx, up); err != nil {
		t.Fatal(err)
	}
	msgs, err := srv.WaitForMessages(2, 10*time.Second)
	if err != nil {
		t.Fatalf("wait for messages: %v", err)
	}
	first, second := readMessage(t, msgs[0]), readMessage(t, msgs[1])

	if rcpts := msgs[0].RcpttoRequestResponse(); len(rcpts) != 2 {
		t.Errorf("RCPT TO = %v, want the two recipients only", rcpts)
	}
	dec := new(mime.WordDecoder)
	subj, err := dec.DecodeHeader(first.header.Get("Subject"))
	if err != nil || subj != "[rootwatch] CRITICAL: Root console sign-in in account 123456789012" {
		t.Errorf("Subject = %q (%v)", subj, err)
	}
	if first.header.Get("Bcc") != "" || second.header.Get("Bcc") != "" {
		t.Errorf("a Bcc header was injected")
	}
	if got := first.header.Get("Message-Id"); got != st["message_id"] {
		t.Errorf("Message-ID = %q, state %q", got, st["message_id"])
	}
	if got := second.header.Get("In-Reply-To"); got != st["message_id"] || second.header.Get("References") != st["message_id"] {
		t.Errorf("follow-up In-Reply-To = %q, want %q", got, st["message_id"])
	}
	subj2, _ := dec.DecodeHeader(second.header.Get("Subject"))
	if strings.ContainsAny(subj2, "\r\n") || !strings.Contains(subj2, "2 more root events") {
		t.Errorf("follow-up Subject = %q", subj2)
	}

	text, html := first.parts["text/plain"], first.parts["text/html"]
	if !strings.Contains(text, "Account: 123456789012") || !strings.Contains(text, "agent ‹script›alert(1)‹/script› Bcc: x@evil[.]example") {
		t.Errorf("text part:\n%s", text)
	}
	if strings.Contains(html, "<script>") || !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("html part not escaped:\n%s", html)
	}
	if !strings.Contains(second.parts["text/plain"], "2 more root events: GetCallerIdentity Bcc: y@evil[.]example, ConsoleLogin") {
		t.Errorf("follow-up text:\n%s", second.parts["text/plain"])
	}
}

func TestEmailServerRefusal(t *testing.T) {
	for _, tc := range []struct {
		reply string
		retry bool
	}{
		{"550 5.1.1 Mailbox unavailable", false},
		{"421 4.7.0 Try again later", true},
	} {
		srv := smtpmock.New(smtpmock.ConfigurationAttr{
			HostAddress: "127.0.0.1", BlacklistedRcpttoEmails: []string{"secops@example.com"},
			MsgRcpttoBlacklistedEmail: tc.reply,
		})
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Stop() })
		ch := mustBuild(t, emailConfigFor(srv), testDeps(t))
		_, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
		if err == nil {
			t.Fatalf("%s: send to a refused recipient succeeded", tc.reply)
		}
		if retry, _ := Retryable(err); retry != tc.retry {
			t.Errorf("%s: retryable = %v, want %v (%v)", tc.reply, retry, tc.retry, err)
		}
	}
}

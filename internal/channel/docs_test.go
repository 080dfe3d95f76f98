package channel

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// slackPreview renders a Block Kit message as text, roughly as Slack shows it.
func slackPreview(m slackMessage) string {
	var sb strings.Builder
	for _, b := range m.Blocks {
		switch b.Type {
		case "header":
			fmt.Fprintf(&sb, "## %s\n", b.Text.Text)
		case "section":
			if b.Text != nil {
				fmt.Fprintf(&sb, "%s\n", b.Text.Text)
			}
			for _, f := range b.Fields {
				fmt.Fprintf(&sb, "  %s\n", strings.ReplaceAll(f.Text, "\n", " "))
			}
		case "context":
			for _, e := range b.Elements {
				fmt.Fprintf(&sb, "(%s)\n", e.Text)
			}
		}
	}
	return sb.String()
}

// TestDocsSamples prints the samples in docs/channels.md:
// ROOTWATCH_DOCS_SAMPLES=1 go test -run TestDocsSamples -v ./internal/channel
func TestDocsSamples(t *testing.T) {
	f1, f2 := sampleFinding(1), sampleFinding(2)
	f2.EventName, f2.EventSource, f2.Category = "CreateAccessKey", "iam.amazonaws.com", "credential-change"
	f2.UserAgent = "<!channel> *click* <http://evil.example|here>"
	open := sampleNotification(KindOpen, f1)
	up := sampleNotification(KindUpdate, f2)
	up.Incident.Count = 2
	s1, s2 := slackPreview(slackRender(open)), slackPreview(slackRender(up))
	subj, text, html := emailContent("[rootwatch]", up)
	if !strings.Contains(s2, "&lt;!channel&gt;") || !strings.Contains(html, "&lt;!channel&gt;") || !strings.Contains(text, "‹!channel›") ||
		strings.Contains(text, "http://") || !strings.Contains(text, "hxxp[:]//evil[.]example") {
		t.Fatalf("samples not escaped as documented:\n%s\n%s", s2, html)
	}
	if os.Getenv("ROOTWATCH_DOCS_SAMPLES") == "" {
		return
	}
	raw, _ := json.MarshalIndent(slackRender(open), "", "  ")
	fmt.Printf("--- slack open ---\n%s\n--- slack update ---\n%s\n--- email update ---\nSubject: %s\n\n%s\n--- html ---\n%s\n--- slack json ---\n%s\n--- sms ---\n%s\n%s\n",
		s1, s2, subj, text, html, raw, smsMessage(open), smsMessage(up))
}

package channel

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"rootwatch/internal/testutil"
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

// TestDocsLimits checks the limits table of docs/channels.md against the
// constants the channels cut to: each channel's row states each of them.
func TestDocsLimits(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "docs", "channels.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "| channel | what is cut, to |")
	if start < 0 {
		t.Fatal("docs/channels.md has no limits table")
	}
	rows := map[string]string{}
	for _, line := range strings.Split(doc[start:], "\n")[2:] {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		cells := strings.Split(line, " | ") // the cut-to column only: not the provider's limit
		if len(cells) >= 2 {
			rows[strings.TrimPrefix(cells[0], "| ")] = " " + cells[1]
		}
	}
	kb := func(n int) string { return fmt.Sprintf("%d KB", n>>10) }
	for ch, want := range map[string][]string{
		"slack":      {commas(maxSlackHeader), commas(maxSlackSection), commas(maxSlackField), commas(maxSlackText)},
		"pagerduty":  {commas(maxPDSummary), commas(maxDataText), commas(maxDataValue)},
		"servicenow": {commas(maxSNShortDescription), commas(maxSNJournal)},
		"zendesk":    {commas(maxZDSubject), commas(maxZDComment)},
		"opsgenie":   {commas(maxOGMessage), commas(maxOGDescription), commas(maxOGNote)},
		"teams":      {kb(maxTeamsBody)},
		"twilio":     {commas(maxSMS)},
		"sns-sms":    {commas(maxSMS)},
		"email":      {commas(maxSubject)},
		"ses":        {commas(maxSubject)},
		"sns":        {commas(maxSNSSubject), kb(maxSNSMessage)},
		"webhook":    {commas(maxDataText), commas(maxDataValue)},
	} {
		row, ok := rows[ch]
		if !ok {
			t.Errorf("no row for %s in the limits table", ch)
			continue
		}
		for _, w := range want {
			if !strings.Contains(row, " "+w) {
				t.Errorf("%s row does not state %s: %s", ch, w, row)
			}
		}
	}
	for _, typ := range Types() {
		if _, ok := rows[typ]; !ok {
			t.Errorf("channel type %s has no row in the limits table", typ)
		}
	}
}

// commas writes n with thousands separators, as the docs do.
func commas(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

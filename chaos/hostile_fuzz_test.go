package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/match"
)

const fuzzAlertConfig = `
source: "-"
grouping:
  max_findings: 100000
channels:
  - name: out
    type: console
routes:
  - name: all
    channels: [out]
`

// FuzzAlertStdin feeds arbitrary bytes to alert's `--source -` reader
// (Service.RunStdin, what `alert --source -` runs): it must never panic or
// hang, must end without error (bad lines are logged and counted), and
// every line that is a valid finding (match.Finding.Validate: eventID,
// accountId, a known severity, category, rule and path) must be in a
// notification by the end of input.
func FuzzAlertStdin(f *testing.F) {
	good := func(id, acct string) string {
		b, _ := json.Marshal(match.Finding{EventID: id, AccountID: acct, EventName: "ConsoleLogin",
			Category: match.CategoryConsoleLogin, Severity: match.SeverityCritical, EventTime: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)})
		return string(b)
	}
	for _, s := range []string{
		good("e1", "111122223333") + "\n",
		good("e1", "111122223333") + "\n" + good("e1", "111122223333") + "\n" + good("e2", "111122223333") + "\n",
		"not json\n" + good("e3", "444455556666") + "\n{}\n[]\nnull\n",
		`{"eventID":"x"}` + "\n" + `{"accountId":"1"}` + "\n" + `{"eventID":"","accountId":""}` + "\n",
		`{"eventID":"\u0000\ud800","accountId":"` + "\xff\xfe" + `","eventTime":"not a time"}` + "\n",
		`{"eventID":"a","accountId":"b","eventTime":"2026-01-05T00:00:00Z","category":"???","severity":"bogus","record":{"deep":[[[[[]]]]]}}` + "\r\n",
		"\n\n\n",
		good("e4", "1") + good("e5", "1"),
	} {
		f.Add([]byte(s))
	}
	var cfg alert.Config
	if err := config.Decode([]byte(fuzzAlertConfig), &cfg); err != nil {
		f.Fatal(err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var mu sync.Mutex
		sent := map[string]bool{}
		svc, err := alert.New(&cfg, alert.Options{
			Logger:      slog.New(slog.DiscardHandler),
			ChannelDeps: channel.Deps{Stdout: io.Discard},
			OnSent: func(_ string, n *channel.Notification, _ time.Time) {
				mu.Lock()
				defer mu.Unlock()
				for _, f := range n.Findings {
					sent[f.EventID] = true
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := svc.RunStdin(ctx, bytes.NewReader(in)); err != nil {
			t.Fatalf("RunStdin: %v", err)
		}
		if ctx.Err() != nil {
			t.Fatal("RunStdin did not finish within 20s")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, line := range bytes.Split(in, []byte("\n")) {
			var fd match.Finding
			if json.Unmarshal(line, &fd) != nil || fd.Validate() != nil {
				continue
			}
			if !sent[fd.EventID] {
				t.Errorf("finding %q (account %q) was never in a notification", fd.EventID, fd.AccountID)
			}
		}
	})
}

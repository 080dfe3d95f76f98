package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/match"
)

// CategoryAudit is the incident category of audit notifications, so
// routes and people can tell a periodic audit result from live activity.
const CategoryAudit match.Category = "root-audit"

// NotifyFile is the --notify-config file: a channels list in the alert
// configuration's format. Other top-level keys are ignored, so the alert
// service's own config file can be reused as is.
type NotifyFile struct {
	Channels []channel.Config     `yaml:"channels"`
	Other    map[string]yaml.Node `yaml:",inline"`
}

// LoadChannels reads path and builds its channels.
func LoadChannels(path string, deps channel.Deps) ([]channel.Channel, error) {
	var f NotifyFile
	if err := config.Load(path, &f); err != nil {
		return nil, err
	}
	if len(f.Channels) == 0 {
		return nil, fmt.Errorf("notify config %s: no channels", path)
	}
	var out []channel.Channel
	for _, c := range f.Channels {
		ch, err := c.Build(deps)
		if err != nil {
			return nil, fmt.Errorf("notify config %s: %w", path, err)
		}
		out = append(out, ch)
	}
	return out, nil
}

// Notification renders a failing result as one channel notification. The
// incident id is stable per account and day, so providers with
// idempotency keys (PagerDuty dedup_key, Zendesk) fold reruns of the same
// day's audit into one incident.
func Notification(r Result, ch string) *channel.Notification {
	day := r.AuditedAt.UTC().Format("20060102")
	inc := channel.Incident{
		ID:        fmt.Sprintf("root-audit-%s-%s", r.AccountID, day),
		GroupKey:  "root-audit/" + r.AccountID,
		AccountID: r.AccountID,
		Category:  CategoryAudit,
		Severity:  match.SeverityMedium,
		OpenedAt:  r.AuditedAt,
		LastSeen:  r.AuditedAt,
	}
	var findings []match.Finding
	for _, c := range r.Checks {
		if c.Status != StatusFail {
			continue
		}
		sev := match.SeverityHigh
		if c.Name == CheckMFA {
			sev = match.SeverityMedium
		}
		if match.SeverityRank(sev) > match.SeverityRank(inc.Severity) {
			inc.Severity = sev
		}
		f := match.Finding{
			EventTime:    r.AuditedAt,
			AccountID:    r.AccountID,
			EventSource:  "rootwatch-audit/" + r.Source,
			EventName:    c.Name,
			EventType:    "RootAudit",
			Category:     CategoryAudit,
			Severity:     sev,
			ErrorMessage: c.Detail,
			DetectedAt:   r.AuditedAt,
			Record:       []byte("null"),
		}
		if c.Name == CheckRootUsed && r.LastUsed != nil {
			f.EventTime = r.LastUsed.Time
			f.EventID = r.LastUsed.EventID
			inc.LastSeen = r.LastUsed.Time
		}
		findings = append(findings, f)
		inc.EventNames = append(inc.EventNames, c.Name)
	}
	inc.Count = len(findings)
	return &channel.Notification{
		Kind:           channel.KindOpen,
		Incident:       inc,
		Findings:       findings,
		IdempotencyKey: inc.ID + "/" + ch,
	}
}

// Notify sends one notification per failing account to every channel,
// through the shared retry policy. It returns every delivery that failed,
// joined; the others are still sent.
func Notify(ctx context.Context, chans []channel.Channel, rs []Result, policy channel.RetryPolicy) (sent int, err error) {
	var errs []error
	for _, r := range rs {
		if r.Status != StatusFail {
			continue
		}
		for _, ch := range chans {
			res := policy.Do(ctx, ch, Notification(r, ch.Name()))
			if res.Err != nil {
				errs = append(errs, fmt.Errorf("notify %s about account %s: %w", ch.Name(), r.AccountID, res.Err))
				continue
			}
			sent++
		}
	}
	return sent, errors.Join(errs...)
}

// DefaultNotifyPolicy bounds notification retries for a one-shot command.
var DefaultNotifyPolicy = channel.RetryPolicy{MaxAttempts: 4, Base: 500 * time.Millisecond, Max: 10 * time.Second, MaxElapsed: time.Minute}

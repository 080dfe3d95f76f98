// Package channel holds the notification channels (Slack, PagerDuty, email,
// ...) behind one small interface, and the shared policy that decides which
// delivery errors are worth retrying. Retry, dedup and logging are stages the
// alert package puts around a Channel; a channel only renders and sends once.
package channel

import (
	"context"
	"time"

	"rootwatch/internal/match"
)

// Kind says where in an incident's life a notification stands, so a channel
// can open a ticket, post into its thread, or re-page.
type Kind string

// The notification kinds.
const (
	// KindOpen is the first notification of a new incident: page now.
	KindOpen Kind = "open"
	// KindUpdate adds findings to an open incident (Slack thread reply,
	// ServiceNow work note, Zendesk comment, PagerDuty event with the same dedup_key).
	KindUpdate Kind = "update"
	// KindRepeat re-alerts an incident still ongoing after repeat_interval.
	KindRepeat Kind = "repeat"
	// KindResolve closes an incident where the channel has that notion.
	KindResolve Kind = "resolve"
)

// Incident is what the alert stage knows about a group of findings that
// belong together (same account, category and source IP by default).
type Incident struct {
	// ID is stable for the incident's life; channels derive provider
	// idempotency keys (PagerDuty dedup_key, ServiceNow correlation_id,
	// Opsgenie alias) from it so a retried open never creates a second ticket.
	ID        string         `json:"id"`
	GroupKey  string         `json:"groupKey"`
	AccountID string         `json:"accountId"`
	Category  match.Category `json:"category"`
	Severity  match.Severity `json:"severity"`
	OpenedAt  time.Time      `json:"openedAt"`
	LastSeen  time.Time      `json:"lastSeen"`
	// Count is how many distinct findings the incident holds so far.
	Count int `json:"count"`
	// NotRoot is how many of Count are not root activity: the
	// sts:AssumeRoot call that opened a session joins its session's
	// incident (or is the whole of a failed-call or unusual-policy
	// incident) and must never be counted as a root event.
	NotRoot    int      `json:"notRoot,omitempty"`
	EventNames []string `json:"eventNames"`
	SourceIPs  []string `json:"sourceIPs"`
}

// Notification is one message to one channel about one incident.
type Notification struct {
	Kind     Kind
	Incident Incident
	// Findings are the findings new since this channel's previous
	// notification of the incident; the first one triggered it. May be
	// truncated by the alert stage for very large bursts (Incident.Count is exact).
	Findings []match.Finding
	// New is how many findings arrived since this channel's previous
	// notification of the incident: exact, while Findings may carry fewer.
	// Zero means len(Findings).
	New int
	// State is what this channel's earlier Send calls for this incident
	// returned (Slack thread_ts, ServiceNow sys_id, Zendesk ticket id), kept
	// durably by the alert stage. Empty for KindOpen.
	State map[string]string
	// IdempotencyKey is stable across retries and restarts of this exact
	// notification (incident, sequence number, channel); channels send it
	// where the provider accepts one (Zendesk, the generic webhook).
	IdempotencyKey string
	// Notes are short sentences the alert stage adds for people, e.g. that a
	// finding is also a compliance notice (root used after being unused);
	// every channel shows them (the console on its one line).
	Notes []string
}

// CategoryCompliance is the category of the notice the alert stage sends
// when an account's root user is used after being unused for its
// threshold (a notification, never a finding's category).
const CategoryCompliance match.Category = "compliance"

// The notices the alert stage derives from centralised-root sessions
// (sts:AssumeRoot), also notification categories, never a finding's.
const (
	// CategoryUnusualTaskPolicy: a session was opened with a task policy
	// the organisation does not expect.
	CategoryUnusualTaskPolicy match.Category = "unusual-task-policy"
	// CategorySessionIPMismatch: a session was used from another IP
	// address than the one it was opened from.
	CategorySessionIPMismatch match.Category = "session-ip-mismatch"
)

// Channel sends a notification once. It must not retry by itself: the
// caller wraps it in the shared retry policy (see Retryable). The returned
// state is merged into Notification.State for the incident's later notifications.
type Channel interface {
	// Name is the instance name from the config (e.g. "slack-secops").
	Name() string
	// Send renders n for the channel's format, escaping every
	// attacker-controlled field, and delivers it.
	Send(ctx context.Context, n *Notification) (state map[string]string, err error)
}

package alert

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/kafka"
	"rootwatch/internal/match"
)

// Config is the whole `alert` configuration file. cmd/alert declares a flag
// and a ROOTWATCH_ALERT_* variable for some keys (source, listen, log_level,
// log_format, kafka.brokers, kafka.group, kafka.topic), which override the
// file (internal/cli).
type Config struct {
	// Source is "kafka" or "-" (JSON-line findings on stdin).
	Source string `yaml:"source"`
	// Listen is the address of /metrics, /healthz, /readyz and /api/root-last-used.
	Listen string `yaml:"listen"`
	// LogLevel and LogFormat set up the command's logger (internal/cli).
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`

	Kafka KafkaConfig `yaml:"kafka"`
	// KafkaWait is how long alert waits at start for a broker to answer,
	// retrying visibly, before it fails (0: for ever); as ingest's kafka_wait.
	KafkaWait time.Duration `yaml:"kafka_wait"`

	Grouping GroupingConfig `yaml:"grouping"`
	// DedupTTL is how long an eventID is remembered (default 8 days, longer
	// than CloudTrail's worst-case delivery delay plus a replay window).
	DedupTTL Duration `yaml:"dedup_ttl"`
	// RootUnusedDays is the threshold of the "root not used in N days" check.
	RootUnusedDays int `yaml:"root_unused_days"`

	Delivery DeliveryConfig `yaml:"delivery"`

	// Sessions says which centralised-root sessions (sts:AssumeRoot) are
	// expected (docs/alert.md, Centralised root sessions).
	Sessions SessionsConfig `yaml:"sessions"`

	Channels  []channel.Config `yaml:"channels"`
	Routes    []Route          `yaml:"routes"`
	Silences  []Silence        `yaml:"silences"`
	Allowlist []AllowlistRule  `yaml:"allowlist"`
}

// KafkaConfig is the connection (shared internal/kafka.Config, inlined) plus
// the topics and consumer group alert uses.
type KafkaConfig struct {
	kafka.Config `yaml:",inline"`
	Group        string `yaml:"group"`
	Topic        string `yaml:"topic"`
	StateTopic   string `yaml:"state_topic"`
	DLQTopic     string `yaml:"dlq_topic"`
	// CreateTopics creates the state and DLQ topics when missing (default true).
	CreateTopics *bool `yaml:"create_topics"`
	// ReplicationFactor for created topics (default 1... use 3 in production).
	ReplicationFactor int `yaml:"replication_factor"`
	// HeartbeatInterval, SessionTimeout: consumer-group timings (defaults 3s, 30s).
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	SessionTimeout    Duration `yaml:"session_timeout"`
}

// GroupingConfig says which findings form one incident and how often an
// incident's channels hear about it.
type GroupingConfig struct {
	// By lists the finding fields of the group key (default accountId,
	// category, sourceIPAddress).
	By []string `yaml:"by"`
	// Window: a finding joins an open incident whose last finding is at most
	// this much older (event time). Default 1h.
	Window Duration `yaml:"window"`
	// GroupInterval batches updates of an incident to one channel: at most
	// one update per interval. Default 30s.
	GroupInterval Duration `yaml:"group_interval"`
	// RepeatInterval re-alerts an ongoing incident. Default 4h; 0 keeps the default, negative disables.
	RepeatInterval Duration `yaml:"repeat_interval"`
	// MaxFindings caps the findings carried per notification (Incident.Count stays exact). Default 20.
	MaxFindings int `yaml:"max_findings"`
}

// DeliveryConfig is the shared retry policy (channel.RetryPolicy) and the
// per-attempt timeout.
type DeliveryConfig struct {
	MaxAttempts int      `yaml:"max_attempts"`
	Backoff     Duration `yaml:"backoff"`
	MaxBackoff  Duration `yaml:"max_backoff"`
	// MaxElapsed bounds one notification's retries before it is parked in the DLQ.
	MaxElapsed Duration `yaml:"max_elapsed"`
	// Timeout bounds one attempt (a hanging provider). Default 10s.
	Timeout Duration `yaml:"timeout"`
}

// Matchers select findings by account (exact ids or glob patterns like
// "1234*"), category and minimum severity, and centralised-root findings
// by the session's task policy and the person who opened it. Empty lists
// match everything.
type Matchers struct {
	Accounts    []string         `yaml:"accounts"`
	Categories  []match.Category `yaml:"categories"`
	Regions     []string         `yaml:"regions"`
	EventNames  []string         `yaml:"event_names"`
	MinSeverity match.Severity   `yaml:"min_severity"`
	// TaskPolicies match the session's task policy, by name
	// (S3UnlockBucketPolicy, globs allowed) or ARN; Callers match who
	// opened it (the sts:AssumeRoot caller's ARN, globs where * stops at
	// "/"). A finding whose session is not known (no AssumeRoot seen yet)
	// matches neither.
	TaskPolicies []string `yaml:"task_policies"`
	Callers      []string `yaml:"callers"`
}

// Route sends matching findings to channels. Routes are tried in order; the
// first match wins unless it says continue: true.
type Route struct {
	Name     string   `yaml:"name"`
	Match    Matchers `yaml:"match"`
	Channels []string `yaml:"channels"`
	Continue bool     `yaml:"continue"`
}

// Silence mutes matching findings until a time; they are recorded and
// counted, not sent.
type Silence struct {
	Match  Matchers  `yaml:"match"`
	Until  time.Time `yaml:"until"`
	Reason string    `yaml:"reason"`
}

// AllowlistRule describes expected root use (e.g. centralised root access
// sessions from a break-glass runner). Every non-empty field must match.
type AllowlistRule struct {
	Reason        string   `yaml:"reason"`
	Accounts      []string `yaml:"accounts"`
	PrincipalARNs []string `yaml:"principal_arns"`
	SourceIPs     []string `yaml:"source_ips"` // addresses or CIDRs
	EventNames    []string `yaml:"event_names"`
	AssumedRoot   *bool    `yaml:"assumed_root"`
}

// Duration is a time.Duration written as Go writes durations ("30s",
// "1h30m") or as whole days ("8d").
type Duration time.Duration

// UnmarshalYAML parses Go duration syntax, plus a "d" suffix for days.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	if strings.HasSuffix(s, "d") {
		var days int
		if _, err := fmt.Sscanf(s, "%dd", &days); err == nil {
			*d = Duration(time.Duration(days) * 24 * time.Hour)
			return nil
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want %s, got %s", n.Line, Duration(0).DescribeValue(), config.Quote(s))
	}
	*d = Duration(v)
	return nil
}

// DescribeValue says what a Duration accepts, for errors (config.Describer).
func (Duration) DescribeValue() string { return "a duration such as 30s, 5m, 1h or 8d" }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Defaults of the settings cmd/alert also takes as flags (it declares them
// with these; SetDefaults fills them for configurations built in code).
const (
	DefaultSource     = "kafka"
	DefaultTopic      = kafka.TopicRootActivity
	DefaultStateTopic = "rootwatch.alert-state"
	DefaultDLQTopic   = "rootwatch.alerts.dlq"
	DefaultGroup      = "rootwatch-alert"
)

// SetDefaults fills unset values.
func (c *Config) SetDefaults() {
	if c.Source == "" {
		c.Source = DefaultSource
	}
	k := &c.Kafka
	if k.Group == "" {
		k.Group = DefaultGroup
	}
	if k.Topic == "" {
		k.Topic = DefaultTopic
	}
	if k.StateTopic == "" {
		k.StateTopic = DefaultStateTopic
	}
	if k.DLQTopic == "" {
		k.DLQTopic = DefaultDLQTopic
	}
	if k.ReplicationFactor == 0 {
		k.ReplicationFactor = 1
	}
	if k.HeartbeatInterval == 0 {
		k.HeartbeatInterval = Duration(3 * time.Second)
	}
	if k.SessionTimeout == 0 {
		k.SessionTimeout = Duration(30 * time.Second)
	}
	g := &c.Grouping
	if len(g.By) == 0 {
		g.By = []string{"accountId", "category", "sourceIPAddress"}
	}
	if g.Window == 0 {
		g.Window = Duration(time.Hour)
	}
	if g.GroupInterval == 0 {
		g.GroupInterval = Duration(30 * time.Second)
	}
	if g.RepeatInterval == 0 {
		g.RepeatInterval = Duration(4 * time.Hour)
	}
	if g.MaxFindings == 0 {
		g.MaxFindings = 20
	}
	if c.DedupTTL == 0 {
		c.DedupTTL = Duration(8 * 24 * time.Hour)
	}
	if c.RootUnusedDays == 0 {
		c.RootUnusedDays = 7
	}
	if c.Sessions.ExpectedTaskPolicies == nil {
		c.Sessions.ExpectedTaskPolicies = slices.Clone(RootTaskPolicies)
	}
	d := &c.Delivery
	if d.MaxAttempts == 0 {
		d.MaxAttempts = 6
	}
	if d.Backoff == 0 {
		d.Backoff = Duration(500 * time.Millisecond)
	}
	if d.MaxBackoff == 0 {
		d.MaxBackoff = Duration(30 * time.Second)
	}
	if d.MaxElapsed == 0 {
		d.MaxElapsed = Duration(2 * time.Minute)
	}
	if d.Timeout == 0 {
		d.Timeout = Duration(10 * time.Second)
	}
}

// groupFields are the finding fields a group key may use.
var groupFields = map[string]func(*match.Finding) string{
	"accountId":       func(f *match.Finding) string { return f.AccountID },
	"category":        func(f *match.Finding) string { return string(f.Category) },
	"sourceIPAddress": func(f *match.Finding) string { return f.SourceIPAddress },
	"eventName":       func(f *match.Finding) string { return f.EventName },
	"eventSource":     func(f *match.Finding) string { return f.EventSource },
	"region":          func(f *match.Finding) string { return f.Region },
	"userAgent":       func(f *match.Finding) string { return f.UserAgent },
	"severity":        func(f *match.Finding) string { return string(f.Severity) },
	"principalArn":    func(f *match.Finding) string { return f.PrincipalARN },
}

// categories are the categories a route, silence or allowlist may match.
var categories = []match.Category{
	match.CategoryConsoleLogin, match.CategoryConsoleLoginFailed, match.CategoryCredentialChange,
	match.CategoryAssumedRoot, match.CategoryDenied, match.CategoryMutating, match.CategoryReadOnly,
	CategoryCompliance, match.CategorySessionFailed, CategoryUnusualTaskPolicy, CategorySessionIPMismatch,
}

// severities are the values of min_severity, most severe first.
var severities = []match.Severity{match.SeverityCritical, match.SeverityHigh, match.SeverityMedium, match.SeverityLow}

// oneOf lists values for a message: "a, b or c".
func oneOf[T ~string](values []T) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = string(v)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Validate checks the config. Each problem is a *config.KeyError naming the
// key as written in the file (routes[0].channels[1]) and, for a value from
// a fixed set, the values allowed; cmd/alert adds the line or flag it came
// from (internal/cli).
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, config.KeyErrorf(key, format, a...))
	}
	if c.Source != "kafka" && c.Source != "-" {
		bad("source", `want kafka or "-" (stdin), got %s`, config.Quote(c.Source))
	}
	if c.Source == "kafka" {
		if len(c.Kafka.Brokers) == 0 {
			bad("kafka.brokers", "required when source is kafka")
		} else if err := c.Kafka.Config.Validate(); err != nil {
			bad("kafka", "%s", strings.TrimPrefix(err.Error(), "kafka: "))
		}
	}
	groupBy := make([]string, 0, len(groupFields))
	for f := range groupFields {
		groupBy = append(groupBy, f)
	}
	sort.Strings(groupBy)
	for i, f := range c.Grouping.By {
		if groupFields[f] == nil {
			bad(fmt.Sprintf("grouping.by[%d]", i), "unknown field %s (want %s)", config.Quote(f), oneOf(groupBy))
		}
	}
	if c.Grouping.Window.D() < 0 {
		bad("grouping.window", "must be positive")
	}
	if c.Grouping.GroupInterval.D() < 0 {
		bad("grouping.group_interval", "must be positive")
	}
	if c.DedupTTL.D() < c.Grouping.Window.D() {
		bad("dedup_ttl", "must be at least grouping.window (%s)", config.FormatDuration(c.Grouping.Window.D()))
	}
	if c.RootUnusedDays < 0 {
		bad("root_unused_days", "must be positive")
	}
	if c.Delivery.MaxAttempts < 0 {
		bad("delivery.max_attempts", "must be positive")
	}
	names := map[string]bool{}
	var channelNames []string
	for i, ch := range c.Channels {
		key := fmt.Sprintf("channels[%d]", i)
		if ch.Name == "" {
			bad(key+".name", "required")
		} else if names[ch.Name] {
			bad(key+".name", "duplicate channel name %s", config.Quote(ch.Name))
		}
		if ch.Type == "" {
			bad(key+".type", "required (one of %s)", strings.Join(channel.Types(), ", "))
		}
		if ch.Name != "" && !names[ch.Name] {
			channelNames = append(channelNames, ch.Name)
		}
		names[ch.Name] = true
	}
	checkMatchers := func(key string, m Matchers) {
		for j, a := range m.Accounts {
			if _, err := path.Match(a, ""); err != nil {
				bad(fmt.Sprintf("%s.accounts[%d]", key, j), "bad pattern %s (an account id, or a pattern with * and ?)", config.Quote(a))
			}
		}
		for j, cat := range m.Categories {
			if !slices.Contains(categories, cat) {
				bad(fmt.Sprintf("%s.categories[%d]", key, j), "unknown category %s (want %s)", config.Quote(string(cat)), oneOf(categories))
			}
		}
		if m.MinSeverity != "" && match.SeverityRank(m.MinSeverity) == 0 {
			bad(key+".min_severity", "unknown severity %s (want %s)", config.Quote(string(m.MinSeverity)), oneOf(severities))
		}
		for j, tp := range m.TaskPolicies {
			if err := checkTaskPolicy(tp, true); err != nil {
				bad(fmt.Sprintf("%s.task_policies[%d]", key, j), "%v", err)
			}
		}
		for j, c := range m.Callers {
			if err := checkCaller(c); err != nil {
				bad(fmt.Sprintf("%s.callers[%d]", key, j), "%v", err)
			}
		}
	}
	for i, tp := range c.Sessions.ExpectedTaskPolicies {
		if err := checkTaskPolicy(tp, false); err != nil {
			bad(fmt.Sprintf("sessions.expected_task_policies[%d]", i), "%v", err)
		}
	}
	if len(c.Routes) == 0 {
		bad("routes", "at least one route is required, or nothing is ever sent")
	}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		checkMatchers(key+".match", r.Match)
		if len(r.Channels) == 0 {
			bad(key+".channels", "at least one channel is required")
		}
		for j, n := range r.Channels {
			if !names[n] {
				known := "no channels are defined"
				if len(channelNames) > 0 {
					known = "defined: " + strings.Join(channelNames, ", ")
				}
				bad(fmt.Sprintf("%s.channels[%d]", key, j), "no channel named %s in channels (%s)", config.Quote(n), known)
			}
		}
	}
	for i, s := range c.Silences {
		key := fmt.Sprintf("silences[%d]", i)
		checkMatchers(key+".match", s.Match)
		if s.Until.IsZero() {
			bad(key+".until", "required (a time in RFC 3339 form such as 2026-01-31T09:00:00Z): a silence must end")
		}
		if strings.TrimSpace(s.Reason) == "" {
			bad(key+".reason", "required: say why it is silenced")
		}
	}
	for i, a := range c.Allowlist {
		key := fmt.Sprintf("allowlist[%d]", i)
		if strings.TrimSpace(a.Reason) == "" {
			bad(key+".reason", "required: say why this root use is expected")
		}
		if len(a.PrincipalARNs)+len(a.SourceIPs)+len(a.EventNames)+len(a.Accounts) == 0 && a.AssumedRoot == nil {
			bad(key, "matches every finding: give accounts, principal_arns, source_ips, event_names or assumed_root")
		}
		for j, ip := range a.SourceIPs {
			if _, err := parseIPMatcher(ip); err != nil {
				bad(fmt.Sprintf("%s.source_ips[%d]", key, j), "%v", err)
			}
		}
	}
	return errors.Join(errs...)
}

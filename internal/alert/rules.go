package alert

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// CategoryCompliance is the category of the notification sent when an
// account's root user is used after not being used for root_unused_days
// (defined with the channels, which title it).
const CategoryCompliance = channel.CategoryCompliance

// rules are the compiled routes, silences and allowlist: pure functions of
// a finding, shared read-only by every partition worker.
type rules struct {
	routes    []Route
	silences  []Silence
	allow     []compiledAllow
	groupBy   []func(*match.Finding) string
	groupName []string
	expected  []string // sessions.expected_task_policies
}

type compiledAllow struct {
	AllowlistRule
	ips []ipMatcher
}

func compileRules(c *Config) *rules {
	r := &rules{routes: c.Routes, silences: c.Silences, expected: c.Sessions.ExpectedTaskPolicies}
	for _, f := range c.Grouping.By {
		r.groupBy = append(r.groupBy, groupFields[f])
		r.groupName = append(r.groupName, f)
	}
	for _, a := range c.Allowlist {
		ca := compiledAllow{AllowlistRule: a}
		for _, s := range a.SourceIPs {
			m, _ := parseIPMatcher(s) // validated
			ca.ips = append(ca.ips, m)
		}
		r.allow = append(r.allow, ca)
	}
	return r
}

// groupKey joins the configured fields; '|' inside values is escaped so two
// different tuples never collide.
func (r *rules) groupKey(f *match.Finding) string {
	var b strings.Builder
	for i, get := range r.groupBy {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(strings.ReplaceAll(get(f), "|", `\|`))
	}
	return b.String()
}

// route returns the channel names a finding goes to, in config order, without duplicates.
func (r *rules) route(f *match.Finding, dst []string) []string {
	for i := range r.routes {
		rt := &r.routes[i]
		if !rt.Match.matches(f) {
			continue
		}
		for _, c := range rt.Channels {
			if !slices.Contains(dst, c) {
				dst = append(dst, c)
			}
		}
		if !rt.Continue {
			break
		}
	}
	return dst
}

// silenced returns the reason of the first active silence matching f.
func (r *rules) silenced(f *match.Finding, now time.Time) (string, bool) {
	for i := range r.silences {
		s := &r.silences[i]
		if now.Before(s.Until) && s.Match.matches(f) {
			return s.Reason, true
		}
	}
	return "", false
}

// allowed returns the reason of the first allowlist rule matching f.
func (r *rules) allowed(f *match.Finding) (string, bool) {
	for i := range r.allow {
		if r.allow[i].matches(f) {
			return r.allow[i].Reason, true
		}
	}
	return "", false
}

func (m *Matchers) matches(f *match.Finding) bool {
	if len(m.Accounts) > 0 && !globAny(m.Accounts, f.AccountID) {
		return false
	}
	if len(m.Categories) > 0 && !slices.Contains(m.Categories, f.Category) {
		return false
	}
	if len(m.Regions) > 0 && !globAny(m.Regions, f.Region) {
		return false
	}
	if len(m.EventNames) > 0 && !slices.Contains(m.EventNames, f.EventName) {
		return false
	}
	if m.MinSeverity != "" && match.SeverityRank(f.Severity) < match.SeverityRank(m.MinSeverity) {
		return false
	}
	return m.matchesSession(f)
}

func (a *compiledAllow) matches(f *match.Finding) bool {
	if len(a.Accounts) > 0 && !globAny(a.Accounts, f.AccountID) {
		return false
	}
	if len(a.PrincipalARNs) > 0 && !globAny(a.PrincipalARNs, f.PrincipalARN) {
		return false
	}
	if len(a.EventNames) > 0 && !slices.Contains(a.EventNames, f.EventName) {
		return false
	}
	if a.AssumedRoot != nil && *a.AssumedRoot != f.AssumedRoot {
		return false
	}
	if len(a.ips) > 0 {
		ip, err := netip.ParseAddr(f.SourceIPAddress)
		if err != nil {
			return false // "console.amazonaws.com", "AWS Internal": never allowlisted by IP
		}
		ok := false
		for _, m := range a.ips {
			if m.Contains(ip) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func globAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if p == s {
			return true
		}
		if ok, _ := path.Match(p, s); ok {
			return true
		}
	}
	return false
}

type ipMatcher = netip.Prefix

func parseIPMatcher(s string) (ipMatcher, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

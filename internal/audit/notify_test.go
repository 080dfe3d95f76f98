package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

func TestNotificationFromResult(t *testing.T) {
	rc, err := ParseReport(readFixture(t, "root_keys_active_unused_no_mfa.csv"))
	if err != nil {
		t.Fatal(err)
	}
	r := Judge(rc, fixtureNow, 7)
	n := Notification(r, "pager")
	if n.Kind != channel.KindOpen || n.Incident.AccountID != "333333333333" || n.Incident.ID != "root-audit-333333333333-20260105" {
		t.Errorf("incident %+v", n.Incident)
	}
	if n.Incident.Severity != match.SeverityHigh || n.Incident.Count != 3 || len(n.Findings) != 3 {
		t.Errorf("severity %s count %d findings %d", n.Incident.Severity, n.Incident.Count, len(n.Findings))
	}
	if got := strings.Join(n.Incident.EventNames, ","); got != "root_access_keys,root_signing_certs,root_mfa" {
		t.Errorf("event names %s", got)
	}
	if n.IdempotencyKey != n.Incident.ID+"/pager" {
		t.Errorf("key %s", n.IdempotencyKey)
	}
	// Same account, same day: same incident, whatever the time of day.
	r2 := Judge(rc, fixtureNow.Add(5*time.Hour), 7)
	if Notification(r2, "pager").Incident.ID != n.Incident.ID {
		t.Error("incident id not stable within a day")
	}
}

type recordingChannel struct{ got []*channel.Notification }

func (c *recordingChannel) Name() string { return "rec" }
func (c *recordingChannel) Send(_ context.Context, n *channel.Notification) (map[string]string, error) {
	c.got = append(c.got, n)
	return nil, nil
}

func TestNotifyOnlyFailing(t *testing.T) {
	rs := []Result{
		{AccountID: "1", Status: StatusPass},
		{AccountID: "2", Status: StatusFail, Checks: []Check{{Name: CheckRootUsed, Status: StatusFail}}},
		{AccountID: "3", Status: StatusError, Error: "denied"},
	}
	ch := &recordingChannel{}
	sent, err := Notify(context.Background(), []channel.Channel{ch}, rs, DefaultNotifyPolicy)
	if err != nil || sent != 1 || len(ch.got) != 1 || ch.got[0].Incident.AccountID != "2" {
		t.Fatalf("sent %d err %v got %+v", sent, err, ch.got)
	}
}

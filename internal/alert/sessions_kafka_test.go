package alert

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/channel"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/testutil"
)

const sessionsKafkaConfig = `
source: kafka
kafka:
  brokers: ["placeholder:9092"]
  heartbeat_interval: 100ms
  session_timeout: 6s
grouping:
  group_interval: 50ms
delivery: {max_attempts: 3, backoff: 10ms, max_backoff: 20ms, max_elapsed: 1s, timeout: 300ms}
channels: [{name: pager, type: console}, {name: audit, type: console}]
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {channels: [pager]}
`

// crossPartitionSession is the documented session with a member account
// whose findings land in another partition (of 2) than the management
// account's, as balance places keys: the join must cross replicas.
func crossPartitionSession(t testing.TB, balance kafkago.Balancer, key string) fixtures.Session {
	t.Helper()
	part := func(acct string) int { return balance.Balance(kafkago.Message{Key: []byte(acct)}, 0, 1) }
	s := fixtures.DefaultSession()
	s.KeyID = key
	for i := range 100 {
		member := fixtures.MemberAccount
		if i > 0 {
			member = fmt.Sprintf("2222222222%02d", i)
		}
		if part(member) != part(fixtures.ManagementAccount) {
			s.Target = member
			return s
		}
	}
	t.Fatal("no member account lands in another partition than the management account")
	return s
}

// sessionNotes are the notifications of the session incident of key.
func sessionNotes(ns []channel.Notification, key string) []channel.Notification {
	var out []channel.Notification
	for _, n := range ns {
		if n.Incident.GroupKey == "session|"+key {
			out = append(out, n)
		}
	}
	return out
}

// oncePerSession: the session's notifications are of one incident, paged
// once; the open names the issuer, or says it is not known yet and a
// later update names it.
func oncePerSession(t *testing.T, ns []channel.Notification, s fixtures.Session, issuerFirst bool) {
	t.Helper()
	opened := "opened by " + s.Caller + " from " + s.CallerIP + " for S3UnlockBucketPolicy"
	if len(byIncident(ns)) != 1 || kinds(ns)[channel.KindOpen] != 1 {
		t.Fatalf("want one incident paged once, got %d incidents, kinds %v", len(byIncident(ns)), kinds(ns))
	}
	if hasNote(ns[0], opened) != issuerFirst || hasNote(ns[0], "not known yet") == issuerFirst {
		t.Errorf("issuer first %v: open notes %q", issuerFirst, ns[0].Notes)
	}
	if last := ns[len(ns)-1]; !hasNote(last, opened) || last.Incident.AccountID != s.Target {
		t.Errorf("the last notification does not name the issuer: %q", last.Notes)
	}
}

// The AssumeRoot call and the session's actions land in different
// partitions, owned by different replicas: each session pages once with
// its issuer named, whether the call arrives before the actions or after.
func TestKafkaSessionJoinAcrossPartitions(t *testing.T) {
	env := newKafkaEnv(t)
	cfg := env.config(sessionsKafkaConfig)
	pager, audit := newRecorder("pager"), newRecorder("audit")
	a, b := env.startTwo(cfg, pager, audit)

	first := crossPartitionSession(t, &kafkago.Hash{}, "ASIAFIRSTEXAMPLE0001")
	env.produce(issue(t, first))
	testutil.WaitFor(t, 10*time.Second, "both replicas know the session", func() bool {
		return a.s.view.session(first.KeyID) != nil && b.s.view.session(first.KeyID) != nil
	})
	env.produce(act(t, first, "f1", "GetBucketPolicy", first.CallerIP, "us-west-2", time.Minute),
		act(t, first, "f2", "DeleteBucketPolicy", first.CallerIP, "eu-west-1", 2*time.Minute))
	testutil.WaitFor(t, 10*time.Second, "the first session's incident covers both actions", func() bool {
		ns := sessionNotes(pager.notes(), first.KeyID)
		return len(ns) > 0 && ns[len(ns)-1].Incident.Count == 3
	})

	last := first
	last.KeyID, last.IssueID = "ASIALASTEXAMPLE00001", "issue-last"
	env.produce(act(t, last, "l1", "GetBucketPolicy", last.CallerIP, "us-west-2", time.Minute),
		act(t, last, "l2", "DeleteBucketPolicy", last.CallerIP, "eu-west-1", 2*time.Minute))
	testutil.WaitFor(t, 10*time.Second, "the second session paged without issuer", func() bool {
		return len(sessionNotes(pager.notes(), last.KeyID)) > 0
	})
	env.produce(issue(t, last))
	testutil.WaitFor(t, 10*time.Second, "the second session's incident updated with its issuer", func() bool {
		ns := sessionNotes(pager.notes(), last.KeyID)
		return hasNote(ns[len(ns)-1], "opened by "+last.Caller)
	})
	time.Sleep(200 * time.Millisecond) // four group intervals: a second page would show
	oncePerSession(t, sessionNotes(pager.notes(), first.KeyID), first, true)
	oncePerSession(t, sessionNotes(pager.notes(), last.KeyID), last, false)
}

// The real pipeline: CloudTrail log files of two accounts read by ingest's
// object reader into Kafka (kfake), two alert replicas consuming. A
// session pages once with its issuer named, in both arrival orders.
func TestRealPipelineSessionPagesOnceWithIssuer(t *testing.T) {
	for _, issuerFirst := range []bool{true, false} {
		name := "issuer-last"
		if issuerFirst {
			name = "issuer-first"
		}
		t.Run(name, func(t *testing.T) {
			_, kc := kafkatest.Cluster(t, 2, DefaultTopic, kafka.TopicDLQ)
			out, err := kafka.NewSink(kc, kafka.SinkOptions{SkipRecords: true})
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			ingest := func(files map[string][]string) {
				t.Helper()
				dir := t.TempDir()
				if err := fixtures.WriteFiles(dir, fixtures.GzipLogs(files)); err != nil {
					t.Fatal(err)
				}
				sum, err := pipeline.RunLocal(context.Background(), pipeline.LocalRun{Paths: []string{dir}, Common: pipeline.Common{Sink: out}})
				if err != nil || len(sum.Failed) > 0 {
					t.Fatalf("ingest: %v %+v", err, sum.Failed)
				}
			}
			env := &kafkaEnv{t: t, cfg: kc}
			cfg := env.config(sessionsKafkaConfig)
			pager, audit := newRecorder("pager"), newRecorder("audit")
			a, b := env.startTwo(cfg, pager, audit)

			s := crossPartitionSession(t, &kafkago.Murmur2Balancer{}, fixtures.DefaultSession().KeyID)
			mgmt := map[string][]string{
				fixtures.LogKey("o-exampleorg1", fixtures.ManagementAccount, "CloudTrail", s.Region, "2024/10/25", "20241025T2055Z", "mgmt", ".json.gz"): {
					fixtures.AssumeRootRecord(s), fixtures.Records[len(fixtures.Records)-1].JSON},
			}
			member := map[string][]string{
				fixtures.LogKey("o-exampleorg1", s.Target, "CloudTrail", "us-west-2", "2024/10/25", "20241025T2055Z", "west", ".json.gz"): {
					fixtures.SessionAction(s, "m1", "GetBucketPolicy", s.CallerIP, "us-west-2", s.Issued.Add(time.Minute))},
				fixtures.LogKey("o-exampleorg1", s.Target, "CloudTrail", "eu-west-1", "2024/10/25", "20241025T2055Z", "euw1", ".json.gz"): {
					fixtures.SessionAction(s, "m2", "DeleteBucketPolicy", s.CallerIP, "eu-west-1", s.Issued.Add(2*time.Minute))},
			}
			if issuerFirst {
				ingest(mgmt)
				testutil.WaitFor(t, 10*time.Second, "both replicas know the session", func() bool {
					return a.s.view.session(s.KeyID) != nil && b.s.view.session(s.KeyID) != nil
				})
				ingest(member)
			} else {
				ingest(member)
				testutil.WaitFor(t, 10*time.Second, "the page without issuer", func() bool { return len(sessionNotes(pager.notes(), s.KeyID)) > 0 })
				ingest(mgmt)
			}
			testutil.WaitFor(t, 10*time.Second, "both actions and the issuer in the incident", func() bool {
				ns := sessionNotes(pager.notes(), s.KeyID)
				return len(ns) > 0 && ns[len(ns)-1].Incident.Count == 3 && hasNote(ns[len(ns)-1], "opened by "+s.Caller)
			})
			time.Sleep(200 * time.Millisecond) // four group intervals: a second page would show
			oncePerSession(t, sessionNotes(pager.notes(), s.KeyID), s, issuerFirst)
			for _, n := range pager.notes() {
				if n.Incident.Category == match.CategorySessionFailed || n.Incident.Category == CategoryUnusualTaskPolicy {
					t.Errorf("a usual session raised %s", n.Incident.Category)
				}
			}
			// Only the member account used root; the AssumeRoot call is not root use.
			for _, ru := range a.s.RootUses() {
				if ru.AccountID != s.Target {
					t.Errorf("root use recorded for %s: %+v", ru.AccountID, ru)
				}
			}
			if c := audit.notes(); len(c) != 1 || !strings.Contains(c[0].Incident.AccountID, s.Target) {
				t.Errorf("compliance notices %+v", c)
			}
		})
	}
}

package pipeline_test

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/failure"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/match"
)

// ctEventBody is an EventBridge envelope around detail.
func ctEventBody(detailType, source, detail string) string {
	return `{"version":"0","id":"bad-1","detail-type":"` + detailType + `","source":"` + source + `","account":"111122223333","time":"2026-01-05T00:00:00Z","region":"us-east-1","resources":[],"detail":` + detail + `}`
}

// One queue carries S3 notifications and EventBridge CloudTrail events,
// raw and through SNS. Each root event, and each sts:AssumeRoot call
// (successful or failed), becomes a finding marked path=eventbridge with
// no object, the record it carried and its rule (cis-root, or
// root-session-issued: never counted as root activity); events that make
// no finding (not root activity, a call that only mentions AssumeRoot) are
// acknowledged without output; a look-alike
// from an application and a detail without eventID are dead-lettered as
// unknown formats; and only the log file's records reach the records
// topic.
func TestRealtimeEventsShareTheQueueWithS3Notifications(t *testing.T) {
	e := newEnv(t, 30, nil)
	ls := e.logs(11, 1, 40, true)
	publish := e.snsTopic()

	e.send(s3EventBody(bucket, ls.keys[0]))
	wantRoot := map[string]fixtures.Event{} // every event that makes a finding, by its record's eventID
	notRoot, sessions := 0, 0
	for _, ev := range fixtures.Events {
		e.send(ev.Body)
		publish(ev.Body)
		switch ev.Rule {
		case "":
			notRoot++
		case string(match.RuleRootSessionIssued):
			sessions++
			fallthrough
		default:
			wantRoot[ev.EventID()] = ev
		}
	}
	forged := ctEventBody("AWS API Call via CloudTrail", "my.app", fixtures.EventNamed("root API call").Detail())
	e.send(forged)
	publish(ctEventBody("AWS Console Sign In via CloudTrail", "aws.signin", `{"eventTime":"2026-01-05T00:00:00Z","userIdentity":{"type":"Root"}}`))
	if len(wantRoot)-sessions < 4 || sessions < 2 || notRoot < 5 {
		t.Fatalf("fixtures: %d root events, %d AssumeRoot calls, %d others", len(wantRoot)-sessions, sessions, notRoot)
	}

	r := e.start(runOpts{})
	s3Root := ls.truth.FindingIDs() // root activity and sts:AssumeRoot calls
	if len(s3Root) == 0 {
		t.Fatal("the generated log file has no root activity; the test would prove nothing")
	}
	n := len(s3Root) + 2*len(wantRoot)
	recs := kafkatest.ReadAll(t, e.kcfg, kafka.TopicRootActivity, n, 30*time.Second)
	var fromS3 []string
	fromEB := map[string]int{}
	for _, rec := range recs {
		var f match.Finding
		if err := json.Unmarshal(rec.Value, &f); err != nil {
			t.Fatalf("finding %s: %v", rec.Value, err)
		}
		switch f.Path {
		case match.PathS3:
			fromS3 = append(fromS3, f.EventID)
			if f.Object.Key != ls.keys[0] {
				t.Errorf("S3 finding %s names object %+v", f.EventID, f.Object)
			}
		case match.PathEventBridge:
			fromEB[f.EventID]++
			ev, ok := wantRoot[f.EventID]
			if !ok {
				t.Errorf("eventbridge finding for %s, which is not a root fixture", f.EventID)
				continue
			}
			if f.Object != (match.ObjectRef{}) || f.DetectedAt.IsZero() || string(f.Rule) != ev.Rule ||
				string(f.Category) != ev.Category || string(f.Severity) != ev.Severity || string(f.Record) != ev.Detail() {
				t.Errorf("%s: finding %+v; want no object, detectedAt, %s, %s/%s and the detail as record", ev.Name, f, ev.Rule, ev.Category, ev.Severity)
			}
			if f.Rule == match.RuleRootSessionIssued && (f.Session == nil || f.Session.AccessKeyID == "" && f.ErrorCode == "" || f.AssumedRoot) {
				t.Errorf("%s: AssumeRoot finding with session %+v, assumedRoot %v", ev.Name, f.Session, f.AssumedRoot)
			}
			if rec.Headers["eventbridge-id"] == "" || rec.Headers["path"] != "eventbridge" || string(rec.Key) != f.AccountID {
				t.Errorf("%s: key %q, headers %v", ev.Name, rec.Key, rec.Headers)
			}
		default:
			t.Errorf("finding with path %q", f.Path)
		}
	}
	sort.Strings(fromS3)
	if !slices.Equal(fromS3, s3Root) {
		t.Errorf("S3 findings %v, want %v", fromS3, s3Root)
	}
	for id, ev := range wantRoot {
		if fromEB[id] != 2 {
			t.Errorf("%s: %d eventbridge findings, want 2 (raw and through SNS)", ev.Name, fromEB[id])
		}
	}
	entries := dlqEntries(t, e.kcfg, 2, 20*time.Second)
	for _, d := range entries {
		if d.Reason != failure.ReasonUnknownFormat || d.Notification == "" || !strings.Contains(d.Error, "EventBridge") {
			t.Errorf("DLQ entry %+v: want unknown-format with the notification and an EventBridge reason", d)
		}
	}
	if len(entries) != 2 {
		t.Errorf("%d DLQ entries, want 2", len(entries))
	}
	waitFor(t, 20*time.Second, "every message deleted", func() bool { return e.queued() == 0 })
	checkRecords(t, e.kcfg, ls.all(), 10*time.Second)
	if got := value(r.metrics.RealtimeEvents.WithLabelValues("finding")); got != float64(2*len(wantRoot)) {
		t.Errorf("realtime_events_total{result=finding} = %v, want %d", got, 2*len(wantRoot))
	}
	if got := value(r.metrics.RealtimeEvents.WithLabelValues("not-root")); got != float64(2*notRoot) {
		t.Errorf("realtime_events_total{result=not-root} = %v, want %d", got, 2*notRoot)
	}
	for _, f := range []string{"eventbridge-cloudtrail", "sns-eventbridge-cloudtrail", "s3"} {
		if v := value(r.metrics.MessagesReceived.WithLabelValues(f)); v < 1 {
			t.Errorf("messages_received_total{format=%q} = %v", f, v)
		}
	}
	if got := kafkatest.Count(t, e.kcfg, kafka.TopicRootActivity); got != int64(n) {
		t.Errorf("findings topic holds %d, want %d", got, n)
	}
}

// The real-time path keeps the delivery guarantee: while Kafka refuses
// writes the event's message is released for redelivery, never deleted;
// once Kafka is back its finding arrives and the message is deleted.
func TestRealtimeEventWaitsForKafka(t *testing.T) {
	e := newEnv(t, 30, nil)
	down, refused := e.refuseProduce()
	ev := fixtures.EventNamed("root console sign-in")
	e.send(ev.Body)
	r := e.start(runOpts{backoff: time.Second, writer: kafka.WriterOptions{MaxAttempts: 2}})
	waitFor(t, 30*time.Second, "the event's message released after Kafka refused the finding", func() bool {
		return value(r.metrics.MessagesReleased.WithLabelValues("transient")) >= 1
	})
	if value(r.metrics.MessagesDeleted) != 0 || e.queued() != 1 {
		t.Fatalf("deleted %v, queued %d while Kafka refused every write", value(r.metrics.MessagesDeleted), e.queued())
	}
	down.Store(false)
	recs := kafkatest.ReadAll(t, e.kcfg, kafka.TopicRootActivity, 1, 30*time.Second)
	if len(recs) == 0 || !strings.Contains(string(recs[0].Value), ev.EventID()) {
		t.Fatalf("findings after Kafka came back: %d", len(recs))
	}
	waitFor(t, 30*time.Second, "message deleted after Kafka acknowledged", func() bool { return e.queued() == 0 })
	if refused.Load() == 0 {
		t.Error("Kafka never refused a write; the test proved nothing")
	}
}

package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/twmb/franz-go/pkg/kmsg"

	"rootwatch/internal/failure"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/testutil"
)

func s3EventBody(bucket string, keys ...string) string {
	var recs []string
	for _, k := range keys {
		recs = append(recs, `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"`+bucket+`"},"object":{"key":"`+url.QueryEscape(k)+`","size":1}}}`)
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func eventBridgeBody(bucket, key string) string {
	return `{"version":"0","id":"1","detail-type":"Object Created","source":"aws.s3","account":"111122223333","time":"2026-01-05T00:00:00Z","region":"us-east-1","detail":{"version":"0","bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `","size":1},"reason":"PutObject"}}`
}

func cloudTrailSNSBody(bucket string, keys ...string) string {
	b, _ := json.Marshal(map[string]any{"s3Bucket": bucket, "s3ObjectKey": keys})
	return string(b)
}

// snsTopic creates an SNS topic subscribed to the env's queue (raw
// delivery off, so messages arrive in the SNS envelope).
func (e *env) snsTopic() (publish func(msg string)) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sn := fq.SNS()
	top, err := sn.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("t-" + sanitize(e.t.Name()))})
	if err != nil {
		e.t.Fatal(err)
	}
	attrs, err := e.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(e.queueURL), AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := sn.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
		e.t.Fatal(err)
	}
	return func(msg string) {
		e.t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := sn.Publish(ctx, &sns.PublishInput{TopicArn: top.TopicArn, Message: aws.String(msg), Subject: aws.String("Amazon S3 Notification")}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// Every notification format reaches Kafka: raw S3 events, S3 events through
// SNS, EventBridge, CloudTrail's SNS notification (plain and through SNS,
// naming several objects); test events and digest-only messages are
// deleted without output.
func TestEveryNotificationFormatEndToEnd(t *testing.T) {
	e := newEnv(t, 30, nil)
	ls := e.logs(1, 6, 40, true)
	publish := e.snsTopic()

	e.send(s3EventBody(bucket, ls.keys[0]))
	publish(s3EventBody(bucket, ls.keys[1]))
	e.send(eventBridgeBody(bucket, ls.keys[2]))
	e.send(cloudTrailSNSBody(bucket, ls.keys[3], ls.keys[4]))
	publish(cloudTrailSNSBody(bucket, ls.keys[5]))
	e.send(`{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-01-05T00:00:00Z","Bucket":"trail-bucket","RequestId":"r","HostId":"h"}`)
	e.send(cloudTrailSNSBody(bucket, "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/05/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260105T000000Z.json.gz"))

	r := e.start(runOpts{})
	want := ls.all()
	checkRecords(t, e.kcfg, want, 30*time.Second)
	wantIDs := ls.truth.FindingIDs()
	if len(wantIDs) == 0 {
		t.Fatal("generator wrote no root activity; the test would prove nothing")
	}
	if got := findingIDs(t, e.kcfg, len(wantIDs), 20*time.Second); !slices.Equal(got, wantIDs) {
		t.Errorf("findings %v, want %v", got, wantIDs)
	}
	waitFor(t, 20*time.Second, "every message deleted", func() bool { return e.queued() == 0 })
	if n := kafkatest.Count(t, e.kcfg, kafka.TopicDLQ); n != 0 {
		t.Errorf("%d DLQ entries, want none", n)
	}
	for _, f := range []string{"s3", "sns-s3", "eventbridge", "cloudtrail", "sns-cloudtrail", "s3-test"} {
		if v := value(r.metrics.MessagesReceived.WithLabelValues(f)); v < 1 {
			t.Errorf("messages_received_total{format=%q} = %v", f, v)
		}
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Objects that can never be read land in the DLQ with their reason and the
// original notification, and their messages are deleted; a good object
// named in the same message as a bad one is still fully delivered.
func TestPermanentFailuresAreDeadLettered(t *testing.T) {
	e := newEnv(t, 30, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "forbidden") {
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`))
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	ls := e.logs(2, 2, 60, true)

	// A truncated file: records before the cut are produced, then it fails.
	var whole bytes.Buffer
	whole.WriteString(`{"Records":[`)
	for i, r := range ls.records[ls.keys[1]] {
		if i > 0 {
			whole.WriteByte(',')
		}
		whole.Write(r)
	}
	whole.WriteString(`]}`)
	cut := whole.Bytes()[:whole.Len()*2/3]
	const prefix = "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/"
	e.s3.Put(t, bucket, prefix+"truncated.json.gz", gz(cut))
	corrupt := gz(whole.Bytes())
	corrupt = append(corrupt[:len(corrupt)/2:len(corrupt)/2], bytes.Repeat([]byte{0xff}, 64)...)
	e.s3.Put(t, bucket, prefix+"corrupt.json.gz", corrupt)
	e.s3.Put(t, bucket, prefix+"other.json.gz", gz([]byte(`{"hello":"world"}`)))

	e.send(s3EventBody(bucket, ls.keys[0], prefix+"missing.json.gz"))
	e.send(s3EventBody(bucket, prefix+"truncated.json.gz"))
	e.send(s3EventBody(bucket, prefix+"corrupt.json.gz"))
	e.send(s3EventBody(bucket, prefix+"other.json.gz"))
	e.send(`{"surprise":true}`)
	e.send(eventBridgeBody(bucket, prefix+"forbidden.json.gz"))

	e.start(runOpts{})
	entries := dlqEntries(t, e.kcfg, 6, 30*time.Second)
	byKey := map[string]pipeline.DLQEntry{}
	for _, d := range entries {
		k := "message"
		if d.Object != nil {
			k = strings.TrimPrefix(d.Object.Key, prefix)
		}
		if d.Notification == "" || d.MessageID == "" || d.Source != "sqs" {
			t.Errorf("entry %s lacks the original notification: %+v", k, d)
		}
		byKey[k] = d
	}
	for k, reason := range map[string]string{
		"missing.json.gz":   failure.ReasonObjectMissing,
		"truncated.json.gz": failure.ReasonTruncated,
		"corrupt.json.gz":   failure.ReasonCorrupt,
		"other.json.gz":     failure.ReasonNotCloudTrail,
		"message":           failure.ReasonUnknownFormat,
		"forbidden.json.gz": failure.ReasonAccessDenied,
	} {
		d, ok := byKey[k]
		if !ok {
			t.Errorf("no DLQ entry for %s (have %v)", k, keysOf(byKey))
			continue
		}
		if d.Reason != reason {
			t.Errorf("%s: reason %q, want %q (error %s)", k, d.Reason, reason, d.Error)
		}
	}
	if d := byKey["truncated.json.gz"]; !d.Partial || d.RecordsProduced == 0 {
		t.Errorf("truncated entry does not say records were produced: %+v", d)
	}
	if d := byKey["message"]; d.Notification != `{"surprise":true}` {
		t.Errorf("unknown-format entry carries %q, want the raw body", d.Notification)
	}
	// The good object in the message with the missing one is delivered.
	checkRecords(t, e.kcfg, append(slices.Clone(ls.records[ls.keys[0]]), truncatedPrefix(ls.records[ls.keys[1]], byKey["truncated.json.gz"].RecordsProduced)...), 20*time.Second)
	waitFor(t, 20*time.Second, "every message deleted", func() bool { return e.queued() == 0 })
}

func truncatedPrefix(recs [][]byte, n int64) [][]byte {
	return recs[:min(int(n), len(recs))]
}

func keysOf(m map[string]pipeline.DLQEntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// refuseProduce makes the broker refuse every produce request while down
// is true (it starts true); refused counts the refusals.
func (e *env) refuseProduce() (down *atomic.Bool, refused *atomic.Int64) {
	down, refused = new(atomic.Bool), new(atomic.Int64)
	down.Store(true)
	e.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		if down.Load() {
			refused.Add(1)
			return nil, errors.New("kafka is down"), true
		}
		return nil, nil, false
	})
	return down, refused
}

// While Kafka refuses writes, messages are not deleted (nothing is lost);
// once it is back, every record arrives and the queue drains.
func TestKafkaDownThenBack(t *testing.T) {
	e := newEnv(t, 30, nil)
	ls := e.logs(3, 3, 30, true)
	down, refused := e.refuseProduce()
	for _, k := range ls.keys {
		e.send(s3EventBody(bucket, k))
	}
	r := e.start(runOpts{backoff: time.Second, writer: kafka.WriterOptions{MaxAttempts: 2}})
	waitFor(t, 30*time.Second, "a message released after Kafka refused writes", func() bool {
		return value(r.metrics.MessagesReleased.WithLabelValues("transient")) >= 1
	})
	if value(r.metrics.MessagesDeleted) != 0 {
		t.Fatal("a message was deleted while Kafka refused every write")
	}
	if e.queued() != len(ls.keys) {
		t.Fatalf("queue holds %d messages while Kafka is down, want %d", e.queued(), len(ls.keys))
	}
	down.Store(false)
	checkRecords(t, e.kcfg, ls.all(), 40*time.Second)
	waitFor(t, 30*time.Second, "queue drained after Kafka came back", func() bool { return e.queued() == 0 })
	if refused.Load() == 0 {
		t.Error("Kafka never refused a write; the test proved nothing")
	}
}

// A message whose object keeps failing transiently is retried, and after
// --max-receives it is dead-lettered instead of looping forever.
func TestMaxReceivesDeadLetters(t *testing.T) {
	var gets atomic.Int64
	e := newEnv(t, 30, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "flaky") {
				gets.Add(1)
				http.Error(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`, http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	key := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/flaky.json.gz"
	e.s3.Put(t, bucket, key, gz([]byte(`{"Records":[]}`)))
	e.send(s3EventBody(bucket, key))
	e.start(runOpts{maxReceives: 2, backoff: 500 * time.Millisecond})
	entries := dlqEntries(t, e.kcfg, 1, 40*time.Second)
	if len(entries) != 1 || entries[0].Reason != failure.ReasonMaxReceives || entries[0].ReceiveCount != 3 {
		t.Fatalf("DLQ %+v, want one max-receives entry at receive 3", entries)
	}
	waitFor(t, 20*time.Second, "message deleted", func() bool { return e.queued() == 0 })
	if gets.Load() < 2 {
		t.Errorf("object fetched %d times; transient failures were not retried", gets.Load())
	}
}

// On shutdown, a message whose object is still being read is released at
// once (visible again long before its visibility timeout), not lost.
func TestShutdownReleasesInFlightMessages(t *testing.T) {
	e := newEnv(t, 60, slowGets)
	ls := e.logs(4, 1, 1000, true)
	// The premise: the object takes far longer to trickle (4 KiB per 100ms)
	// than the grace period, so it is still being read when that ends.
	if n := len(ls.records[ls.keys[0]]); n < 300 {
		t.Fatalf("the generated object has %d records; too small to still be in work at the stop", n)
	}
	e.send(s3EventBody(bucket, ls.keys[0]))
	r := e.start(runOpts{visibility: 60 * time.Second, grace: 300 * time.Millisecond})
	waitFor(t, 20*time.Second, "object in progress", func() bool { return value(r.metrics.InFlightObjects) >= 1 })
	r.stop(t)
	if d := value(r.metrics.MessagesDeleted); d != 0 {
		t.Fatalf("%v messages deleted; the object was not finished", d)
	}
	if v := value(r.metrics.MessagesReleased.WithLabelValues("shutdown")); v != 1 {
		t.Errorf("messages_released_total{reason=shutdown} = %v, want 1", v)
	}
	// Visible again now, although the visibility timeout is 60s.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(e.queueURL), WaitTimeSeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 1 {
		t.Fatalf("released message not visible again: received %d", len(out.Messages))
	}
}

// slowGets trickles GET bodies (4 KiB every 100ms) so reads take a while.
func slowGets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Query().Has("list-type") || strings.Count(r.URL.Path, "/") < 2 {
			h.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(&testutil.SlowWriter{ResponseWriter: w, Ctx: r.Context(), Chunk: 4096, Pause: 100 * time.Millisecond}, r)
	})
}

package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/failure"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

const hostileBucket = "hostile-trail"

func hostileKey(name string) string {
	return "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/111122223333_CloudTrail_us-east-1_20260105T0000Z_" + name + ".json.gz"
}

// A good record, and a root record, to put around hostile content inside
// one object: they must come out.
const (
	aroundRecord = `{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a"},"eventTime":"2026-01-05T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","eventID":"11111111-aaaa-4bbb-8ccc-000000000001","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
	aroundRoot   = `{"eventVersion":"1.08","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2026-01-05T00:00:01Z","eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"bad ` + "\xff\xfe" + ` utf8","eventID":"22222222-aaaa-4bbb-8ccc-000000000002","eventType":"AwsApiCall","recipientAccountId":"111122223333"}`
)

// gzipBomb is a tiny gzip that inflates to n bytes: a CloudTrail header,
// whitespace (valid JSON, compresses ~1000:1), then the end.
func gzipBomb(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	io.WriteString(w, `{"Records":[`)
	chunk := bytes.Repeat([]byte{' '}, 1<<20)
	for written := 0; written < n; written += len(chunk) {
		w.Write(chunk)
	}
	io.WriteString(w, `]}`)
	w.Close()
	return buf.Bytes()
}

// TestHostileObjects sends, through the real SQS ingest pipeline (fauxqs,
// gofakes3, kfake), one notification per hostile object, naming a good
// log file before it and one after it. Each hostile object must end in
// cloudtrail.dlq with its reason, and every record and finding of the good
// objects in the same notification must reach Kafka.
func TestHostileObjects(t *testing.T) {
	fq := startFauxqs(t)
	const (
		maxRecord = 16 << 20  // the default cap: a 100 MB record is over it
		maxObject = 160 << 20 // the bomb inflates past it
	)
	big := strings.Repeat("A", 100<<20)
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	cases := []struct {
		name   string
		body   []byte
		reason string // "" = must not be dead-lettered
		// wantRecords / wantFindings are eventIDs inside the hostile object that must come out anyway.
		wantRecords []string
		wantFinding []string
	}{
		{name: "truncated-gzip", body: func() []byte {
			b := gz(t, []byte(`{"Records":[`+aroundRecord+`,`+aroundRecord+`]}`))
			return b[:len(b)*2/3]
		}(), reason: failure.ReasonCorrupt},
		{name: "gzip-bomb", body: gzipBomb(t, 400<<20), reason: failure.ReasonObjectTooLarge},
		{name: "100MB-record", body: gz(t, []byte(`{"Records":[`+aroundRecord+`,{"eventVersion":"1.08","eventID":"big","requestParameters":{"x":"`+big+`"}},`+aroundRoot+`]}`)),
			reason: failure.ReasonRecordTooLarge, wantRecords: []string{"11111111-aaaa-4bbb-8ccc-000000000001", "22222222-aaaa-4bbb-8ccc-000000000002"}, wantFinding: []string{"22222222-aaaa-4bbb-8ccc-000000000002"}},
		// The reader caps nesting depth: the whole object is dead-lettered (replayable), not split.
		{name: "deeply-nested-record", body: gz(t, []byte(`{"Records":[{"eventID":"deep","x":`+deep+`},`+aroundRoot+`]}`)), reason: failure.ReasonSyntax},
		{name: "deeply-nested-top", body: gz(t, []byte(deep)), reason: failure.ReasonNotCloudTrail},
		{name: "invalid-utf8", body: gz(t, []byte(`{"Records":[`+aroundRoot+`]}`)),
			wantRecords: []string{"22222222-aaaa-4bbb-8ccc-000000000002"}, wantFinding: []string{"22222222-aaaa-4bbb-8ccc-000000000002"}},
		{name: "records-not-array", body: gz(t, []byte(`{"Records":{"eventID":"x"}}`)), reason: failure.ReasonNotCloudTrail},
		{name: "array-at-top", body: gz(t, []byte(`[`+aroundRecord+`]`)), reason: failure.ReasonNotCloudTrail},
		{name: "empty-file", body: nil, reason: failure.ReasonNotCloudTrail},
		{name: "not-cloudtrail-json", body: gz(t, []byte(`{"hello":"world","n":[1,2,3]}`)), reason: failure.ReasonNotCloudTrail},
		{name: "not-cloudtrail-text", body: []byte("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be trail-bucket [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE REST.GET.VERSIONING - \"GET /trail-bucket?versioning HTTP/1.1\" 200\n"), reason: failure.ReasonNotCloudTrail}, // starts with a JSON number
		{name: "html", body: []byte("<html><body>AccessDenied</body></html>"), reason: failure.ReasonSyntax},
		{name: "digest", reason: ""},
	}

	t.Logf("hostile objects built")
	good := genGood(t, 42, 2*len(cases), 40)
	s3s := s3test.Start(t, nil)
	s3s.Bucket(t, hostileBucket)
	objs := map[string][]byte{}
	for k, v := range good.bodies {
		objs[k] = v
	}
	digestKey := "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/05/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20260105T000000Z.json.gz"
	keyOf := map[string]string{}
	for _, c := range cases {
		k := hostileKey(c.name)
		if c.name == "digest" {
			k = digestKey
			c.body = gz(t, []byte(`{"awsAccountId":"111122223333","digestStartTime":"2026-01-05T00:00:00Z","logFiles":[]}`))
		}
		keyOf[c.name] = k
		objs[k] = c.body
	}
	putAll(t, s3s, hostileBucket, objs)
	big = ""

	_, kcfg := kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	queue := fq.CreateQueue(t, fmt.Sprintf("hostile-%d", time.Now().UnixNano()), 30)
	sq := fq.SQS()
	for i, c := range cases {
		keys := []string{good.keys[2*i], keyOf[c.name], good.keys[2*i+1]}
		b, _ := json.Marshal(map[string]any{"s3Bucket": hostileBucket, "s3ObjectKey": keys})
		sendSQS(t, sq, queue, string(b))
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := pipeline.NewMetrics(nil)
	sink, err := kafka.NewSink(kcfg, kafka.SinkOptions{Logger: log, Observe: m.ObserveKafka, Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond, BatchBytes: 8 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- pipeline.RunSQS(ctx, pipeline.SQSRun{
			Common: pipeline.Common{Sink: sink, Metrics: m, Logger: log, Workers: 2, ShutdownGrace: 10 * time.Second,
				Reader: cloudtrail.Options{MaxRecordBytes: maxRecord, MaxDecompressedBytes: maxObject}},
			SQS: sq, S3: s3s.Client,
			Source:      source.SQSOptions{QueueURL: queue, WaitTime: time.Second, VisibilityTimeout: 30 * time.Second},
			MaxReceives: 5,
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunSQS: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("RunSQS did not stop within 60s")
		}
		sink.Close()
	}()

	wantDLQ := 0
	for _, c := range cases {
		if c.reason != "" {
			wantDLQ++
		}
	}
	// Every message settled (deleted) means every object was decided.
	waitQueueEmpty(t, sq, queue, 4*time.Minute)
	t.Logf("queue drained; reading %s", kafka.TopicDLQ)
	dlq := map[string]pipeline.DLQEntry{}
	// Ask for one more than expected: an unexpected dead letter shows up.
	for _, r := range kafkatest.ReadAll(t, kcfg, kafka.TopicDLQ, wantDLQ+1, 5*time.Second) {
		var e pipeline.DLQEntry
		if err := json.Unmarshal(r.Value, &e); err != nil {
			t.Fatalf("dlq entry %s: %v", r.Value, err)
		}
		if e.Object == nil {
			t.Errorf("dlq entry without an object: %s", r.Value)
			continue
		}
		dlq[e.Object.Key] = e
	}
	var wantRecs, wantFinds int
	for _, k := range good.keys {
		wantRecs += len(good.records[k])
		wantFinds += len(good.roots[k]) + len(good.calls[k])
	}
	for _, c := range cases {
		wantRecs += len(c.wantRecords)
		wantFinds += len(c.wantFinding)
	}
	t.Logf("%d DLQ entries read", len(dlq))
	recs := kafkatest.ReadAll(t, kcfg, kafka.TopicRecords, wantRecs, 2*time.Minute)
	finds := kafkatest.ReadAll(t, kcfg, kafka.TopicRootActivity, wantFinds, time.Minute)
	gotRec := map[string]bool{}
	recIDs := map[string]bool{}
	for _, r := range recs {
		gotRec[string(r.Value)] = true
		recIDs[gjson.GetBytes(r.Value, "eventID").Str] = true
	}
	gotFind := map[string]bool{}
	for _, r := range finds {
		gotFind[gjson.GetBytes(r.Value, "eventID").Str] = true
	}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := keyOf[c.name]
			e, ok := dlq[k]
			switch {
			case c.reason == "" && ok:
				t.Errorf("dead-lettered (%s: %s), want it processed", e.Reason, e.Error)
			case c.reason != "" && !ok:
				t.Errorf("not in %s, want reason %q", kafka.TopicDLQ, c.reason)
			case ok && e.Reason != c.reason:
				t.Errorf("DLQ reason %q (%s), want %q", e.Reason, e.Error, c.reason)
			case ok && (e.Notification == "" || e.Source != "sqs"):
				t.Errorf("DLQ entry lacks the original notification (source %q)", e.Source)
			}
			for _, id := range c.wantRecords {
				if !recIDs[id] {
					t.Errorf("record %s inside the object did not reach %s", id, kafka.TopicRecords)
				}
			}
			for _, id := range c.wantFinding {
				if !gotFind[id] {
					t.Errorf("root event %s inside the object did not reach %s", id, kafka.TopicRootActivity)
				}
			}
			for _, gk := range []string{good.keys[2*i], good.keys[2*i+1]} {
				if e, ok := dlq[gk]; ok {
					t.Errorf("good neighbour %s dead-lettered: %s", gk, e.Reason)
				}
				for _, r := range good.records[gk] {
					if !gotRec[string(r)] {
						t.Errorf("a record of the good neighbour %s did not reach Kafka", gk)
						break
					}
				}
				for _, id := range good.roots[gk] {
					if !gotFind[id] {
						t.Errorf("root event %s of the good neighbour %s did not reach Kafka", id, gk)
					}
				}
			}
		})
	}
	if e, ok := dlq[hostileKey("gzip-bomb")]; ok && !strings.Contains(e.Error, "decompressed size limit") {
		t.Errorf("the bomb's DLQ error does not name the limit hit: %s", e.Error)
	}
	if e, ok := dlq[hostileKey("100MB-record")]; ok && (!strings.Contains(e.Error, "record size limit") || !strings.Contains(e.Error, fmt.Sprint(maxRecord))) {
		t.Errorf("the 100 MB record's DLQ error does not name the limit hit: %s", e.Error)
	}
}

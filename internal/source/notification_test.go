package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"rootwatch/internal/fixtures"
)

const (
	logKey    = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T0000Z_abc.json.gz"
	digestKey = "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/05/01/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T000000Z.json.gz"
)

func s3Event(records ...string) string {
	out := `{"Records":[`
	for i, r := range records {
		if i > 0 {
			out += ","
		}
		out += r
	}
	return out + `]}`
}

func s3Rec(event, bucket, key string) string {
	return `{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"` + event +
		`","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"` + bucket + `","arn":"arn:aws:s3:::` + bucket +
		`"},"object":{"key":"` + key + `","size":1234,"eTag":"x","sequencer":"0A"}}}`
}

func snsWrap(msg string) string {
	b, _ := json.Marshal(msg)
	return `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:us-east-1:111122223333:t","Subject":"Amazon S3 Notification","Message":` + string(b) + `,"Timestamp":"2024-05-01T00:00:00.000Z","SignatureVersion":"1"}`
}

func eventBridge(detailType, bucket, key string) string {
	return `{"version":"0","id":"e-1","detail-type":"` + detailType + `","source":"aws.s3","account":"111122223333","time":"2024-05-01T00:00:00Z","region":"us-east-1","resources":["arn:aws:s3:::` + bucket + `"],"detail":{"version":"0","bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `","size":99,"etag":"x","sequencer":"1"},"request-id":"r","requester":"cloudtrail.amazonaws.com","reason":"PutObject"}}`
}

const testEvent = `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T00:00:00.000Z","Bucket":"trail-bucket","RequestId":"R","HostId":"H"}`

var ctSNS = `{"s3Bucket":"trail-bucket","s3ObjectKey":["` + logKey + `","` + digestKey + `","AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/f2.json.gz"]}`

type parseCase struct {
	name    string
	body    string
	want    Notification
	wantErr bool
}

func parseCases() []parseCase {
	cases := []parseCase{
		{name: "s3 event", body: s3Event(s3Rec("ObjectCreated:Put", "trail-bucket", logKey)),
			want: Notification{Format: FormatS3Event, Objects: []Object{{"trail-bucket", logKey, 1234}}}},
		{name: "s3 event key is URL-decoded with + as space", body: s3Event(s3Rec("ObjectCreated:Put", "b", "my+logs/a%2Bb%3Dc%20d.json")),
			want: Notification{Format: FormatS3Event, Objects: []Object{{"b", "my logs/a+b=c d.json", 1234}}}},
		{name: "s3 event with several records, a delete and a digest", body: s3Event(
			s3Rec("ObjectCreated:CompleteMultipartUpload", "b", logKey),
			s3Rec("ObjectRemoved:Delete", "b", "gone.json"),
			s3Rec("ObjectCreated:Put", "b", digestKey),
			s3Rec("ObjectCreated:Copy", "b2", "x.json.gz")),
			want: Notification{Format: FormatS3Event,
				Objects: []Object{{"b", logKey, 1234}, {"b2", "x.json.gz", 1234}},
				Skipped: []Skipped{{Object{"b", "gone.json", 1234}, "event:ObjectRemoved:Delete"}, {Object{"b", digestKey, 1234}, "digest"}}}},
		{name: "s3 event in SNS", body: snsWrap(s3Event(s3Rec("ObjectCreated:Put", "b", "k%3A1.json"))),
			want: Notification{Format: FormatSNSS3Event, Objects: []Object{{"b", "k:1.json", 1234}}}},
		{name: "eventbridge object created", body: eventBridge("Object Created", "b", "AWSLogs/x y.json"),
			want: Notification{Format: FormatEventBridge, Objects: []Object{{"b", "AWSLogs/x y.json", 99}}}},
		{name: "eventbridge object deleted is skipped", body: eventBridge("Object Deleted", "b", "k"),
			want: Notification{Format: FormatEventBridge, Skipped: []Skipped{{Object{"b", "k", 99}, "event:Object Deleted"}}}},
		{name: "eventbridge digest skipped", body: eventBridge("Object Created", "b", digestKey),
			want: Notification{Format: FormatEventBridge, Skipped: []Skipped{{Object{"b", digestKey, 99}, "digest"}}}},
		{name: "cloudtrail sns", body: ctSNS,
			want: Notification{Format: FormatCloudTrailSNS,
				Objects: []Object{{"trail-bucket", logKey, 0}, {"trail-bucket", "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/f2.json.gz", 0}},
				Skipped: []Skipped{{Object{"trail-bucket", digestKey, 0}, "digest"}}}},
		{name: "cloudtrail sns in SNS envelope", body: snsWrap(`{"s3Bucket":"tb","s3ObjectKey":["a.json.gz"]}`),
			want: Notification{Format: FormatSNSCloudTrail, Objects: []Object{{"tb", "a.json.gz", 0}}}},
		{name: "test event", body: testEvent, want: Notification{Format: FormatTestEvent, Test: true}},
		{name: "test event in SNS", body: snsWrap(testEvent), want: Notification{Format: FormatSNSTestEvent, Test: true}},
		{name: "leading whitespace", body: "\n  " + ctSNS, want: Notification{Format: FormatCloudTrailSNS,
			Objects: []Object{{"trail-bucket", logKey, 0}, {"trail-bucket", "AWSLogs/111122223333/CloudTrail/eu-west-1/2024/05/01/f2.json.gz", 0}},
			Skipped: []Skipped{{Object{"trail-bucket", digestKey, 0}, "digest"}}}},

		{name: "eventbridge object created in SNS", body: snsWrap(eventBridge("Object Created", "b", "k.json.gz")),
			want: Notification{Format: FormatSNSEventBridge, Objects: []Object{{"b", "k.json.gz", 99}}}},

		{name: "empty", body: "", wantErr: true},
		{name: "not json", body: "hello", wantErr: true},
		{name: "json array", body: `[1,2]`, wantErr: true},
		{name: "broken json", body: `{"Records":[`, wantErr: true},
		{name: "empty object", body: `{}`, wantErr: true},
		{name: "a CloudTrail log file, not a notification", body: `{"Records":[{"eventVersion":"1.08","eventName":"ConsoleLogin"}]}`, wantErr: true},
		{name: "empty Records", body: `{"Records":[]}`, wantErr: true},
		{name: "bad percent escape", body: s3Event(s3Rec("ObjectCreated:Put", "b", "a%zz")), wantErr: true},
		{name: "SNS with unknown message", body: snsWrap(`{"hello":"world"}`), wantErr: true},
		{name: "SNS with non-JSON message", body: snsWrap(`plain text`), wantErr: true},
		{name: "SNS in SNS", body: snsWrap(snsWrap(testEvent)), wantErr: true},
		{name: "eventbridge from another source", body: `{"detail-type":"Object Created","source":"aws.ec2","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, wantErr: true},
		{name: "eventbridge without key", body: `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{}}}`, wantErr: true},
		{name: "cloudtrail sns without keys", body: `{"s3Bucket":"b","s3ObjectKey":[]}`, wantErr: true},
		{name: "cloudtrail sns with empty bucket", body: `{"s3Bucket":"","s3ObjectKey":["k"]}`, wantErr: true},

		// EventBridge events that look like CloudTrail events and are not.
		{name: "cloudtrail event from an application's source", body: ctEvent("AWS API Call via CloudTrail", "my.app", `{"eventID":"e","eventTime":"2024-01-01T00:00:00Z"}`), wantErr: true},
		{name: "cloudtrail event without source", body: ctEvent("AWS API Call via CloudTrail", "", `{"eventID":"e","eventTime":"2024-01-01T00:00:00Z"}`), wantErr: true},
		{name: "cloudtrail event with a string detail", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `"{\"eventID\":\"e\"}"`), wantErr: true},
		{name: "cloudtrail event with a null detail", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `null`), wantErr: true},
		{name: "cloudtrail event with an array detail", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `[{"eventID":"e"}]`), wantErr: true},
		{name: "cloudtrail event without eventID", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `{"eventTime":"2024-01-01T00:00:00Z","userIdentity":{"type":"Root"}}`), wantErr: true},
		{name: "cloudtrail event with an empty eventID", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `{"eventID":"","eventTime":"2024-01-01T00:00:00Z"}`), wantErr: true},
		{name: "cloudtrail event with a numeric eventID", body: ctEvent("AWS API Call via CloudTrail", "aws.iam", `{"eventID":7,"eventTime":"2024-01-01T00:00:00Z"}`), wantErr: true},
		{name: "cloudtrail event without eventTime", body: ctEvent("AWS Console Sign In via CloudTrail", "aws.signin", `{"eventID":"e"}`), wantErr: true},
		{name: "an EventBridge event of another kind", body: ctEvent("EC2 Instance State-change Notification", "aws.ec2", `{"instance-id":"i-1","state":"running"}`), wantErr: true},
		{name: "cloudtrail event in SNS from an application", body: snsWrap(ctEvent("AWS API Call via CloudTrail", "app", `{"eventID":"e","eventTime":"t"}`)), wantErr: true},
	}
	// The documented EventBridge CloudTrail events, raw and through SNS:
	// each carries its record, whatever the record says (matching is not
	// the parser's business).
	for _, e := range fixtures.Events {
		var env struct {
			ID         string `json:"id"`
			DetailType string `json:"detail-type"`
			Source     string `json:"source"`
			Account    string `json:"account"`
			Region     string `json:"region"`
		}
		if err := json.Unmarshal([]byte(e.Body), &env); err != nil {
			panic(err)
		}
		ev := &Event{ID: env.ID, DetailType: env.DetailType, Source: env.Source, Account: env.Account, Region: env.Region,
			EventID: e.EventID(), Record: []byte(e.Detail())}
		cases = append(cases,
			parseCase{name: "eventbridge cloudtrail: " + e.Name, body: e.Body, want: Notification{Format: FormatEventBridgeCloudTrail, Event: ev}},
			parseCase{name: "eventbridge cloudtrail in SNS: " + e.Name, body: snsWrap(e.Body), want: Notification{Format: FormatSNSEventBridgeCloudTrail, Event: ev}})
	}
	return cases
}

// ctEvent is an EventBridge envelope around detail.
func ctEvent(detailType, source, detail string) string {
	return `{"version":"0","id":"x-1","detail-type":"` + detailType + `","source":"` + source + `","account":"111122223333","time":"2024-01-01T00:00:00Z","region":"us-east-1","resources":[],"detail":` + detail + `}`
}

func TestParseNotification(t *testing.T) {
	for _, c := range parseCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseNotification([]byte(c.body))
			if c.wantErr {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				if !errors.Is(err, ErrUnknownFormat) {
					t.Errorf("error %v does not wrap ErrUnknownFormat", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// FuzzParseNotification checks that no body makes the parser panic, that
// every object it returns is usable, that an event it returns is a compact
// JSON object with an eventID and nothing else, and that wrapping a
// parsable message in an SNS envelope yields the same objects or event.
func FuzzParseNotification(f *testing.F) {
	for _, c := range parseCases() {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := ParseNotification(body)
		if err != nil {
			if !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("error %v does not wrap ErrUnknownFormat", err)
			}
			return
		}
		if n.Format == "" {
			t.Fatal("parsed without a format")
		}
		for _, o := range append(n.Objects, skippedObjects(n)...) {
			if o.Bucket == "" || o.Key == "" {
				t.Fatalf("object without bucket or key: %+v", o)
			}
		}
		if n.Test && len(n.Objects) > 0 {
			t.Fatal("test event with objects")
		}
		if n.Event != nil {
			// A record, and nothing else: a JSON object with an eventID,
			// as compact as json.Compact makes it.
			if len(n.Objects)+len(n.Skipped) > 0 || n.Test {
				t.Fatalf("event with objects or test flag: %+v", n)
			}
			if n.Format != FormatEventBridgeCloudTrail && n.Format != FormatSNSEventBridgeCloudTrail {
				t.Fatalf("event with format %q", n.Format)
			}
			var rec map[string]json.RawMessage
			if err := json.Unmarshal(n.Event.Record, &rec); err != nil || n.Event.EventID == "" {
				t.Fatalf("event record %q (eventID %q) is not a JSON object with an eventID: %v", n.Event.Record, n.Event.EventID, err)
			}
			var c bytes.Buffer
			if json.Compact(&c, n.Event.Record) != nil || !bytes.Equal(c.Bytes(), n.Event.Record) {
				t.Fatalf("event record is not compact: %q", n.Event.Record)
			}
			if !IsCloudTrailDetailType(n.Event.DetailType) || !strings.HasPrefix(n.Event.Source, "aws.") {
				t.Fatalf("event %q from %q taken as CloudTrail", n.Event.DetailType, n.Event.Source)
			}
		} else if n.Format == FormatEventBridgeCloudTrail || n.Format == FormatSNSEventBridgeCloudTrail {
			t.Fatalf("format %q without an event", n.Format)
		}
		switch n.Format {
		case FormatSNSS3Event, FormatSNSCloudTrail, FormatSNSTestEvent, FormatSNSEventBridge, FormatSNSEventBridgeCloudTrail:
			return
		}
		w, err := ParseNotification([]byte(snsWrap(string(body))))
		if err != nil {
			// Invalid UTF-8 cannot survive the JSON string round trip.
			if utf8.Valid(body) {
				t.Fatalf("SNS-wrapped copy failed: %v", err)
			}
			return
		}
		if !utf8.Valid(body) && n.Event != nil {
			// The wrap wrote the record's invalid bytes as U+FFFD: only
			// its shape can be compared.
			if w.Event == nil || w.Event.EventID == "" {
				t.Fatalf("SNS-wrapped copy lost its event: %+v", w)
			}
			return
		}
		if !reflect.DeepEqual(w.Objects, n.Objects) || !reflect.DeepEqual(w.Skipped, n.Skipped) || !reflect.DeepEqual(w.Event, n.Event) {
			t.Fatalf("SNS-wrapped copy differs: %+v vs %+v", w, n)
		}
	})
}

func skippedObjects(n Notification) []Object {
	var out []Object
	for _, s := range n.Skipped {
		out = append(out, s.Object)
	}
	return out
}

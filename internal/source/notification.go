// Package source is where CloudTrail files come from and how they are
// opened: SQS messages in every shape an S3 notification arrives in, and
// EventBridge CloudTrail events that carry a record themselves (parsed
// here by pure functions), an S3 backfill listing and a prefix listing, the
// one local walker, and the openers (S3 with its idle watchdog and
// missing-object retries, local files), whose errors are classified
// (internal/failure). The pipeline reads the objects and acknowledges them
// back to the source. It knows no sink and no Kafka.
package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"rootwatch/internal/cloudtrail"
)

// Format names the shape a notification arrived in (a metric label).
type Format string

// The notification formats ParseNotification understands.
const (
	FormatS3Event        Format = "s3"              // S3 event notification {"Records":[{"s3":...}]}
	FormatSNSS3Event     Format = "sns-s3"          // the same, wrapped in an SNS envelope
	FormatEventBridge    Format = "eventbridge"     // EventBridge "Object Created"
	FormatSNSEventBridge Format = "sns-eventbridge" // the same, wrapped in an SNS envelope
	FormatCloudTrailSNS  Format = "cloudtrail"      // CloudTrail's own {"s3Bucket","s3ObjectKey":[..]}
	FormatSNSCloudTrail  Format = "sns-cloudtrail"  // the same, wrapped in an SNS envelope
	FormatTestEvent      Format = "s3-test"         // s3:TestEvent sent when notifications are configured
	FormatSNSTestEvent   Format = "sns-s3-test"
	// FormatEventBridgeCloudTrail is an EventBridge event whose detail is a
	// CloudTrail record ("AWS API Call via CloudTrail" and the other
	// "... via CloudTrail" detail-types): the real-time path.
	FormatEventBridgeCloudTrail    Format = "eventbridge-cloudtrail"
	FormatSNSEventBridgeCloudTrail Format = "sns-eventbridge-cloudtrail" // the same, wrapped in an SNS envelope
)

// Object is one S3 object a notification names.
type Object struct {
	Bucket string
	Key    string // decoded: the key to pass to GetObject
	Size   int64  // as announced; 0 when unknown
}

// String is s3://bucket/key.
func (o Object) String() string { return "s3://" + o.Bucket + "/" + o.Key }

// Skipped is an object named in a notification that is acknowledged without
// reading it, and why.
type Skipped struct {
	Object Object
	Reason string // "digest", "event:<eventName>"
}

// Event is a CloudTrail record that EventBridge delivered itself, within
// seconds of the call, instead of naming the log file that will hold it
// minutes later. Its fields other than Record come from the EventBridge
// envelope and are for logs and headers; the record is what is matched.
type Event struct {
	// ID is the EventBridge event id (not the record's eventID).
	ID         string
	DetailType string // e.g. "AWS API Call via CloudTrail"
	Source     string // "aws.<service>"
	Account    string // the account the event bus belongs to
	Region     string // the region the event was published in
	// EventID is the record's eventID (always set).
	EventID string
	// Record is the event's detail, compacted: the CloudTrail record, a
	// JSON object, byte for byte the record the trail also writes to S3
	// up to whitespace.
	Record []byte
}

// Notification is what one SQS message says: either the objects it names
// (S3 notifications), or the record it carries (Event).
type Notification struct {
	Format Format
	// Objects are the log files to read (ObjectCreated, not digests).
	Objects []Object
	// Skipped are named objects that need no reading.
	Skipped []Skipped
	// Test is true for an s3:TestEvent (no objects; delete and log it).
	Test bool
	// Event is set, and nothing else is, for an EventBridge CloudTrail
	// event (FormatEventBridgeCloudTrail and its SNS-wrapped form).
	Event *Event
}

// ErrUnknownFormat is wrapped by ParseNotification's error when the body is
// none of the known shapes; such messages go to the DLQ with their raw body.
var ErrUnknownFormat = errors.New("unknown notification format")

type s3EventRecord struct {
	EventSource string    `json:"eventSource"`
	EventName   string    `json:"eventName"`
	S3          *s3Object `json:"s3"`
}

// s3Object names an object: the "s3" member of an S3 event record, and
// the detail of an EventBridge S3 "Object Created" event.
type s3Object struct {
	Bucket struct {
		Name string `json:"name"`
	} `json:"bucket"`
	Object struct {
		Key  *string `json:"key"`
		Size int64   `json:"size"`
	} `json:"object"`
}

// cloudTrailDetail is the part of a CloudTrail record the parser checks.
type cloudTrailDetail struct {
	EventID   *string `json:"eventID"`
	EventTime *string `json:"eventTime"`
}

type envelope struct {
	// S3 event notification.
	Records []json.RawMessage `json:"Records"`
	// SNS envelope.
	Type    string  `json:"Type"`
	Message *string `json:"Message"`
	// EventBridge.
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	ID         string          `json:"id"`
	Account    string          `json:"account"`
	Region     string          `json:"region"`
	Detail     json.RawMessage `json:"detail"`
	// CloudTrail SNS log-delivery notification.
	S3Bucket    *string         `json:"s3Bucket"`
	S3ObjectKey json.RawMessage `json:"s3ObjectKey"`
	// s3:TestEvent.
	Event   string `json:"Event"`
	Service string `json:"Service"`
	Bucket  string `json:"Bucket"`
}

// ParseNotification recognises an SQS message body: a raw S3 event
// notification, the same inside an SNS envelope (raw message delivery off),
// an EventBridge "Object Created" event, CloudTrail's own SNS log-delivery
// notification (plain or in an SNS envelope), an s3:TestEvent, or an
// EventBridge CloudTrail event (plain or in an SNS envelope), whose record
// is returned in Event. Digest files and events other than ObjectCreated
// end up in Skipped. Anything else, including an EventBridge event that is
// neither an S3 object event nor a well-formed CloudTrail event, is an
// error wrapping ErrUnknownFormat.
func ParseNotification(body []byte) (Notification, error) {
	return parse(body, false)
}

func parse(body []byte, inSNS bool) (Notification, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Notification{}, fmt.Errorf("%w: not a JSON object", ErrUnknownFormat)
	}
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Notification{}, fmt.Errorf("%w: %v", ErrUnknownFormat, err)
	}
	switch {
	case e.Type == "Notification" && e.Message != nil:
		if inSNS {
			return Notification{}, fmt.Errorf("%w: SNS envelope inside an SNS envelope", ErrUnknownFormat)
		}
		n, err := parse([]byte(*e.Message), true)
		if err != nil {
			return Notification{}, fmt.Errorf("in SNS message: %w", err)
		}
		return n, nil

	case e.Event == "s3:TestEvent":
		return Notification{Format: pick(inSNS, FormatSNSTestEvent, FormatTestEvent), Test: true}, nil

	case e.Records != nil:
		return parseS3Records(e.Records, inSNS)

	case e.S3Bucket != nil:
		return parseCloudTrailSNS(*e.S3Bucket, e.S3ObjectKey, inSNS)

	case e.DetailType != "" && e.Detail != nil:
		if IsCloudTrailDetailType(e.DetailType) {
			return parseCloudTrailEvent(&e, inSNS)
		}
		if e.Source != "aws.s3" {
			return Notification{}, fmt.Errorf("%w: EventBridge event %s from %s is neither a CloudTrail event nor an S3 object event",
				ErrUnknownFormat, quote(e.DetailType), quote(e.Source))
		}
		var d s3Object
		if err := json.Unmarshal(e.Detail, &d); err != nil {
			return Notification{}, fmt.Errorf("%w: EventBridge S3 event detail: %v", ErrUnknownFormat, err)
		}
		if d.Bucket.Name == "" || d.Object.Key == nil || *d.Object.Key == "" {
			return Notification{}, fmt.Errorf("%w: EventBridge event without detail.bucket.name or detail.object.key", ErrUnknownFormat)
		}
		// EventBridge carries keys as they are, not URL-encoded.
		o := Object{Bucket: d.Bucket.Name, Key: *d.Object.Key, Size: d.Object.Size}
		n := Notification{Format: pick(inSNS, FormatSNSEventBridge, FormatEventBridge)}
		if e.DetailType != "Object Created" {
			n.Skipped = append(n.Skipped, Skipped{Object: o, Reason: "event:" + e.DetailType})
			return n, nil
		}
		n.add(o)
		return n, nil
	}
	return Notification{}, fmt.Errorf("%w: no Records, Message, detail, s3Bucket or Event field", ErrUnknownFormat)
}

// IsCloudTrailDetailType reports whether an EventBridge detail-type is one
// CloudTrail publishes records under: "AWS API Call via CloudTrail",
// "AWS Console Sign In via CloudTrail" (the EventBridge user guide spells
// it "AWS Console Signin via CloudTrail"), "AWS Console Action via
// CloudTrail", "AWS Service Event via CloudTrail", "AWS Insight via
// CloudTrail": every one ends in " via CloudTrail".
func IsCloudTrailDetailType(dt string) bool {
	return strings.HasPrefix(dt, "AWS ") && strings.HasSuffix(dt, " via CloudTrail")
}

// parseCloudTrailEvent takes the record out of an EventBridge CloudTrail
// event. Only AWS can publish events whose source starts with "aws." (a
// PutEvents call cannot), so a look-alike put on the bus by an
// application is refused rather than matched.
func parseCloudTrailEvent(e *envelope, inSNS bool) (Notification, error) {
	if !strings.HasPrefix(e.Source, "aws.") {
		return Notification{}, fmt.Errorf("%w: EventBridge %s event from %s, not from an AWS service",
			ErrUnknownFormat, quote(e.DetailType), quote(e.Source))
	}
	if len(e.Detail) == 0 || e.Detail[0] != '{' {
		return Notification{}, fmt.Errorf("%w: EventBridge %s event whose detail is not a JSON object", ErrUnknownFormat, quote(e.DetailType))
	}
	var d cloudTrailDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return Notification{}, fmt.Errorf("%w: EventBridge %s event: detail: %v", ErrUnknownFormat, quote(e.DetailType), err)
	}
	if d.EventID == nil || *d.EventID == "" || d.EventTime == nil || *d.EventTime == "" {
		return Notification{}, fmt.Errorf("%w: EventBridge %s event whose detail has no eventID or eventTime: not a CloudTrail record",
			ErrUnknownFormat, quote(e.DetailType))
	}
	var rec bytes.Buffer
	rec.Grow(len(e.Detail))
	if err := json.Compact(&rec, e.Detail); err != nil { // valid: it was just decoded
		return Notification{}, fmt.Errorf("%w: EventBridge event detail: %v", ErrUnknownFormat, err)
	}
	return Notification{
		Format: pick(inSNS, FormatSNSEventBridgeCloudTrail, FormatEventBridgeCloudTrail),
		Event: &Event{ID: e.ID, DetailType: e.DetailType, Source: e.Source, Account: e.Account, Region: e.Region,
			EventID: *d.EventID, Record: rec.Bytes()},
	}, nil
}

// quote quotes an untrusted value for an error, at most 64 bytes of it.
func quote(s string) string {
	if len(s) > 64 {
		cut := 64
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}

func parseS3Records(recs []json.RawMessage, inSNS bool) (Notification, error) {
	n := Notification{Format: pick(inSNS, FormatSNSS3Event, FormatS3Event)}
	if len(recs) == 0 {
		return Notification{}, fmt.Errorf("%w: empty Records", ErrUnknownFormat)
	}
	for i, raw := range recs {
		var r s3EventRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			return Notification{}, fmt.Errorf("%w: Records[%d]: %v", ErrUnknownFormat, i, err)
		}
		// A CloudTrail log file also has "Records"; it has no "s3" member.
		if r.S3 == nil || r.S3.Bucket.Name == "" || r.S3.Object.Key == nil || *r.S3.Object.Key == "" {
			return Notification{}, fmt.Errorf("%w: Records[%d] has no s3.bucket.name and s3.object.key", ErrUnknownFormat, i)
		}
		key, err := url.QueryUnescape(*r.S3.Object.Key) // S3 encodes keys, with '+' for space
		if err != nil {
			return Notification{}, fmt.Errorf("%w: Records[%d]: key %q: %v", ErrUnknownFormat, i, *r.S3.Object.Key, err)
		}
		o := Object{Bucket: r.S3.Bucket.Name, Key: key, Size: r.S3.Object.Size}
		if !strings.HasPrefix(r.EventName, "ObjectCreated:") {
			n.Skipped = append(n.Skipped, Skipped{Object: o, Reason: "event:" + r.EventName})
			continue
		}
		n.add(o)
	}
	return n, nil
}

func parseCloudTrailSNS(bucket string, rawKeys json.RawMessage, inSNS bool) (Notification, error) {
	if bucket == "" {
		return Notification{}, fmt.Errorf("%w: empty s3Bucket", ErrUnknownFormat)
	}
	var keys []string
	if err := json.Unmarshal(rawKeys, &keys); err != nil || len(keys) == 0 {
		// Be lenient about a single string.
		var one string
		if err2 := json.Unmarshal(rawKeys, &one); err2 != nil || one == "" {
			return Notification{}, fmt.Errorf("%w: s3ObjectKey is not a list of keys", ErrUnknownFormat)
		}
		keys = []string{one}
	}
	n := Notification{Format: pick(inSNS, FormatSNSCloudTrail, FormatCloudTrailSNS)}
	for i, k := range keys {
		if k == "" {
			return Notification{}, fmt.Errorf("%w: s3ObjectKey[%d] is empty", ErrUnknownFormat, i)
		}
		n.add(Object{Bucket: bucket, Key: k})
	}
	return n, nil
}

func (n *Notification) add(o Object) {
	if cloudtrail.IsDigest(o.Key) {
		n.Skipped = append(n.Skipped, Skipped{Object: o, Reason: "digest"})
		return
	}
	n.Objects = append(n.Objects, o)
}

func pick(inSNS bool, sns, plain Format) Format {
	if inSNS {
		return sns
	}
	return plain
}

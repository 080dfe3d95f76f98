package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
)

// realtime shows the real-time path on one generated root call: its
// EventBridge event reaches the queue as soon as its log file is written,
// and the log file's S3 notification is held back for the delay CloudTrail
// takes to deliver (shortened), so the same call arrives by both paths,
// EventBridge first. alert must page once.
type realtime struct {
	delay time.Duration
	send  func(body string)

	mu      sync.Mutex
	eventID string // the chosen root call ("" until one is found)
	name    string // its eventName
	sent    chan struct{}
}

func newRealtime(delay time.Duration, send func(string)) *realtime {
	return &realtime{delay: delay, send: send, sent: make(chan struct{})}
}

// deliver queues the notification of one new log file: for the first file
// holding root activity, its first root record's EventBridge event now
// and the notification after the delay; for every other file, at once.
func (rt *realtime) deliver(gz []byte, notification string) error {
	rt.mu.Lock()
	chosen := rt.eventID != ""
	rt.mu.Unlock()
	if chosen {
		rt.send(notification)
		return nil
	}
	raw, err := firstRootRecord(gz)
	if err != nil {
		return err
	}
	if raw == nil {
		rt.send(notification)
		return nil
	}
	rt.mu.Lock()
	rt.eventID, rt.name = gjson.GetBytes(raw, "eventID").Str, gjson.GetBytes(raw, "eventName").Str
	rt.mu.Unlock()
	rt.send(eventBridgeEvent(raw))
	time.AfterFunc(rt.delay, func() {
		rt.send(notification)
		close(rt.sent)
	})
	return nil
}

// chosen is the root call shown by both paths, once one was found.
func (rt *realtime) chosen() (eventID, name string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.eventID, rt.name
}

// heldBack is closed once the held-back notification was queued (never,
// when no root call was chosen).
func (rt *realtime) heldBack() <-chan struct{} { return rt.sent }

// firstRootRecord is the first record of a log file that is root activity
// under the CIS rule, or nil.
func firstRootRecord(gz []byte) ([]byte, error) {
	r, err := cloudtrail.NewReader(bytes.NewReader(gz), cloudtrail.Options{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if f, ok := match.Find(raw, match.ObjectRef{}, time.Time{}); ok && f.Rule == match.RuleCISRoot {
			return bytes.Clone(raw), nil
		}
	}
}

// eventBridgeEvent is the event EventBridge delivers to a queue for a
// CloudTrail record: the envelope of AWS's documented examples (source
// "aws.<service>", detail-type by the record's eventType) around it.
func eventBridgeEvent(raw []byte) string {
	get := func(path string) string { return gjson.GetBytes(raw, path).Str }
	detailType := "AWS API Call via CloudTrail"
	switch get("eventType") {
	case "AwsConsoleSignIn":
		detailType = "AWS Console Sign In via CloudTrail"
	case "AwsConsoleAction":
		detailType = "AWS Console Action via CloudTrail"
	}
	service, _, _ := strings.Cut(get("eventSource"), ".")
	account := get("recipientAccountId")
	if account == "" {
		account = get("userIdentity.accountId")
	}
	b, _ := json.Marshal(map[string]any{
		"version": "0", "id": "demo-" + get("eventID"), "detail-type": detailType, "source": "aws." + service,
		"account": account, "time": get("eventTime"), "region": get("awsRegion"), "resources": []string{},
		"detail": json.RawMessage(raw),
	})
	return string(b)
}

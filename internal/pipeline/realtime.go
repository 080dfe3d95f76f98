package pipeline

import (
	"log/slog"
	"time"

	"rootwatch/internal/failure"
	"rootwatch/internal/match"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

// The real-time path. CloudTrail publishes every management event to
// EventBridge within seconds; a rule that sends the root identity's events
// to the ingest queue (deploy/eventbridge/) makes them arrive here minutes
// before the log file that holds them (and the sts:AssumeRoot calls that
// open centralised-root sessions, so that alert knows who opened a session
// as soon as its actions arrive). Such a message carries the record
// itself: it is matched at once and its finding (path "eventbridge", no
// object; rule cis-root or root-session-issued) is written to the findings
// topic. Its record is not written to
// the records topic: the log file brings it there, complete and once, and
// alert merges the two findings of one root call (docs/realtime.md).

// settle is how the SQS handler ends one message: delete it, leave it for
// redelivery after a delay, or dead-letter it (then delete it).
type settle struct {
	delete     func()
	release    func(reason string, after time.Duration)
	deadLetter func(entries ...DLQEntry)
}

// Results of the real-time path (the result label of
// rootwatch_ingest_realtime_events_total).
const (
	realtimeFinding = "finding"  // root activity: a finding was written
	realtimeNotRoot = "not-root" // not root activity: acknowledged, its log file brings the record
)

// handleEvent matches the record an EventBridge event carries and writes
// its finding. The message is deleted only after Kafka acknowledged the
// finding; a failed write leaves it for redelivery, as a failed object
// does. A record that is not root activity (a pattern broader than
// deploy/'s, a service event) is acknowledged at once and counted.
func (h *SQSHandler) handleEvent(log *slog.Logger, m *source.Message, ev *source.Event, s settle) {
	log = log.With("eventbridge_id", ev.ID, "eventID", ev.EventID, "detail_type", ev.DetailType, "region", ev.Region)
	metrics := h.o.Metrics
	f, ok := match.Find(ev.Record, match.ObjectRef{}, h.now().UTC())
	if !ok {
		if metrics != nil {
			metrics.RealtimeEvents.WithLabelValues(realtimeNotRoot).Inc()
		}
		log.Debug("eventbridge event is not root activity; acknowledged (its log file brings the record)")
		s.delete()
		return
	}
	f.Path = match.PathEventBridge
	v, err := (&findingEncoder{}).encode(&f)
	if err != nil { // a record that decoded always encodes; never retry it for ever
		s.deadLetter(DLQEntry{Reason: failure.ReasonPermanent, Error: err.Error()})
		return
	}
	msg := sink.Message{Key: []byte(f.AccountID), Value: v, Headers: []sink.Header{
		{Key: "path", Value: []byte(match.PathEventBridge)},
		{Key: "eventbridge-id", Value: []byte(ev.ID)},
		{Key: "eventbridge-region", Value: []byte(ev.Region)},
	}}
	w := newWaiter(1)
	err = h.o.Sink.Write(h.ctx, sink.TopicFindings, []sink.Message{msg}, w)
	if err == nil {
		err = w.wait(h.ctx)
	}
	if err != nil {
		if reason, _ := failure.Classify(err); reason == failure.Shutdown {
			s.release(failure.Shutdown, 0)
			return
		}
		log.Warn("real-time finding not written, message left for redelivery", "err", err)
		s.release(failure.Transient, h.redeliverAfter(m.ReceiveCount))
		return
	}
	if metrics != nil {
		metrics.Findings.Inc()
		metrics.RealtimeEvents.WithLabelValues(realtimeFinding).Inc()
	}
	log.Info("root activity from eventbridge", "rule", f.Rule, "account", f.AccountID, "eventName", f.EventName, "category", f.Category,
		"eventTime", f.EventTime, "delay", f.DetectedAt.Sub(f.EventTime).Round(time.Millisecond))
	s.delete()
}

// now is the handler's clock.
func (h *SQSHandler) now() time.Time {
	if h.o.Now != nil {
		return h.o.Now()
	}
	return time.Now()
}

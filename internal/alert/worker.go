package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"time"
	"unicode/utf8"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// Store writes a partition's changed state records durably before the
// worker sends or commits anything that depends on them.
type Store interface {
	Write(ctx context.Context, partition int, recs []Record) error
}

// Message is one finding as read from the source, with its position.
type Message struct {
	Offset int64
	Key    []byte
	Value  []byte
	// Time is when the message entered the source (Kafka message time), for
	// the produced-to-first-send latency.
	Time time.Time
}

type sendResult struct {
	incID   string
	channel string
	kind    channel.Kind
	count   int // incident Count the notification covered
	offsets []int64
	n       *channel.Notification
	res     channel.Result
}

// worker owns one partition: it applies findings to the partition state,
// flushes the state, dispatches due notifications (one in flight per
// incident and channel, channels never wait for each other) and commits the
// offset below which every finding is done.
type worker struct {
	svc       *Service
	st        *partState
	store     Store
	commit    func(ctx context.Context, next int64) error // commit "next offset to read"
	results   chan sendResult
	inflight  int
	pending   map[int64]int // offset -> deliveries it still waits for
	processed int64         // next offset after the last processed message; -1 none
	committed int64
	chans     []string
	arrived   map[string]time.Time // incident id -> message time of the finding that opened it
	notices   map[string]notice    // incidents awaiting their first notification (paths.go)
	log       *slog.Logger
	// handover: the partition may move to another replica when this worker
	// stops, so its accounts leave this replica's API and gauges.
	handover bool
	// flushAtEOF sends every owed update at once when the input ends (stdin),
	// instead of waiting for group_interval.
	flushAtEOF bool
	opened     bool // an incident was opened in the current batch
	// viewEvery, when set, throttles flush (its store is only the fleet
	// view); flushed is when it last wrote.
	viewEvery time.Duration
	flushed   time.Time
	// wake is closed when the fleet view learns a session: incidents
	// waiting for who opened theirs look again (sessions.go).
	wake <-chan struct{}
	done chan struct{}
}

func (s *Service) newWorker(st *partState, store Store, commit func(context.Context, int64) error) *worker {
	st.sessions = s.view.session
	return &worker{
		svc:       s,
		st:        st,
		store:     store,
		commit:    commit,
		results:   make(chan sendResult, 64),
		pending:   map[int64]int{},
		processed: -1,
		committed: -1,
		arrived:   map[string]time.Time{},
		notices:   map[string]notice{},
		done:      make(chan struct{}),
		log:       s.log.With("partition", st.partition),
	}
}

// run consumes in until it is closed or ctx ends, then finishes in-flight
// sends (bounded by the drain timeout), flushes and commits.
func (w *worker) run(ctx context.Context, in <-chan Message) error {
	w.publishState()
	w.wake = w.svc.view.sessionsChanged()
	w.joinIssuers() // incidents restored that wait for a session issued meanwhile
	tick := w.svc.tick()
	t := time.NewTicker(tick)
	defer t.Stop()
	expire := time.NewTicker(w.svc.expireEvery)
	defer expire.Stop()
	// Deliveries restored from state (owed before a restart or handover) go out now.
	if err := w.afterBatch(ctx); err != nil {
		return w.stop(err)
	}
	for {
		select {
		case <-ctx.Done():
			return w.stop(nil)
		case m, ok := <-in:
			if !ok {
				if w.flushAtEOF {
					if err := w.finish(ctx); err != nil {
						return w.stop(err)
					}
				}
				return w.stop(nil)
			}
			if err := w.handle(ctx, m); err != nil {
				return w.stop(err)
			}
			// Take what else is waiting, but stop at a new incident so its
			// open goes out without waiting for the rest of a burst.
		drain:
			for range 1000 {
				if w.opened {
					break
				}
				select {
				case m, ok := <-in:
					if !ok {
						break drain
					}
					if err := w.handle(ctx, m); err != nil {
						return w.stop(err)
					}
				default:
					break drain
				}
			}
		case r := <-w.results:
			w.complete(r)
		case <-w.wake:
			w.wake = w.svc.view.sessionsChanged() // before looking, so that a session added meanwhile wakes again
			w.joinIssuers()
		case <-t.C:
		case <-expire.C:
			d, i := w.st.expire(w.svc.now(), w.svc.params.window)
			if d+i > 0 {
				w.log.Debug("expired state", "dedup", d, "incidents", i)
			}
			w.pruneNotices()
			w.publishState()
		}
		if err := w.afterBatch(ctx); err != nil {
			return w.stop(err)
		}
	}
}

// handle applies one message to the state.
func (w *worker) handle(ctx context.Context, m Message) error {
	w.processed = m.Offset + 1
	var f match.Finding
	if err := json.Unmarshal(m.Value, &f); err != nil {
		return w.bad(ctx, m, "decode", fmt.Errorf("not a finding: %w", err))
	}
	// Unknown severities, categories and rules are refused, never shown.
	if err := f.Validate(); err != nil {
		return w.bad(ctx, m, "invalid", fmt.Errorf("finding rejected: %w", err))
	}
	if f.Rule == "" {
		f.Rule = match.RuleCISRoot // a producer from before rules
	}
	now := w.svc.now()
	res := w.st.ingest(w.svc.rules, &w.svc.params, &f, now, w.chans)
	w.notePaths(&f, res, w.st.trackCopies(&f, res, now, w.svc.params.dedupTTL), now) // the two paths (paths.go)
	s := w.svc
	s.m.findings.WithLabelValues(res.outcome.String()).Inc()
	switch res.outcome {
	case OutcomeSilenced, OutcomeAllowlisted:
		w.log.Info("finding not sent", "outcome", res.outcome.String(), "reason", res.reason,
			"eventID", f.EventID, "account", f.AccountID, "eventName", f.EventName)
	case OutcomeUnrouted:
		w.log.Warn("finding matched no route", "eventID", f.EventID, "account", f.AccountID, "category", f.Category)
	case OutcomeOpened:
		w.opened = true
		s.m.incidents.Inc()
		w.arrived[res.inc.ID] = m.Time
		w.log.Info("incident opened", "incident", res.inc.ID, "account", f.AccountID, "category", f.Category, "eventID", f.EventID)
	case OutcomeUpdated:
		s.m.updates.Inc()
	}
	s.m.joins.WithLabelValues("at-open").Add(float64(res.joinedAtOpen))
	s.m.joins.WithLabelValues("late").Add(float64(res.joinedLate))
	for _, inc := range append([]*incident{res.inc, res.compliance}, res.notices...) {
		if inc == nil {
			continue
		}
		if inc != res.inc && inc != res.compliance {
			w.noticeOpened(inc)
		}
		if inc == res.compliance {
			s.m.incidents.Inc()
			alsoIn := ""
			if res.inc != nil {
				alsoIn = res.inc.ID
			}
			w.log.Info("root used after being unused", "incident", inc.ID, "account", f.AccountID, "days", s.cfg.RootUnusedDays,
				"eventID", f.EventID, "alsoInIncident", alsoIn)
		}
		// The finding's offset waits for every delivery it added work to.
		for _, d := range inc.Out {
			if d.Parked < inc.Count || d.inflight {
				d.offsets = append(d.offsets, m.Offset)
				w.pending[m.Offset]++
			}
		}
	}
	return nil
}

// joinIssuers joins every incident of the partition that waits for who
// opened its session with the session table, and counts the joins; the
// next afterBatch writes the state and sends the updates.
func (w *worker) joinIssuers() {
	s := w.svc
	now := s.now()
	for _, inc := range w.st.incidents {
		if inc.SessionKey == "" || inc.Issuer != nil {
			continue
		}
		iss := w.st.issuer(inc.SessionKey)
		if iss == nil {
			continue
		}
		for _, n := range w.st.attachIssuer(s.rules, &s.params, inc, iss, now) {
			w.noticeOpened(n)
		}
		s.m.joins.WithLabelValues("late").Inc()
		w.log.Info("session issuer joined", "incident", inc.ID, "accessKeyId", inc.SessionKey, "caller", iss.Session.CallerARN)
	}
}

// noticeOpened counts and logs a session notice.
func (w *worker) noticeOpened(inc *incident) {
	w.svc.m.incidents.Inc()
	w.log.Info("session notice", "incident", inc.ID, "category", inc.Category, "account", inc.AccountID)
}

// bad counts and parks a message that is not a finding; it never stops the worker
// unless the DLQ itself cannot be written. The log line carries a short,
// quoted excerpt of the message, never the whole (attacker-sized) value.
func (w *worker) bad(ctx context.Context, m Message, reason string, err error) error {
	w.svc.m.bad.WithLabelValues(reason).Inc()
	w.log.Warn("bad message", "offset", m.Offset, "reason", reason, "error", err,
		"bytes", len(m.Value), "excerpt", excerptOf(m.Value, 120))
	if w.svc.dlq == nil {
		return nil
	}
	e := DLQEntry{Stage: "decode", Reason: err.Error(), Partition: w.st.partition, Offset: m.Offset, Time: w.svc.now()}
	if json.Valid(m.Value) {
		e.Message = json.RawMessage(m.Value)
	} else {
		e.MessageText = string(m.Value)
	}
	if derr := w.svc.dlq.Park(ctx, m.Key, e); derr != nil {
		return fmt.Errorf("park bad message at offset %d: %w", m.Offset, derr)
	}
	w.svc.m.dlq.WithLabelValues("bad-message").Inc()
	return nil
}

// afterBatch flushes state, dispatches what is due, and commits.
func (w *worker) afterBatch(ctx context.Context) error {
	w.opened = false
	if err := w.flush(ctx, false); err != nil {
		return err
	}
	w.dispatch(false)
	return w.commitDone(ctx, false)
}

// finish delivers everything owed now, for a source that has ended.
func (w *worker) finish(ctx context.Context) error {
	for {
		if err := w.flush(ctx, true); err != nil {
			return err
		}
		w.dispatch(true)
		if w.inflight == 0 {
			return nil
		}
		for w.inflight > 0 {
			select {
			case r := <-w.results:
				w.complete(r)
			case <-ctx.Done():
				return nil
			}
		}
	}
}

// flush writes the changed state. A worker whose store is only the fleet
// view (stdin: nothing to survive) writes at most every viewEvery unless
// forced, so that encoding the state does not slow the stream down.
func (w *worker) flush(ctx context.Context, force bool) error {
	if w.svc.killed.Load() {
		return errKilled
	}
	if w.viewEvery > 0 && !force && time.Since(w.flushed) < w.viewEvery {
		return nil
	}
	w.flushed = time.Now()
	recs, err := w.st.records()
	if err != nil {
		return err
	}
	if len(recs) == 0 || w.store == nil {
		return nil
	}
	if err := w.store.Write(ctx, w.st.partition, recs); err != nil {
		// Put the keys back so a later flush (after restore) is not needed to be correct:
		// the worker stops and the partition is restored from what was written.
		return fmt.Errorf("write state of partition %d: %w", w.st.partition, err)
	}
	return nil
}

// dispatch starts every due send.
func (w *worker) dispatch(force bool) {
	s := w.svc
	now := s.now()
	for _, inc := range w.st.incidents {
		for name, d := range inc.Out {
			gi := s.params.groupInterval
			if force {
				gi = 0
			}
			kind, ok, _ := inc.due(d, now, gi, s.params.repeatInterval, s.params.window)
			if !ok || (force && kind == channel.KindRepeat) {
				continue
			}
			ch := s.channels[name]
			if ch == nil {
				// A channel removed from the config: nothing can be sent; release the findings.
				d.Parked = inc.Count
				w.release(d.offsets)
				d.offsets = nil
				w.st.mark(prefixIncident + inc.ID)
				continue
			}
			n := inc.notification(name, d, kind)
			d.inflight = true
			w.inflight++
			r := sendResult{incID: inc.ID, channel: name, kind: kind, count: inc.Count, offsets: d.offsets, n: n}
			d.offsets = nil
			go w.send(ch, r)
		}
	}
}

func (w *worker) send(ch channel.Channel, r sendResult) {
	r.res = w.svc.policy.Do(w.svc.sendCtx, ch, r.n)
	select {
	case w.results <- r:
	case <-w.done: // the worker has stopped; what it did not log stays owed in the state
	}
}

// complete records a send's result in the delivery log (success) or parks it
// (DLQ) and releases the findings that waited for it.
func (w *worker) complete(r sendResult) {
	s := w.svc
	w.inflight--
	if r.res.Attempts > 1 {
		s.m.retries.WithLabelValues(r.channel).Add(float64(r.res.Attempts - 1))
	}
	inc := w.st.incidents[r.incID]
	if inc == nil {
		w.release(r.offsets)
		return
	}
	d := inc.Out[r.channel]
	d.inflight = false
	now := s.now()
	if r.res.Err == nil {
		s.m.sends.WithLabelValues(r.channel, string(r.kind), "ok").Inc()
		if r.kind == channel.KindOpen {
			if at, ok := w.arrived[inc.ID]; ok && !at.IsZero() {
				s.m.sendLatency.Observe(now.Sub(at).Seconds())
			}
			w.noteNotified(inc.ID, now)
		}
		if s.onSent != nil {
			s.onSent(r.channel, r.n, now)
		}
		d.Sent = max(d.Sent, r.count)
		d.N++
		d.LastSent = now
		d.retryAt = time.Time{}
		if len(r.res.State) > 0 {
			if d.State == nil {
				d.State = map[string]string{}
			}
			maps.Copy(d.State, r.res.State)
		}
		w.log.Debug("sent", "incident", inc.ID, "channel", r.channel, "kind", r.kind, "attempts", r.res.Attempts)
	} else {
		s.m.sends.WithLabelValues(r.channel, string(r.kind), "failed").Inc()
		if errors.Is(r.res.Err, context.Canceled) && s.sendCtx.Err() != nil {
			// Shutting down hard: leave it owed in the state; the next owner sends it.
			w.release(r.offsets)
			return
		}
		w.log.Error("delivery failed, parked in DLQ", "incident", inc.ID, "channel", r.channel, "kind", r.kind,
			"attempts", r.res.Attempts, "error", r.res.Err)
		d.Parked = r.count
		if s.dlq != nil {
			e := DLQEntry{Stage: "deliver", Reason: r.res.Err.Error(), Channel: r.channel, Kind: string(r.kind),
				Incident: &r.n.Incident, Findings: r.n.Findings, Partition: w.st.partition, Attempts: r.res.Attempts, Time: now}
			if err := s.dlq.Park(context.WithoutCancel(s.sendCtx), []byte(inc.AccountID), e); err != nil {
				// The notification stays owed (not parked) and is retried after a pause.
				w.log.Error("write DLQ", "error", err)
				d.Parked = 0
				d.retryAt = now.Add(s.params.groupInterval)
				d.offsets = append(d.offsets, r.offsets...)
				w.st.mark(prefixIncident + inc.ID)
				return
			}
			s.m.dlq.WithLabelValues("delivery").Inc()
		}
	}
	w.st.mark(prefixIncident + inc.ID)
	w.release(r.offsets)
}

func (w *worker) release(offsets []int64) {
	for _, o := range offsets {
		if w.pending[o]--; w.pending[o] <= 0 {
			delete(w.pending, o)
		}
	}
}

// commitDone commits the offset below which every finding is done. With
// all=true (shutdown, handover) everything processed is committed: what is
// still owed is in the flushed state, which the next owner restores.
func (w *worker) commitDone(ctx context.Context, all bool) error {
	if w.commit == nil || w.processed < 0 || w.svc.killed.Load() {
		return nil
	}
	next := w.processed
	if !all {
		for o := range w.pending {
			next = min(next, o)
		}
	}
	if next <= w.committed {
		return nil
	}
	if err := w.commit(ctx, next); err != nil {
		return fmt.Errorf("commit offset %d of partition %d: %w", next, w.st.partition, err)
	}
	w.committed = next
	return nil
}

// stop finishes in-flight sends (up to the drain timeout), flushes the
// delivery log and commits. A killed service stops at once.
func (w *worker) stop(cause error) error {
	defer close(w.done)
	s := w.svc
	if s.killed.Load() {
		return errors.Join(cause, errKilled)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
	defer cancel()
	for w.inflight > 0 {
		select {
		case r := <-w.results:
			w.complete(r)
		case <-ctx.Done():
			w.log.Warn("in-flight sends did not finish before the drain timeout; they stay owed in the state", "inflight", w.inflight)
			w.inflight = 0
		}
	}
	if s.killed.Load() {
		return errors.Join(cause, errKilled)
	}
	if err := w.flush(ctx, true); err != nil {
		return errors.Join(cause, err)
	}
	if cause != nil {
		return cause // state flushed; offsets stay where they were, the findings come again
	}
	err := w.commitDone(ctx, true)
	s.m.dedupSize.DeleteLabelValues(strconv.Itoa(w.st.partition))
	s.m.incidentSize.DeleteLabelValues(strconv.Itoa(w.st.partition))
	return err
}

func (w *worker) publishState() {
	p := strconv.Itoa(w.st.partition)
	w.svc.m.dedupSize.WithLabelValues(p).Set(float64(len(w.st.dedup)))
	w.svc.m.incidentSize.WithLabelValues(p).Set(float64(len(w.st.incidents)))
}

var errKilled = errors.New("alert service killed")

// excerptOf quotes at most n bytes of an untrusted message for a log line
// (every non-printable character escaped), saying how much was left out.
func excerptOf(b []byte, n int) string {
	if len(b) <= n {
		return strconv.QuoteToASCII(string(b))
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.QuoteToASCII(string(b[:cut])) + fmt.Sprintf(" …(%d more bytes)", len(b)-cut)
}

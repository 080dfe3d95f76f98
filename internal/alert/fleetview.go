package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	kafkago "github.com/segmentio/kafka-go"

	"rootwatch/internal/backoff"
	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// The fleet view is what every replica knows of the whole fleet: the fold
// of every partition of the state topic, read-only (each partition is
// still written by its one owner). Two replicas that have read the topic
// to the same offsets hold the same view, so the status page,
// GET /api/status, GET /api/root-last-used and the last-used gauge give
// the same answer whichever replica serves them; and the session table
// (s/<access key id>) is there for every partition's worker to join its
// centralised-root incidents with, whatever partition the AssumeRoot call
// landed in. Its content depends only on the records read, never on when
// they were read: a replica started later, or after compaction, folds to
// the same view.

// fleetView is the fold; safe for concurrent use.
type fleetView struct {
	mu      sync.RWMutex
	rootUse map[string]RootUse
	// incidents are the latest i/ values, summarised only when read
	// (incidents are written at every change; the view is read rarely).
	incidents map[string][]byte
	sessions  map[string]*match.Finding
	offsets   map[int]int64 // partition -> next offset to read
	changed   chan struct{} // closed (and replaced) when a session is added
	gauge     *prometheus.GaugeVec
	nSessions prometheus.Gauge
}

// FleetIncident is one incident held in the state of any partition, as
// GET /api/status and the status page show it.
type FleetIncident struct {
	ID        string         `json:"id"`
	Title     string         `json:"title"`
	AccountID string         `json:"accountId"`
	Category  match.Category `json:"category"`
	Severity  match.Severity `json:"severity"`
	Count     int            `json:"count"`
	OpenedAt  time.Time      `json:"openedAt"`
	LastSeen  time.Time      `json:"lastSeen"`
	// LastSent is the last notification to any channel; Notifications how
	// many were sent in all; Channels the channels notified, Parked those
	// given up on (DLQ), Owed those still owed one.
	LastSent      time.Time `json:"lastSent,omitzero"`
	Notifications int       `json:"notifications"`
	Channels      []string  `json:"channels"`
	Parked        []string  `json:"parked,omitempty"`
	Owed          []string  `json:"owed,omitempty"`
	// AccessKeyID and OpenedBy are a session incident's key and who opened
	// the session ("" while not known).
	AccessKeyID string `json:"accessKeyId,omitempty"`
	OpenedBy    string `json:"openedBy,omitempty"`
}

func newFleetView(gauge *prometheus.GaugeVec, nSessions prometheus.Gauge) *fleetView {
	return &fleetView{
		rootUse: map[string]RootUse{}, incidents: map[string][]byte{}, sessions: map[string]*match.Finding{},
		offsets: map[int]int64{}, changed: make(chan struct{}), gauge: gauge, nSessions: nSessions,
	}
}

// apply folds the record at offset of state partition p into the view
// (which keeps r.Value). dedup entries are not kept. An unreadable record
// is skipped (the error says which); the offset still moves on; an
// unreadable incident is left out when the view is read.
func (v *fleetView) apply(p int, offset int64, r Record) error {
	var is issuedSession
	var ru RootUse
	var err error
	// Decode outside the lock.
	switch {
	case strings.HasPrefix(r.Key, prefixSession) && r.Value != nil:
		is, err = decodeSession(r.Key, r.Value)
	case strings.HasPrefix(r.Key, prefixRootUse) && r.Value != nil:
		if err = json.Unmarshal(r.Value, &ru); err != nil {
			err = fmt.Errorf("state record %q: %w", r.Key, err)
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.offsets[p] = max(v.offsets[p], offset+1)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(r.Key, prefixIncident):
		if r.Value == nil {
			delete(v.incidents, r.Key[len(prefixIncident):])
		} else {
			v.incidents[r.Key[len(prefixIncident):]] = r.Value
		}
	case strings.HasPrefix(r.Key, prefixSession):
		key := r.Key[len(prefixSession):]
		if r.Value == nil {
			delete(v.sessions, key)
		} else {
			v.sessions[key] = is.Finding
			close(v.changed)
			v.changed = make(chan struct{})
		}
		v.nSessions.Set(float64(len(v.sessions)))
	case strings.HasPrefix(r.Key, prefixRootUse):
		// The latest use wins whatever the order read: an account's uses
		// only move forward in its partition, and the view must not
		// depend on the order partitions are read in.
		if cur, ok := v.rootUse[ru.AccountID]; r.Value != nil && (!ok || ru.Time.After(cur.Time) ||
			(ru.Time.Equal(cur.Time) && ru.EventID > cur.EventID)) {
			v.rootUse[ru.AccountID] = ru
			v.gauge.WithLabelValues(ru.AccountID).Set(float64(ru.Time.Unix()))
		}
	}
	return nil
}

// fleetIncident summarises an incident record for the view.
func fleetIncident(r Record) (FleetIncident, error) {
	var inc incident
	if err := json.Unmarshal(r.Value, &inc); err != nil {
		return FleetIncident{}, fmt.Errorf("state record %q: %w", r.Key, err)
	}
	n := channel.Notification{Kind: channel.KindOpen, Incident: inc.Incident}
	if len(inc.Recent) > 0 {
		n.Findings = []match.Finding{inc.Recent[0].Finding}
	}
	m := channel.Render(&n)
	fi := FleetIncident{
		ID: inc.ID, Title: m.Title.In(channel.Plain), AccountID: inc.AccountID, Category: inc.Category, Severity: inc.Severity,
		Count: inc.Count, OpenedAt: inc.OpenedAt, LastSeen: inc.LastSeen, Channels: []string{}, AccessKeyID: inc.SessionKey,
	}
	if inc.Issuer != nil {
		fi.OpenedBy = issuerText(inc.Issuer)
	}
	for _, name := range slices.Sorted(maps.Keys(inc.Out)) {
		d := inc.Out[name]
		if d == nil {
			continue
		}
		fi.Notifications += d.N
		if d.N > 0 {
			fi.Channels = append(fi.Channels, name)
		}
		if d.LastSent.After(fi.LastSent) {
			fi.LastSent = d.LastSent
		}
		switch {
		case d.Parked >= inc.Count && d.Sent < inc.Count:
			fi.Parked = append(fi.Parked, name)
		case d.Sent < inc.Count:
			fi.Owed = append(fi.Owed, name)
		}
	}
	return fi, nil
}

// session returns the finding of the AssumeRoot call that issued key, or nil.
func (v *fleetView) session(key string) *match.Finding {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.sessions[key]
}

// sessionsChanged returns a channel closed when a session is next added.
func (v *fleetView) sessionsChanged() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.changed
}

// rootUses is the last root use per account, by account.
func (v *fleetView) rootUses() []RootUse {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := slices.Collect(maps.Values(v.rootUse))
	sort.Slice(out, func(i, j int) bool { return out[i].AccountID < out[j].AccountID })
	return out
}

// StatusResponse is the body of GET /api/status: the fleet's state, the
// same from every replica that has read the state topic as far
// (StateOffsets says how far).
type StatusResponse struct {
	GeneratedAt   time.Time `json:"generatedAt"`
	ThresholdDays int       `json:"thresholdDays"`
	// StateOffsets is the next offset this view reads, per state partition.
	StateOffsets map[string]int64 `json:"stateOffsets"`
	RootLastUsed []RootLastUsed   `json:"rootLastUsed"`
	// Incidents are the incidents held in state (open, or within a
	// grouping window of their last finding), last notified first.
	Incidents []FleetIncident `json:"incidents"`
	// Sessions are the centralised-root sessions known (issued within
	// dedup_ttl), newest first.
	Sessions []match.Session `json:"sessions"`
}

// Status is the body of GET /api/status.
func (s *Service) Status() StatusResponse {
	v := s.view
	resp := StatusResponse{ThresholdDays: s.cfg.RootUnusedDays, RootLastUsed: s.RootLastUsed().Accounts, StateOffsets: map[string]int64{},
		Incidents: []FleetIncident{}, Sessions: []match.Session{}}
	resp.GeneratedAt = s.now().UTC()
	v.mu.RLock()
	for p, o := range v.offsets {
		resp.StateOffsets[strconv.Itoa(p)] = o
	}
	incs := make([]Record, 0, len(v.incidents))
	for id, b := range v.incidents {
		incs = append(incs, Record{Key: prefixIncident + id, Value: b})
	}
	for _, f := range v.sessions {
		resp.Sessions = append(resp.Sessions, *f.Session)
	}
	v.mu.RUnlock()
	for _, r := range incs {
		if fi, err := fleetIncident(r); err == nil {
			resp.Incidents = append(resp.Incidents, fi)
		} else {
			s.log.Warn("status: unreadable incident in the state", "error", err)
		}
	}
	sort.Slice(resp.Incidents, func(i, j int) bool {
		a, b := resp.Incidents[i], resp.Incidents[j]
		if !a.LastSent.Equal(b.LastSent) {
			return a.LastSent.After(b.LastSent)
		}
		if !a.LastSeen.Equal(b.LastSeen) {
			return a.LastSeen.After(b.LastSeen)
		}
		return a.ID < b.ID
	})
	sort.Slice(resp.Sessions, func(i, j int) bool {
		a, b := resp.Sessions[i], resp.Sessions[j]
		if !a.IssuedAt.Equal(b.IssuedAt) {
			return a.IssuedAt.After(b.IssuedAt)
		}
		return a.AccessKeyID < b.AccessKeyID
	})
	return resp
}

// viewStore is the Store of stdin mode: the state is applied to the fleet
// view as it would be written to the topic (one partition, offsets
// counted), so the API and the status page read it the same way.
type viewStore struct {
	v    *fleetView
	next int64
}

func (vs *viewStore) Write(_ context.Context, p int, recs []Record) error {
	for _, r := range recs {
		_ = vs.v.apply(p, vs.next, r) // the worker's own records always decode; the view must never stop it
		vs.next++
	}
	return nil
}

// followState keeps the fleet view up to date with every partition of the
// state topic until ctx ends. The returned channel is closed once every
// partition was read up to the end it had when following started (what
// readiness waits for, so that a replica never answers from half a view).
// A broker that does not answer is retried with backoff, logged.
func (s *Service) followState(ctx context.Context, dialer *kafkago.Dialer, n int) <-chan struct{} {
	caughtUp := make(chan struct{})
	var pending sync.WaitGroup
	pending.Add(n)
	for p := range n {
		go s.followPartition(ctx, dialer, p, sync.OnceFunc(pending.Done))
	}
	go func() {
		pending.Wait()
		close(caughtUp)
	}()
	return caughtUp
}

// followPartition reads state partition p from its start into the view,
// calling caughtUp once it has read up to the end the partition had when
// it started, until ctx ends. Errors are logged and retried with backoff.
func (s *Service) followPartition(ctx context.Context, dialer *kafkago.Dialer, p int, caughtUp func()) {
	kc := s.cfg.Kafka
	retry := backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.5}
	failures := 0
	failed := func(what string, err error) bool {
		s.log.Warn("follow state: "+what, "partition", p, "error", err)
		failures++
		return backoff.Sleep(ctx, retry.Delay(failures-1)) == nil
	}
	var first, last int64
	for {
		var err error
		if first, last, err = partitionOffsets(ctx, dialer, kc.Brokers, kc.StateTopic, p); err == nil {
			break
		}
		if ctx.Err() != nil || !failed("offsets", err) {
			return
		}
	}
	if last <= first {
		caughtUp()
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: kc.Brokers, Topic: kc.StateTopic, Partition: p, Dialer: dialer,
		MinBytes: 1, MaxBytes: 32 << 20, MaxWait: 100 * time.Millisecond,
	})
	defer r.Close()
	if err := r.SetOffset(first); err != nil {
		s.log.Error("follow state", "partition", p, "error", err)
		return
	}
	failures = 0
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, context.Canceled) || !failed("read", err) {
				return
			}
			continue
		}
		failures = 0
		var val []byte
		if len(m.Value) > 0 {
			val = m.Value
		}
		if err := s.view.apply(p, m.Offset, Record{Key: string(m.Key), Value: val}); err != nil {
			s.log.Warn("follow state: skipping unreadable record", "partition", p, "offset", m.Offset, "error", err)
		}
		if m.Offset >= last-1 {
			caughtUp()
		}
	}
}

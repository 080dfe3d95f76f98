package main

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// receiver is the far end of the demo's webhook channel: it accepts the
// generic webhook's JSON (docs/channels.md), as a receiver would, and keeps
// the root events it was told about, and which centralised-root sessions
// it was told who opened, so the demo can check them.
type receiver struct {
	mu    sync.Mutex
	ids   map[string]bool // root events (rule cis-root)
	calls map[string]bool // sts:AssumeRoot calls (rule root-session-issued)
	// joined: session access key -> the kind of the notification by which
	// an incident had carried an action of the session, the sts:AssumeRoot
	// call that issued its key, and a note saying who opened the session.
	joined    map[string]string
	incidents map[string]*sessionSeen // by incident id
	pages     map[string]int          // eventID -> distinct notifications of root incidents (not compliance notices) that carried it
	n         int
	bad       int
	last      time.Time
	dedup     map[string]bool // Idempotency-Key values seen
}

func newReceiver() *receiver {
	return &receiver{ids: map[string]bool{}, calls: map[string]bool{}, joined: map[string]string{}, incidents: map[string]*sessionSeen{},
		pages: map[string]int{}, dedup: map[string]bool{}}
}

// sessionSeen is what the notifications of one incident said about
// centralised-root sessions: the access keys of its session actions, the
// keys its sts:AssumeRoot calls issued, and whether a note said who opened
// the session.
type sessionSeen struct {
	actions, calls map[string]bool
	said           bool
}

// webhookBody is the part of the webhook channel's body the receiver reads.
type webhookBody struct {
	Version  string `json:"version"`
	Kind     string `json:"kind"`
	Title    string `json:"title"`
	Incident struct {
		ID       string `json:"id"`
		Count    int    `json:"count"`
		Category string `json:"category"`
	} `json:"incident"`
	Findings []match.Finding `json:"findings"`
	Notes    []string        `json:"notes"`
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b webhookBody
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	key := r.Header.Get("Idempotency-Key")
	ok := err == nil && r.Method == http.MethodPost && r.Header.Get("Content-Type") == "application/json" &&
		json.Unmarshal(body, &b) == nil && b.Version == "1" && b.Incident.ID != "" && key != ""
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.last = time.Now()
	if !ok {
		rc.bad++
		http.Error(w, "not a rootwatch webhook notification", http.StatusBadRequest)
		return
	}
	if rc.dedup[key] { // a retry of a notification already taken
		w.WriteHeader(http.StatusOK)
		return
	}
	rc.dedup[key] = true
	rc.n++
	inc := rc.incidents[b.Incident.ID]
	if inc == nil {
		inc = &sessionSeen{actions: map[string]bool{}, calls: map[string]bool{}}
		rc.incidents[b.Incident.ID] = inc
	}
	for _, f := range b.Findings {
		switch {
		case f.Rule == match.RuleRootSessionIssued:
			rc.calls[f.EventID] = true
			if f.Session != nil && f.Session.AccessKeyID != "" {
				inc.calls[f.Session.AccessKeyID] = true
			}
			continue
		case f.AssumedRoot && f.AccessKeyID != "":
			inc.actions[f.AccessKeyID] = true
		}
		rc.ids[f.EventID] = true
		if b.Incident.Category != string(channel.CategoryCompliance) {
			rc.pages[f.EventID]++
		}
	}
	for _, n := range b.Notes { // notes are neutralised text: no matching on ARNs in them
		inc.said = inc.said || strings.HasPrefix(n, "session opened by ")
	}
	for key := range inc.actions {
		if inc.calls[key] && inc.said && rc.joined[key] == "" {
			rc.joined[key] = b.Kind
		}
	}
	w.WriteHeader(http.StatusOK)
}

// eventIDs are the distinct root eventIDs received, sorted.
func (rc *receiver) eventIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return sortedKeys(rc.ids)
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

// callIDs are the distinct sts:AssumeRoot calls received, sorted.
func (rc *receiver) callIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return sortedKeys(rc.calls)
}

// joins says, per session access key, the kind of the first notification
// that named who opened it ("open" when the incident opened knowing it).
func (rc *receiver) joins() map[string]string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return maps.Clone(rc.joined)
}

// pagesOf is the number of distinct notifications of root incidents that
// carried eventID (a compliance notice about the same call is not a page
// about it).
func (rc *receiver) pagesOf(eventID string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.pages[eventID]
}

// count is the number of distinct notifications received.
func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.n
}

func (rc *receiver) badRequests() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.bad
}

// quietFor is true when nothing arrived for d.
func (rc *receiver) quietFor(d time.Duration) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return time.Since(rc.last) >= d
}

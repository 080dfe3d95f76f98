package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// receiver is the far end of the demo's webhook channel: it accepts the
// generic webhook's JSON (docs/channels.md), as a receiver would, and keeps
// the root events it was told about so the demo can check them.
type receiver struct {
	mu    sync.Mutex
	ids   map[string]bool
	pages map[string]int // eventID -> distinct notifications of root incidents (not compliance notices) that carried it
	n     int
	bad   int
	last  time.Time
	dedup map[string]bool // Idempotency-Key values seen
}

func newReceiver() *receiver {
	return &receiver{ids: map[string]bool{}, pages: map[string]int{}, dedup: map[string]bool{}}
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
	for _, f := range b.Findings {
		rc.ids[f.EventID] = true
		if b.Incident.Category != string(channel.CategoryCompliance) {
			rc.pages[f.EventID]++
		}
	}
	w.WriteHeader(http.StatusOK)
}

// eventIDs are the distinct root eventIDs received, sorted.
func (rc *receiver) eventIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]string, 0, len(rc.ids))
	for id := range rc.ids {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
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

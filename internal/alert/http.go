package alert

import (
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// RootLastUsed is one account's entry of GET /api/root-last-used.
type RootLastUsed struct {
	RootUse
	// DaysSince is whole days between the last use and now.
	DaysSince int `json:"daysSince"`
	// WithinThreshold is true when root was used in the last root_unused_days.
	WithinThreshold bool `json:"withinThreshold"`
}

// RootLastUsedResponse is the body of GET /api/root-last-used.
type RootLastUsedResponse struct {
	ThresholdDays int            `json:"thresholdDays"`
	GeneratedAt   time.Time      `json:"generatedAt"`
	Accounts      []RootLastUsed `json:"accounts"`
}

// Handler serves the status page (/), /metrics, /healthz, /readyz,
// /api/root-last-used and /api/status. /readyz is ready once the fleet
// view has read the state topic to its end at start and the partitions
// owned are restored and consuming. The status page and both APIs answer
// for the whole fleet (fleetview.go), whichever replica serves them.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handleStatus) // the status page (statuspage.go)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.ready.Load() || s.killed.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /api/root-last-used", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.RootLastUsed())
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Status())
	})
	return mux
}

// RootLastUsed is the body of GET /api/root-last-used.
func (s *Service) RootLastUsed() RootLastUsedResponse {
	now := s.now()
	resp := RootLastUsedResponse{ThresholdDays: s.cfg.RootUnusedDays, GeneratedAt: now.UTC(), Accounts: []RootLastUsed{}}
	for _, ru := range s.view.rootUses() {
		age := now.Sub(ru.Time)
		resp.Accounts = append(resp.Accounts, RootLastUsed{
			RootUse:         ru,
			DaysSince:       int(math.Max(0, math.Floor(age.Hours()/24))),
			WithinThreshold: age < time.Duration(s.cfg.RootUnusedDays)*24*time.Hour,
		})
	}
	return resp
}

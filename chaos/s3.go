package chaos

import (
	"net/http"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// S3Fault is what the chaos S3 does to GetObject requests.
type S3Fault int

// The S3 faults.
const (
	S3OK     S3Fault = iota
	S3Err500         // answer 500 InternalError
	S3Hang           // hold the request until the fault ends (or the client gives up), then 503
)

func (f S3Fault) String() string {
	return [...]string{"ok", "500", "hang"}[f]
}

// FaultyS3 is gofakes3 (in memory) behind a handler whose GetObject
// answers can be switched to 500s or hangs at run time. Writes (the
// driver's uploads) always succeed.
type FaultyS3 struct {
	inner http.Handler

	mu     sync.Mutex
	fault  S3Fault
	change chan struct{} // closed and replaced on every change
	gets   map[S3Fault]int
}

// NewFaultyS3 returns an empty S3.
func NewFaultyS3() *FaultyS3 {
	return &FaultyS3{
		inner:  gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning()).Server(),
		change: make(chan struct{}),
		gets:   map[S3Fault]int{},
	}
}

// Set switches the fault for GetObject.
func (s *FaultyS3) Set(f S3Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	close(s.change)
	s.change = make(chan struct{})
}

// Gets returns how many GetObject requests were answered with each fault.
func (s *FaultyS3) Gets() map[S3Fault]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[S3Fault]int{}
	for k, v := range s.gets {
		out[k] = v
	}
	return out
}

// ServeHTTP applies the current fault to GetObject/HeadObject and passes
// everything else to gofakes3.
func (s *FaultyS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.inner.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	f, change := s.fault, s.change
	s.gets[f]++
	s.mu.Unlock()
	switch f {
	case S3Err500:
		s3Error(w, http.StatusInternalServerError, "InternalError", "chaos: injected 500")
		return
	case S3Hang:
		t := time.NewTimer(2 * time.Minute)
		defer t.Stop()
		select {
		case <-change:
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "chaos: injected hang ended")
		return
	}
	s.inner.ServeHTTP(w, r)
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
}

package chaos

import (
	"net/http"
	"strings"
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
// driver's uploads) always succeed. It tells when a fault period bit: for
// 500s, when one object was refused RefusalsToBite times in the period (the
// SDK's retries of one read, 3 by default, were outlasted); for a hang, when
// a request was held. And it can run a callback after the next GET it
// answers (the chaos run SIGKILLs ingest there: a message received, its
// object read, nothing acknowledged yet).
type FaultyS3 struct {
	inner http.Handler
	// RefusalsToBite is how many 500s to one object make a 500 period count
	// as having outlasted the SDK's retries (default 3, the SDK's attempts).
	RefusalsToBite int
	// AfterGet runs once, after the next GetObject is answered, with its key.
	AfterGet oneShot[string]

	mu      sync.Mutex
	fault   S3Fault
	change  chan struct{} // closed and replaced on every change
	gets    map[S3Fault]int
	refused map[string]int // this period: 500s per object key
	bit     *bite
}

// NewFaultyS3 returns an empty S3.
func NewFaultyS3() *FaultyS3 {
	return &FaultyS3{
		inner:   gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning()).Server(),
		change:  make(chan struct{}),
		gets:    map[S3Fault]int{},
		refused: map[string]int{},
		bit:     newBite(),
	}
}

// Set switches the fault for GetObject and starts a new period; the
// returned channel is closed when the period bites.
func (s *FaultyS3) Set(f S3Fault) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
	close(s.change)
	s.change = make(chan struct{})
	s.bit = newBite()
	clear(s.refused)
	return s.bit.C()
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
	key := objectKey(r.URL.Path)
	s.mu.Lock()
	f, change, bit := s.fault, s.change, s.bit
	s.gets[f]++
	if f == S3Err500 && key != "" {
		s.refused[key]++
		n := s.RefusalsToBite
		if n <= 0 {
			n = 3
		}
		if s.refused[key] >= n {
			bit.hit()
		}
	}
	s.mu.Unlock()
	if r.Method == http.MethodGet && key != "" {
		defer func() {
			if fl, ok := w.(http.Flusher); ok {
				fl.Flush() // the client has the answer before the callback runs
			}
			s.AfterGet.Fire(key)
		}()
	}
	switch f {
	case S3Err500:
		s3Error(w, http.StatusInternalServerError, "InternalError", "chaos: injected 500")
		return
	case S3Hang:
		bit.hit()
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

// objectKey is the key of a path-style object URL (/bucket/key), "" for a bucket.
func objectKey(path string) string {
	_, key, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return key
}

func s3Error(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
}

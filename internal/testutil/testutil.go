// Package testutil holds the small helpers that tests of several packages
// share (a goroutine-safe buffer, waiting on a condition, a throttled HTTP
// body, a config file, an environment, the repository's own test data), so
// each is written once.
package testutil

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer safe for concurrent Write and String, for
// capturing the stderr of a process or a logger that other goroutines write.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Bytes returns a copy of everything written so far.
func (s *SyncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// WaitFor checks cond every 20 ms until it holds, and fails t (naming what
// it waited for) when it still does not after timeout. cond must observe
// the state it waits for (a metric, a log line written after the event, a
// count): this is not a sleep.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// SlowWriter is an http.ResponseWriter that sends the body Chunk bytes at a
// time, Pause apart, flushing each chunk, until the request ends: an S3 that
// streams slowly, for tests of in-flight work at shutdown or under kills.
type SlowWriter struct {
	http.ResponseWriter
	Ctx   context.Context
	Chunk int
	Pause time.Duration
}

// Write sends p in chunks.
func (s *SlowWriter) Write(p []byte) (int, error) {
	chunk := s.Chunk
	if chunk <= 0 {
		chunk = 4096
	}
	n := 0
	for len(p) > 0 {
		c := min(len(p), chunk)
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		p = p[c:]
		t := time.NewTimer(s.Pause)
		select {
		case <-t.C:
		case <-s.Ctx.Done():
			t.Stop()
			return n, s.Ctx.Err()
		}
	}
	return n, nil
}

// WriteFile writes body to a file called name in a fresh temporary folder
// (removed after the test) and returns its path: a config file for a test.
func WriteFile(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Env is an environment lookup (os.LookupEnv's shape) over m, for commands
// that take their environment as a function.
func Env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// RepoRoot returns the directory holding go.mod, from the working directory
// up; it fails t when there is none.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// RealCloudTrailFiles returns the real CloudTrail log files kept in the
// repository (testdata/cloudtrail-real/invictus: 55 files, 2,900 records,
// none of them root activity; see the README there for their source and
// licence). It fails t when they are missing: the tests own their data.
func RealCloudTrailFiles(t testing.TB) (dir string, files []string) {
	t.Helper()
	dir = filepath.Join(RepoRoot(t), "testdata", "cloudtrail-real", "invictus")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("real CloudTrail files missing in %s (%v)", dir, err)
	}
	return dir, files
}

// UnusedAddr returns a 127.0.0.1 address nothing listens on (a port just
// given back by the system): a server that is down.
func UnusedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

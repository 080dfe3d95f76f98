package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if got := check(srv.URL+"/healthz", 5*time.Second); got != 0 {
		t.Fatalf("healthy: exit %d", got)
	}
	if got := check(srv.URL+"/readyz", 5*time.Second); got != 1 {
		t.Fatalf("503: exit %d", got)
	}
	srv.Close()
	if got := check(srv.URL+"/healthz", 5*time.Second); got != 1 {
		t.Fatalf("closed: exit %d", got)
	}
}

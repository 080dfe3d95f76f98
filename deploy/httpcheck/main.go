// Command httpcheck is the container healthcheck of the rootwatch images:
// distroless images have no shell, curl or wget, so the Dockerfile ships
// this static binary and docker-compose runs `httpcheck URL`. It exits 0
// when GET URL answers 2xx within the timeout, 1 otherwise.
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httpcheck http://127.0.0.1:PORT/healthz")
		os.Exit(2)
	}
	os.Exit(check(os.Args[1], 3*time.Second))
}

func check(url string, timeout time.Duration) int {
	c := &http.Client{Timeout: timeout}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintf(os.Stderr, "httpcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(os.Stderr, "httpcheck: %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}

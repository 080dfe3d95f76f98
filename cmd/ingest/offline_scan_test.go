package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// buildIngest builds this command once per test binary.
func buildIngest(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ingest")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestOfflineScanCommand runs `ingest --source DIR --sink stdout` as a user
// would, on a tree of labelled fixtures with damaged files among them.
func TestOfflineScanCommand(t *testing.T) {
	bin := buildIngest(t)
	tree, err := fixtures.WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--source", tree.Dir, "--sink", "stdout")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("want a non-zero exit when files could not be read, got %v\nstderr: %s", err, stderr.String())
	}
	var got []string
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var f match.Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("stdout line is not a Finding: %v: %.200s", err, sc.Bytes())
		}
		got = append(got, f.EventID)
	}
	want := append([]string(nil), tree.RootEventIDs...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n got %v\nwant %v", got, want)
	}
	for rel, reason := range tree.Bad {
		line := ""
		for _, l := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(l, filepath.FromSlash(rel)) && strings.Contains(l, reason) {
				line = l
			}
		}
		if line == "" {
			t.Errorf("stderr does not name %s with %q:\n%s", rel, reason, stderr.String())
		}
	}
	if !strings.Contains(stderr.String(), "scan: ") || !strings.Contains(stderr.String(), "MB/s") {
		t.Errorf("no summary line on stderr:\n%s", stderr.String())
	}
}

func TestOfflineScanCommandRealFiles(t *testing.T) {
	dir, _ := testutil.RealCloudTrailFiles(t)
	bin := buildIngest(t)
	cmd := exec.Command(bin, "--source", dir, "--sink", "stdout")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Fatalf("real files hold no root activity, got:\n%.500s", stdout.String())
	}
	if !strings.Contains(stderr.String(), "55 files, 2900 records, 0 findings, 0 errors") {
		t.Fatalf("summary: %s", stderr.String())
	}
}

// TestOfflineScanNoLogFiles: a folder without CloudTrail log files (only a
// digest and other files) is not a silent success: ingest says so on
// stderr and exits non-zero.
func TestOfflineScanNoLogFiles(t *testing.T) {
	bin := buildIngest(t)
	dir := t.TempDir()
	digest := filepath.Join(dir, "AWSLogs", "111122223333", "CloudTrail-Digest", "us-east-1", "2026", "01", "05", "111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260105T000000Z.json.gz")
	if err := os.MkdirAll(filepath.Dir(digest), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(digest, fixtures.Gzip([]byte(`{"logFiles":[]}`)), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello"), 0o644)
	for _, sub := range []string{dir, t.TempDir()} { // a digest only, and nothing at all
		cmd := exec.Command(bin, "--source", sub, "--sink", "stdout")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("%s: want a non-zero exit, got %v\nstderr: %s", sub, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "warning: no CloudTrail log files in "+sub) || stdout.Len() != 0 {
			t.Errorf("%s: stderr does not warn:\n%s", sub, stderr.String())
		}
	}
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"400MB": 400e6, "20M": 20e6, "1GiB": 1 << 30, "1.5kb": 1500, "1000": 1000} {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-1MB", "x"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q): want an error", bad)
		}
	}
}

func TestRunWritesLogsAndTruth(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "logs")
	truth := filepath.Join(dir, "truth.txt")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--out", out, "--files", "6", "--records-per-file", "50", "--root-share", "0.05", "--truth", truth}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if strings.TrimSpace(stdout.String()) != truth {
		t.Errorf("stdout %q, want the truth file's path", stdout.String())
	}
	b, err := os.ReadFile(truth)
	if err != nil {
		t.Fatal(err)
	}
	ids := strings.Fields(string(b))
	if len(ids) == 0 {
		t.Fatal("truth file lists no eventIDs at root share 0.05")
	}
	for _, id := range ids {
		if len(id) != 36 {
			t.Errorf("truth line %q is not an eventID", id)
		}
	}
	var n int
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".json.gz") {
			n++
		}
		return err
	})
	if n != 6 {
		t.Errorf("wrote %d .json.gz files, want 6", n)
	}
}

// --help on stdout, exit 0; usage errors on stderr in the commands' style, exit 2.
func TestHelpAndUsageErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"--help"}, &stdout, &stderr); code != 0 || stderr.Len() != 0 || !strings.Contains(stdout.String(), "--out string") || !strings.Contains(stdout.String(), "ingest --source") {
		t.Errorf("--help: exit %d\nstdout %s\nstderr %s", code, stdout.String(), stderr.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", t.TempDir()}, "ctgen: give --size or --files"},
		{[]string{"--files", "1"}, "ctgen: --out is required"},
		{[]string{"--out", t.TempDir(), "--files", "1", "--start", "monday"}, `ctgen: --start: want a time in RFC 3339 form such as 2026-01-05T00:00:00Z, got "monday"`},
		{[]string{"--out", t.TempDir(), "--size", "big"}, `ctgen: --size "big": want a positive size like 400MB`},
		{[]string{"--out", t.TempDir(), "--files", "many"}, `ctgen: --files: want a whole number, got "many"`},
	} {
		stderr.Reset()
		code := run(c.args, &stdout, &stderr)
		if code != 2 || !strings.HasPrefix(stderr.String(), c.want) || !strings.Contains(stderr.String(), "Run 'ctgen --help' for usage.") || strings.Contains(stderr.String(), "2006-01-02") {
			t.Errorf("%v: exit %d stderr %q, want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

package main

import (
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
	if err := run([]string{"--out", out, "--files", "6", "--records-per-file", "50", "--root-share", "0.05", "--truth", truth}); err != nil {
		t.Fatal(err)
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
	if err := run([]string{"--out", out}); err == nil {
		t.Error("no --size and no --files: want an error")
	}
}

package source

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"rootwatch/internal/failure"
)

func TestWalkLocal(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/a.json.gz":                                         "x",
		"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/05/111122223333_CloudTrail-Digest_d.json.gz":   "x",
		"AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/01/05/111122223333_CloudTrail-Insight_i.json.gz": "x",
		"exports/b.jsonl":                  "x",
		"exports/c.jsonl.gz":               "x",
		"plain/d.json":                     "x",
		"notes.txt":                        "not a log file",
		"plain/e.json.gz.tmp":              "not a log file",
		"loose/x_CloudTrail-Digest_y.json": "a digest by its name alone",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	single := filepath.Join(dir, "notes.txt") // named on its own: read whatever its name
	var read, skipped []string
	err := WalkLocal(context.Background(), []string{dir, single}, func(e LocalEntry) error {
		if e.Err != nil {
			t.Errorf("entry %s: %v", e.Path, e.Err)
		}
		rel, _ := filepath.Rel(dir, e.Path)
		if e.Skip != "" {
			skipped = append(skipped, filepath.ToSlash(rel)+":"+e.Skip)
		} else {
			read = append(read, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRead := "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/05/a.json.gz," +
		"AWSLogs/111122223333/CloudTrail-Insight/us-east-1/2026/01/05/111122223333_CloudTrail-Insight_i.json.gz," +
		"exports/b.jsonl,exports/c.jsonl.gz,plain/d.json,notes.txt"
	if got := strings.Join(read, ","); got != wantRead {
		t.Errorf("read (in lexical order)\n got %s\nwant %s", got, wantRead)
	}
	wantSkipped := "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/05/111122223333_CloudTrail-Digest_d.json.gz:digest,loose/x_CloudTrail-Digest_y.json:digest"
	if got := strings.Join(skipped, ","); got != wantSkipped {
		t.Errorf("skipped\n got %s\nwant %s", got, wantSkipped)
	}

	// A path that does not exist is an error naming it, before anything is passed.
	calls := 0
	err = WalkLocal(context.Background(), []string{dir, filepath.Join(dir, "nope")}, func(LocalEntry) error { calls++; return nil })
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "nope") || calls != 0 {
		t.Errorf("missing path: %v after %d entries", err, calls)
	}

	// The callback's error stops the walk; so does the context.
	stop := errors.New("enough")
	calls = 0
	if err := WalkLocal(context.Background(), []string{dir}, func(LocalEntry) error { calls++; return stop }); err != stop || calls != 1 {
		t.Errorf("callback error: %v after %d entries", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := WalkLocal(ctx, []string{dir}, func(LocalEntry) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled walk: %v", err)
	}
}

func TestOpenFileClassifies(t *testing.T) {
	_, err := OpenFile(context.Background(), filepath.Join(t.TempDir(), "gone.json"))
	if err == nil || !strings.Contains(err.Error(), "gone.json") {
		t.Fatalf("missing file: %v", err)
	}
	if !isPermanent(err, "object-missing") {
		t.Fatalf("missing file is not a permanent object-missing: %v", err)
	}
}

func isPermanent(err error, reason string) bool {
	r, p := failure.Classify(err)
	return p && r == reason
}

package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"rootwatch/internal/periodic"
	"rootwatch/internal/source"
)

// checkpoint is the content of a backfill's checkpoint file: the position
// before which everything is done (acknowledged by the sink or
// dead-lettered: every folder before the position's folder, and in it
// every key up to the position's key), how far the folders beyond it got
// (Ahead: done, or done up to a key; version 2, as folders are read in
// parallel), and whether the whole backfill is done. A version 1 file
// (no Ahead) reads the same.
type checkpoint struct {
	Version   int             `json:"version"`
	Bucket    string          `json:"bucket"`
	Prefix    string          `json:"prefix"`
	Position  source.Position `json:"position"`
	Ahead     []aheadMark     `json:"ahead,omitempty"`
	Complete  bool            `json:"complete"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// checkpointVersion is the version written.
const checkpointVersion = 2

// checkpointFile keeps a backfill's checkpoint on disk; "" keeps none.
// It writes atomically (a temporary file renamed over the old one), so a
// crash leaves the old checkpoint or the new, never a torn one.
type checkpointFile struct {
	path           string
	bucket, prefix string
	mu             sync.Mutex
	saved          []byte // the last content written, without its time
}

// openCheckpoint reads the checkpoint at path for spec (none yet: the zero
// checkpoint). A checkpoint of another bucket or prefix is an error.
func openCheckpoint(path string, spec source.Backfill) (*checkpointFile, checkpoint, error) {
	f := &checkpointFile{path: path, bucket: spec.Bucket, prefix: spec.Prefix}
	if path == "" {
		return f, checkpoint{}, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, checkpoint{}, nil
	}
	if err != nil {
		return nil, checkpoint{}, fmt.Errorf("read checkpoint: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, checkpoint{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if c.Bucket != spec.Bucket || c.Prefix != spec.Prefix {
		return nil, checkpoint{}, fmt.Errorf("checkpoint %s is for s3://%s/%s, not s3://%s/%s: remove it or give another --checkpoint", path, c.Bucket, c.Prefix, spec.Bucket, spec.Prefix)
	}
	if c.Version > checkpointVersion {
		return nil, checkpoint{}, fmt.Errorf("checkpoint %s has version %d; this ingest reads up to %d", path, c.Version, checkpointVersion)
	}
	same := c
	same.UpdatedAt = time.Time{}
	f.saved, _ = json.Marshal(same)
	return f, c, nil
}

// save records c (its bucket, prefix, version and time are filled in); an
// unchanged checkpoint is not written again.
func (f *checkpointFile) save(c checkpoint) error {
	if f.path == "" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Version, c.Bucket, c.Prefix, c.UpdatedAt = checkpointVersion, f.bucket, f.prefix, time.Time{}
	same, _ := json.Marshal(c)
	if bytes.Equal(same, f.saved) {
		return nil
	}
	c.UpdatedAt = time.Now().UTC()
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %s: %w", f.path, err)
	}
	f.saved = same
	return nil
}

// saveEvery saves mark() every interval until stop is called; stop saves a
// last time and returns once no save runs any more.
func (f *checkpointFile) saveEvery(every time.Duration, mark func() checkpoint, log *slog.Logger) (stop func()) {
	return periodic.Start(every, func(bool) {
		if err := f.save(mark()); err != nil {
			log.Error("checkpoint", "err", err)
		}
	})
}

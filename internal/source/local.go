package source

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/failure"
)

// LocalEntry is one file found by WalkLocal.
type LocalEntry struct {
	Path string
	// Skip says why the file is not to be read ("digest"), or is "".
	Skip string
	// Err is set when the entry could not be read at all (a folder the walk
	// cannot open); the walk goes on past it.
	Err error
}

// WalkLocal calls fn for every log file under paths, in lexical order: a
// file named in paths is passed whatever its name, a folder is walked
// recursively for log-file names (cloudtrail.IsLogFileName). Digest files
// are passed with Skip "digest" (cloudtrail.IsDigest, the one digest rule),
// entries that cannot be read with Err. Every path must exist: one that
// does not is an error naming it, before anything is passed. The walk stops
// when fn returns an error (returned) or ctx ends.
func WalkLocal(ctx context.Context, paths []string, fn func(LocalEntry) error) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("source %s: %w", p, err)
		}
	}
	entry := func(path string) LocalEntry {
		e := LocalEntry{Path: path}
		if cloudtrail.IsDigest(filepath.ToSlash(path)) {
			e.Skip = "digest"
		}
		return e
	}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if cerr := ctx.Err(); cerr != nil {
				return cerr
			}
			if err != nil {
				return fn(LocalEntry{Path: path, Err: err})
			}
			if d.IsDir() {
				return nil
			}
			// A file named in paths is read whatever its name; in folders
			// only log-file names are picked up.
			if path != root && !cloudtrail.IsLogFileName(d.Name()) {
				return nil
			}
			return fn(entry(path))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// OpenFile opens a local file; a missing or unreadable file is a permanent
// failure (object-missing, access-denied).
func OpenFile(ctx context.Context, path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ClassifyFileError(err)
	}
	return f, nil
}

// ClassifyFileError marks a file system error: a missing file or a
// permission problem is permanent, anything else (I/O) transient.
func ClassifyFileError(err error) error {
	switch {
	case os.IsNotExist(err):
		return failure.Permanent(failure.ReasonObjectMissing, err)
	case os.IsPermission(err):
		return failure.Permanent(failure.ReasonAccessDenied, err)
	}
	return err
}

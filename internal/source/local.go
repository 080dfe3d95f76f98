package source

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"rootwatch/internal/cloudtrail"
)

// WalkLocal calls fn for every log file under paths: a file is passed as
// it is (whatever its name), a folder is walked recursively in lexical
// order. A path that cannot be read is an error naming it.
func WalkLocal(paths []string, fn func(path string) error) error {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("source %s: %w", p, err)
		}
		if !st.IsDir() {
			if err := fn(p); err != nil {
				return err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walk %s: %w", path, err)
			}
			if d.IsDir() || !cloudtrail.IsLogFileName(d.Name()) {
				return nil
			}
			if strings.Contains(filepath.ToSlash(path), "/CloudTrail-Digest/") {
				return nil
			}
			return fn(path)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

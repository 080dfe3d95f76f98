// Command jsondecode is the baseline for benchmarks/scan-vs-jq.sh: it finds
// root activity the straightforward way, decoding every CloudTrail file with
// encoding/json into a struct and applying the rule of docs/rule.md, and
// prints the eventIDs it found, one per line. To be a fair comparison with
// `ingest --source DIR --sink stdout` it reads files in parallel (one worker
// per core) and gunzips with the same klauspost/compress/gzip; only the
// parsing differs.
//
//	jsondecode [-workers N] DIR...
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"rootwatch/internal/cloudtrail"
)

// logFile is what the rule needs from a CloudTrail file; encoding/json
// still scans every byte of every record to fill it.
type logFile struct {
	Records []struct {
		EventID      string `json:"eventID"`
		EventType    string `json:"eventType"`
		UserIdentity *struct {
			Type      string  `json:"type"`
			InvokedBy *string `json:"invokedBy"`
		} `json:"userIdentity"`
	} `json:"Records"`
}

func main() {
	workers := flag.Int("workers", runtime.NumCPU(), "files decoded in parallel")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: jsondecode [-workers N] DIR...")
		os.Exit(2)
	}
	var paths []string
	for _, root := range flag.Args() {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if (strings.HasSuffix(p, ".json.gz") || strings.HasSuffix(p, ".json")) && !cloudtrail.IsDigest(filepath.ToSlash(p)) {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "jsondecode:", err)
			os.Exit(1)
		}
	}

	start := time.Now()
	out := bufio.NewWriterSize(os.Stdout, 64<<10)
	var mu sync.Mutex
	var records, raw int64
	var failed int
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			var ids []string
			for p := range jobs {
				n, err := decode(p, &buf, &ids)
				mu.Lock()
				if err != nil {
					fmt.Fprintf(os.Stderr, "jsondecode: %s: %v\n", p, err)
					failed++
				}
				records += n
				raw += int64(buf.Len())
				for _, id := range ids {
					out.WriteString(id)
					out.WriteByte('\n')
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range paths {
		jobs <- p
	}
	close(jobs)
	wg.Wait()
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "jsondecode:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "jsondecode: %d files, %d records, %.1f MB in %s\n",
		len(paths), records, float64(raw)/1e6, time.Since(start).Round(time.Millisecond))
	if failed > 0 {
		os.Exit(1)
	}
}

// decode reads one file into buf and appends the root eventIDs to *ids.
func decode(path string, buf *bytes.Buffer, ids *[]string) (int64, error) {
	buf.Reset()
	*ids = (*ids)[:0]
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, err
		}
		defer zr.Close()
		r = zr
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return 0, err
	}
	var doc logFile
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		return 0, err
	}
	for _, rec := range doc.Records {
		ui := rec.UserIdentity
		if ui != nil && ui.Type == "Root" && ui.InvokedBy == nil && rec.EventType != "AwsServiceEvent" {
			*ids = append(*ids, rec.EventID)
		}
	}
	return int64(len(doc.Records)), nil
}

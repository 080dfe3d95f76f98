// Command ctgen writes realistic CloudTrail log files (internal/gen) to a
// folder in AWS's key layout, for tests, demos and benchmarks, and a truth
// file listing the eventIDs of true root activity, one per line, whose path
// it prints on stdout.
//
//	ctgen --out /tmp/logs --size 400MB --root-share 0.001 --seed 1
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"rootwatch/internal/gen"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ctgen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("ctgen", flag.ContinueOnError)
	out := fs.String("out", "", "folder to write AWSLogs/... into (required)")
	size := fs.String("size", "", "uncompressed log bytes to write, e.g. 400MB, 1GiB (MB = 10^6, MiB = 2^20)")
	files := fs.Int("files", 0, "number of log files (with --size: an upper bound)")
	perFile := fs.Int("records-per-file", 200, "mean records per file")
	rootShare := fs.Float64("root-share", 0.001, "share of records that are root activity (0: none)")
	lookShare := fs.Float64("lookalike-share", 0.01, "share of records that look like root activity but are not (0: none)")
	seed := fs.Uint64("seed", 1, "random seed; the same flags write the same files")
	accounts := fs.String("accounts", "", "comma-separated 12-digit account ids (default: three derived from the seed)")
	regions := fs.String("regions", "us-east-1,eu-west-1,us-west-2", "comma-separated regions")
	orgID := fs.String("org-id", "", "organisation id (o-...) for an organisation trail layout")
	prefix := fs.String("prefix", "", "trail key prefix before AWSLogs/ (e.g. trails/)")
	start := fs.String("start", "2026-01-05T00:00:00Z", "time of the first file (RFC 3339)")
	digests := fs.Bool("digests", false, "also write CloudTrail-Digest files")
	truth := fs.String("truth", "", "truth file: root eventIDs, one per line (default <out>.root-eventids.txt)")
	truthJSON := fs.String("truth-json", "", "optional: also write every root record's eventID, key and category as JSON")
	summary := fs.String("summary-json", "", "optional: write the counts (files, records, bytes, gzBytes, root, lookalikes) as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	cfg := gen.Config{
		Seed: *seed, Files: *files, RecordsPerFile: *perFile,
		RootShare: orNone(*rootShare), LookalikeShare: orNone(*lookShare),
		OrgID: *orgID, Prefix: *prefix, Digests: *digests,
	}
	if *size != "" {
		n, err := parseSize(*size)
		if err != nil {
			return err
		}
		cfg.TargetBytes = n
	}
	if cfg.Files <= 0 && cfg.TargetBytes <= 0 {
		return errors.New("give --size or --files")
	}
	if *accounts != "" {
		cfg.Accounts = strings.Split(*accounts, ",")
	}
	if *regions != "" {
		cfg.Regions = strings.Split(*regions, ",")
	}
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	cfg.Start = t.UTC()

	began := time.Now()
	tr, err := gen.GenerateDir(cfg, *out)
	if err != nil {
		return fmt.Errorf("generate into %s: %w", *out, err)
	}
	elapsed := time.Since(began)

	path := *truth
	if path == "" {
		path = filepath.Clean(*out) + ".root-eventids.txt"
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tr.WriteIDs(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if *truthJSON != "" {
		b, err := json.MarshalIndent(tr.Root, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*truthJSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if *summary != "" {
		b, err := json.Marshal(map[string]any{
			"files": tr.Files, "digests": tr.Digests, "records": tr.Records, "bytes": tr.Bytes,
			"gzBytes": tr.GzBytes, "root": len(tr.Root), "lookalikes": tr.Lookalikes,
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(*summary, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "ctgen: %d files (%d digests), %d records, %.1f MB uncompressed, %.1f MB gzipped, %d root, %d look-alikes, in %s\n",
		tr.Files, tr.Digests, tr.Records, float64(tr.Bytes)/1e6, float64(tr.GzBytes)/1e6, len(tr.Root), tr.Lookalikes, elapsed.Round(time.Millisecond))
	fmt.Println(path)
	return nil
}

// orNone maps the CLI's 0 ("none") to gen's negative ("none"; 0 is default there).
func orNone(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

// parseSize reads 400MB, 1.5GiB, 20M, 1000 (bytes).
func parseSize(s string) (int64, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, m := range []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}} {
		if strings.HasSuffix(u, m.suffix) {
			u, mult = strings.TrimSuffix(u, m.suffix), m.mult
			break
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(u), 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("--size %q: want a positive size like 400MB", s)
	}
	return int64(v * mult), nil
}

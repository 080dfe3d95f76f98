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
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"rootwatch/internal/cli"
	"rootwatch/internal/gen"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usageText = `Usage: ctgen --out folder (--size 400MB | --files N) [flags]

Writes realistic CloudTrail log files in AWS's key layout
(<out>/[prefix]AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/...json.gz)
and a truth file listing the eventIDs of true root activity, one per line;
prints the truth file's path on stdout. Then scan them, for example:

  ctgen --out /tmp/logs --size 50MB
  ingest --source /tmp/logs --sink stdout > findings.jsonl`

// run parses the flags, generates and returns the exit status: 0 done, 1
// the files could not be written, 2 a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	var (
		out, size, prefix, orgID, start, truth, truthJSON, summary string
		files, perFile                                             int
		rootShare, lookShare                                       float64
		seed                                                       uint64
		accounts, regions                                          []string
		digests                                                    bool
	)
	cmd := &cli.Command{Name: "ctgen", Usage: usageText}
	cmd.String(&out, "out", "", "folder to write AWSLogs/... into").Required()
	cmd.String(&size, "size", "", "uncompressed log bytes to write, e.g. 400MB, 1GiB (MB = 10^6, MiB = 2^20)")
	cmd.Int(&files, "files", 0, "number of log files (with --size: an upper bound)")
	cmd.Int(&perFile, "records-per-file", 200, "mean records per file")
	cmd.Float(&rootShare, "root-share", 0.001, "share of records that are root activity (0: none)")
	cmd.Float(&lookShare, "lookalike-share", 0.01, "share of records that look like root activity but are not (0: none)")
	cmd.Uint64(&seed, "seed", 1, "random seed; the same flags write the same files")
	cmd.List(&accounts, "accounts", nil, "comma-separated 12-digit account ids (default: three derived from the seed)")
	cmd.List(&regions, "regions", []string{"us-east-1", "eu-west-1", "us-west-2"}, "comma-separated regions")
	cmd.String(&orgID, "org-id", "", "organisation id (o-...) for an organisation trail layout")
	cmd.String(&prefix, "prefix", "", "trail key prefix before AWSLogs/ (e.g. trails/)")
	cmd.String(&start, "start", "2026-01-05T00:00:00Z", "time of the first file (RFC 3339)")
	cmd.Bool(&digests, "digests", "also write CloudTrail-Digest files")
	cmd.String(&truth, "truth", "", "truth file: root eventIDs, one per line (default <out>.root-eventids.txt)")
	cmd.String(&truthJSON, "truth-json", "", "optional: also write every root record's eventID, key and category as JSON")
	cmd.String(&summary, "summary-json", "", "optional: write the counts (files, records, bytes, gzBytes, root, lookalikes) as JSON")
	if code, ok := cmd.Parse(args, nil, stdout, stderr); !ok {
		return code
	}
	cfg := gen.Config{
		Seed: seed, Files: files, RecordsPerFile: perFile,
		RootShare: orNone(rootShare), LookalikeShare: orNone(lookShare),
		OrgID: orgID, Prefix: prefix, Digests: digests, Accounts: accounts, Regions: regions,
	}
	if size != "" {
		n, err := parseSize(size)
		if err != nil {
			return cmd.Fail(stderr, err)
		}
		cfg.TargetBytes = n
	}
	if cfg.Files <= 0 && cfg.TargetBytes <= 0 {
		return cmd.Fail(stderr, errors.New("give --size or --files"))
	}
	t, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return cmd.Fail(stderr, fmt.Errorf("--start: want a time in RFC 3339 form such as 2026-01-05T00:00:00Z, got %q", start))
	}
	cfg.Start = t.UTC()
	if err := generate(cfg, out, truth, truthJSON, summary, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "ctgen:", err)
		return 1
	}
	return 0
}

// generate writes the files, the truth file and the optional JSON files.
func generate(cfg gen.Config, out, truth, truthJSON, summary string, stdout, stderr io.Writer) error {
	began := time.Now()
	tr, err := gen.GenerateDir(cfg, out)
	if err != nil {
		return fmt.Errorf("generate into %s: %w", out, err)
	}
	elapsed := time.Since(began)

	path := truth
	if path == "" {
		path = filepath.Clean(out) + ".root-eventids.txt"
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
	if truthJSON != "" {
		b, err := json.MarshalIndent(tr.Root, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(truthJSON, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if summary != "" {
		b, err := json.Marshal(map[string]any{
			"files": tr.Files, "digests": tr.Digests, "records": tr.Records, "bytes": tr.Bytes,
			"gzBytes": tr.GzBytes, "root": len(tr.Root), "lookalikes": tr.Lookalikes,
		})
		if err != nil {
			return err
		}
		if err := os.WriteFile(summary, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "ctgen: %d files (%d digests), %d records, %.1f MB uncompressed, %.1f MB gzipped, %d root, %d look-alikes, in %s\n",
		tr.Files, tr.Digests, tr.Records, float64(tr.Bytes)/1e6, float64(tr.GzBytes)/1e6, len(tr.Root), tr.Lookalikes, elapsed.Round(time.Millisecond))
	fmt.Fprintln(stdout, path)
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

// Command rss measures the peak resident memory of the ingest process under
// a flood of large objects: it writes generated CloudTrail files (and files
// whose records are just under the record cap) to a folder, runs
// `ingest --source <folder> --sink kafka` against an in-process kfake, and
// reports the peak RSS read from /proc/<pid>/status (VmHWM)
// (sampled every 5 ms until it exits).
//
//	go build -o bin/ ./cmd/ingest && go run ./chaos/rss --bin bin
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/chaos"
	"rootwatch/internal/gen"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the ingest executable")
	files := flag.Int("files", 16, "generated log files")
	perFile := flag.Int("records-per-file", 40000, "records per generated file (~1 KB each)")
	bigFiles := flag.Int("big-record-files", 4, "files made of records just under 16 MiB (the default record cap)")
	workers := flag.Int("workers", 4, "ingest --workers")
	flag.Parse()

	dir, err := os.MkdirTemp("", "rss-")
	check(err)
	defer os.RemoveAll(dir)
	truth, err := gen.GenerateDir(gen.Config{Seed: 1, Files: *files, RecordsPerFile: *perFile, RootShare: 0.001}, dir)
	check(err)
	var bigBytes int64
	for i := range *bigFiles {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		w.Write([]byte(`{"Records":[`))
		for j := range 4 {
			if j > 0 {
				w.Write([]byte(","))
			}
			fmt.Fprintf(w, `{"eventVersion":"1.08","eventID":"big-%d-%d","recipientAccountId":"111122223333","requestParameters":{"x":"%s"}}`, i, j, strings.Repeat("x", 15<<20))
			bigBytes += 15 << 20
		}
		w.Write([]byte(`]}`))
		w.Close()
		check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("big-%d.json.gz", i)), buf.Bytes(), 0o644))
	}

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "cloudtrail.records", "cloudtrail.root-activity", "cloudtrail.dlq"),
		kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(64 << 20)}))
	check(err)
	defer c.Close()

	cmd := exec.Command(filepath.Join(*bin, "ingest"), "--source", dir, "--sink", "kafka", "--brokers", c.ListenAddrs()[0],
		"--workers", strconv.Itoa(*workers), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	check(cmd.Start())
	var hwm int64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
loop:
	for {
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintln(os.Stderr, "ingest:", err)
			}
			break loop
		case <-tick.C:
			if v := chaos.VmHWM(cmd.Process.Pid); v > hwm {
				hwm = v
			}
		}
	}
	// VmHWM is the high-water mark of this process since its exec, so the
	// last sample is the peak up to 5 ms before exit. (rusage maxrss is not
	// used: after Go's vfork it can report the parent's size.)
	fmt.Printf("ingest peak RSS (VmHWM): %d MiB; %d files + %d files of 4x15 MiB records, %d MB decompressed, workers %d, %s\n",
		hwm>>10, truth.Files, *bigFiles, (truth.Bytes+bigBytes)/1e6, *workers, time.Since(start).Round(time.Millisecond))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}

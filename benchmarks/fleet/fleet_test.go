// Package fleet_bench measures how a fleet backfill scales with its
// workers: generated CloudTrail logs in gofakes3 behind a fixed latency per
// request (30 ms, as S3's time to first byte), planned once into kfake,
// then read by 1, 2 and 4 `ingest --source kafka://cloudtrail.backfill`
// processes (each its own consumer group, so each run reads the whole
// plan), each given a small I/O concurrency. It reports objects/s per
// worker count and the scaling factor against one worker: the simulation
// of a fleet of machines on one.
//
//	go test -run XXX -bench Fleet -benchtime 1x -timeout 20m ./benchmarks/fleet/
//
// ROOTWATCH_BENCH_OBJECTS is the number of log files (default 3000),
// ROOTWATCH_BENCH_LATENCY the latency per S3 request (default 30ms),
// ROOTWATCH_BENCH_WORKERS the worker counts (default "1 2 4"),
// ROOTWATCH_BENCH_ARGS more ingest flags for every worker (default
// "--s3-inflight 4": four objects fetched at once per worker, a small I/O
// concurrency, so that one worker is bound by S3's latency).
package fleet_bench

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/fleet"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// latency holds every request *d before S3 answers it, as S3 does before
// its first byte; only time passes, requests are held concurrently. (Zero
// while the bucket is filled.)
func latency(d *atomic.Int64) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d := time.Duration(d.Load()); d > 0 {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
				case <-r.Context().Done():
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	}
}

func BenchmarkFleet(b *testing.B) {
	objects, err := strconv.Atoi(env("ROOTWATCH_BENCH_OBJECTS", "3000"))
	if err != nil {
		b.Fatal(err)
	}
	lat, err := time.ParseDuration(env("ROOTWATCH_BENCH_LATENCY", "30ms"))
	if err != nil {
		b.Fatal(err)
	}
	var counts []int
	for _, f := range strings.Fields(env("ROOTWATCH_BENCH_WORKERS", "1 2 4")) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			b.Fatalf("ROOTWATCH_BENCH_WORKERS: %q", f)
		}
		counts = append(counts, n)
	}
	extra := strings.Fields(env("ROOTWATCH_BENCH_ARGS", "--s3-inflight 4"))
	const bucket = "bench-trail"

	var held atomic.Int64
	s3s := s3test.Start(b, latency(&held))
	s3s.Bucket(b, bucket)
	truth, err := gen.Generate(gen.Config{Seed: 7, Files: objects, RecordsPerFile: 10, Bucket: bucket}, func(key string, gz []byte) error {
		if !cloudtrail.IsDigest(key) {
			s3s.Put(b, bucket, key, gz)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	held.Store(int64(lat))
	_, kcfg := kafkatest.Cluster(b, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := fleet.EnsureTopics(ctx, kcfg, fleet.DefaultTopic, 16, 1); err != nil {
		b.Fatal(err)
	}
	spec, err := source.ParseBackfillURL("s3://"+bucket+"/?from=2026-01-05&to=2026-01-10", time.Now())
	if err != nil {
		b.Fatal(err)
	}
	plan, err := fleet.RunPlan(ctx, fleet.PlanOptions{Kafka: kcfg, S3: s3s.Client, Spec: spec, ItemObjects: 50})
	if err != nil || !plan.Complete || plan.Objects != int64(truth.Files) {
		b.Fatalf("plan: %+v, %v (want %d objects)", plan, err, truth.Files)
	}
	b.Logf("%d files (%d records) in %d items; S3 latency %s per request; worker flags %v", truth.Files, truth.Records, plan.Items, lat, extra)

	bin := filepath.Join(b.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "rootwatch/cmd/ingest").CombinedOutput(); err != nil {
		b.Fatalf("build ingest: %v\n%s", err, out)
	}
	ends, err := kafka.TopicOffsets(ctx, kcfg, fleet.DefaultTopic)
	if err != nil {
		b.Fatal(err)
	}

	for i := 0; i < b.N; i++ {
		rates := map[int]float64{}
		for _, n := range counts {
			group := fmt.Sprintf("bench-%d-%d-%d", i, n, time.Now().UnixNano())
			var procs []*exec.Cmd
			start := time.Now()
			for w := range n {
				args := append([]string{"--source", "kafka://" + fleet.DefaultTopic, "--sink", "kafka", "--group", group,
					"--brokers", strings.Join(kcfg.Brokers, ","), "--s3-endpoint", s3s.URL, "--s3-path-style", "--region", "us-east-1",
					"--log-level", "warn", "--kafka-client-id", fmt.Sprintf("bench-w%d", w)}, extra...)
				cmd := exec.Command(bin, args...)
				cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
				cmd.Stderr = os.Stderr
				cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				procs = append(procs, cmd)
			}
			// Done when the group has committed every item: every object
			// read and acknowledged by Kafka.
			for {
				c, err := kafka.CommittedOffsets(ctx, kcfg, group, fleet.DefaultTopic, len(ends))
				if err != nil {
					b.Fatal(err)
				}
				done := true
				for p, e := range ends {
					done = done && c[p] >= e.End
				}
				if done {
					break
				}
				if ctx.Err() != nil {
					b.Fatal("timed out")
				}
				time.Sleep(20 * time.Millisecond)
			}
			elapsed := time.Since(start)
			for _, p := range procs {
				p.Process.Signal(syscall.SIGTERM)
			}
			for _, p := range procs {
				if err := p.Wait(); err != nil {
					b.Errorf("worker: %v", err)
				}
			}
			rates[n] = float64(truth.Files) / elapsed.Seconds()
			b.Logf("%d worker(s): %d objects in %s: %.0f objects/s", n, truth.Files, elapsed.Round(10*time.Millisecond), rates[n])
			b.ReportMetric(rates[n], fmt.Sprintf("objects/s-%dw", n))
		}
		if base := rates[counts[0]]; base > 0 {
			for _, n := range counts[1:] {
				b.ReportMetric(rates[n]/base, fmt.Sprintf("scaling-%dw", n))
				b.Logf("scaling %d workers / %d: %.2fx", n, counts[0], rates[n]/base)
			}
		}
	}
}

// Package ingest_e2e measures the streaming ingester end to end: generated
// CloudTrail logs in gofakes3, one S3 notification per object on a fauxqs
// queue, `ingest --source sqs://… --sink kafka` as a separate process
// writing into kfake. It reports records/s and the ingest process's CPU
// seconds per million records, and the offline scan's rate on the same
// files beside it.
//
//	go test -run XXX -bench IngestE2E -benchtime 1x ./benchmarks/ingest_e2e/
//	ROOTWATCH_BENCH_MB=300 go test -run XXX -bench IngestE2E -benchtime 1x -timeout 30m ./benchmarks/ingest_e2e/
//
// ROOTWATCH_BENCH_MB is the uncompressed size of the logs (default 20).
// ROOTWATCH_BENCH_ARGS adds ingest flags (e.g. "--batch-size 10000 --compression lz4").
// ROOTWATCH_BENCH_CPUPROFILE writes the ingest process's CPU profile there.
package ingest_e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/scan"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/source/sqstest"
)

var fq *sqstest.Server

func TestMain(m *testing.M) { os.Exit(sqstest.Main(m, &fq)) }

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIngestE2E(b *testing.B) {
	sqstest.Need(b, fq)
	mb := envInt("ROOTWATCH_BENCH_MB", 20)
	const bucket = "bench-trail"

	// Logs: into gofakes3 and, for the scan, a folder.
	s3s := s3test.Start(b, nil)
	s3s.Bucket(b, bucket)
	dir := b.TempDir()
	var keys []string
	truth, err := gen.Generate(gen.Config{Seed: 42, Files: 1 << 30, TargetBytes: int64(mb) << 20}, func(key string, gz []byte) error {
		s3s.Put(b, bucket, key, gz)
		keys = append(keys, key)
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return os.WriteFile(p, gz, 0o644)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d files, %d records, %.1f MB uncompressed, %.1f MB gzipped", truth.Files, truth.Records, float64(truth.Bytes)/1e6, float64(truth.GzBytes)/1e6)

	bin := ingestBinary(b)

	for i := 0; i < b.N; i++ {
		_, kcfg := kafkatest.Cluster(b, 6, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
		c := fq.SQS()
		queue := fq.CreateQueue(b, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), 120)
		sendNotifications(b, c, queue, bucket, keys)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		args := []string{"--source", "sqs://" + queue, "--sink", "kafka", "--brokers", strings.Join(kcfg.Brokers, ","),
			"--sqs-endpoint", fq.Endpoint, "--s3-endpoint", s3s.URL, "--s3-path-style", "--wait-time", "1s",
			"--workers", strconv.Itoa(max(runtime.NumCPU(), 2)), "--log-level", "warn"}
		// Done when every record is in Kafka and every message deleted.
		m := runIngest(b, bin, args, func() bool {
			return kafkatest.Count(b, kcfg, kafka.TopicRecords) >= truth.Records && queueEmpty(ctx, c, queue)
		})
		cancel()
		elapsed := m.elapsed
		ingestCPU := m.cpu
		rps := float64(truth.Records) / elapsed.Seconds()
		b.ReportMetric(rps, "records/s")
		b.ReportMetric(ingestCPU.Seconds()/(float64(truth.Records)/1e6), "cpu-s/Mrecords")
		b.ReportMetric(float64(truth.Bytes)/1e6/elapsed.Seconds(), "MB/s")

		// The offline scan of the same files, in process.
		c0, s0 := selfCPU(), time.Now()
		sum, err := scan.Run(context.Background(), scan.Options{Paths: []string{dir}, Out: io.Discard})
		if err != nil || sum.Records != truth.Records {
			b.Fatalf("scan: %v, %d records of %d", err, sum.Records, truth.Records)
		}
		scanWall, scanCPU := time.Since(s0), selfCPU()-c0
		b.ReportMetric(float64(truth.Records)/scanWall.Seconds(), "scan-records/s")
		b.ReportMetric(scanCPU.Seconds()/(float64(truth.Records)/1e6), "scan-cpu-s/Mrecords")
		b.Logf("ingest e2e: %d records in %v (%.0f records/s, %.1f MB/s, %.2f CPU-s per M records); scan: %v (%.0f records/s, %.2f CPU-s per M records)",
			truth.Records, elapsed.Round(time.Millisecond), rps, float64(truth.Bytes)/1e6/elapsed.Seconds(), ingestCPU.Seconds()/(float64(truth.Records)/1e6),
			scanWall.Round(time.Millisecond), float64(truth.Records)/scanWall.Seconds(), scanCPU.Seconds()/(float64(truth.Records)/1e6))
	}
}

func queueEmpty(ctx context.Context, c *sqs.Client, q string) bool {
	out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		return false
	}
	for _, v := range out.Attributes {
		if v != "0" {
			return false
		}
	}
	return true
}

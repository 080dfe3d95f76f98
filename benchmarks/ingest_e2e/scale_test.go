package ingest_e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/chaos"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/source/sqstest"
)

// The organisation-trail benchmarks: many small objects behind an S3 that
// waits before every request, ingest with default flags as its own process.
//
//	go test -run XXX -bench 'Org' -benchtime 1x -timeout 30m ./benchmarks/ingest_e2e/
//
// ROOTWATCH_BENCH_OBJECTS  objects (default 3000), about ROOTWATCH_BENCH_RECORDS records each (default 30)
// ROOTWATCH_BENCH_LATENCY  S3 latency per request (default 30ms)
// ROOTWATCH_BENCH_INGEST   a prebuilt ingest binary to measure (default: build ./cmd/ingest),
//                          e.g. one built from another commit, for old-against-new figures
// ROOTWATCH_BENCH_ARGS     extra ingest flags (none by default: these measure the defaults)

const (
	orgBucket = "org-trail"
	orgID     = "o-bench12345"
	// The trail's layout: 100 accounts x 16 regions, and a backfill of
	// three days: 4,800 day folders, of which the first day's hold the
	// objects (the listing is the larger part of a backfill of small
	// objects: each folder costs a LIST whether it holds 2 objects or none).
	orgAccounts = 100
	orgDays     = 3
)

var orgRegions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
	"eu-north-1", "ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-southeast-1", "ap-southeast-2", "ca-central-1", "sa-east-1"}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d >= 0 {
		return d
	}
	return def
}

// s3Counter counts the requests the S3 server answered, by kind.
type s3Counter struct{ list, get, other atomic.Int64 }

func (c *s3Counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch q := r.URL.Query(); {
		case r.Method == http.MethodGet && q.Has("list-type"):
			c.list.Add(1)
		case r.Method == http.MethodGet:
			c.get.Add(1)
		default:
			c.other.Add(1)
		}
		h.ServeHTTP(w, r)
	})
}

// orgTrail is the benchmark's S3 bucket: small CloudTrail objects of an
// organisation trail, behind a latency per request.
type orgTrail struct {
	s3      *s3test.Server
	count   *s3Counter
	keys    []string
	truth   gen.Truth
	latency time.Duration
	from    time.Time
}

func newOrgTrail(b *testing.B) *orgTrail {
	o := &orgTrail{count: &s3Counter{}, latency: envDuration("ROOTWATCH_BENCH_LATENCY", 30*time.Millisecond),
		from: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	var delay atomic.Bool // no latency while the objects are uploaded
	slow := s3test.Latency(o.latency)
	o.s3 = s3test.Start(b, func(h http.Handler) http.Handler {
		counted, delayed := o.count.wrap(h), slow(o.count.wrap(h))
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if delay.Load() {
				delayed.ServeHTTP(w, r)
				return
			}
			counted.ServeHTTP(w, r)
		})
	})
	o.s3.Bucket(b, orgBucket)
	accounts := make([]string, orgAccounts)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("%012d", 210000000000+int64(i)*7919)
	}
	var mu sync.Mutex
	var err error
	o.truth, err = gen.Generate(gen.Config{Seed: 12, Files: envInt("ROOTWATCH_BENCH_OBJECTS", 3000), RecordsPerFile: envInt("ROOTWATCH_BENCH_RECORDS", 30),
		Accounts: accounts, Regions: orgRegions, OrgID: orgID, Start: o.from}, func(key string, gz []byte) error {
		o.s3.Put(b, orgBucket, key, gz)
		mu.Lock()
		o.keys = append(o.keys, key)
		mu.Unlock()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	delay.Store(true)
	*o.count = s3Counter{}
	b.Logf("org trail: %d objects, %d records (%.1f KB gzipped per object), %d accounts x %d regions, S3 latency %v per request",
		o.truth.Files, o.truth.Records, float64(o.truth.GzBytes)/float64(o.truth.Files)/1e3, orgAccounts, len(orgRegions), o.latency)
	return o
}

// ingestBinary is $ROOTWATCH_BENCH_INGEST, or ./cmd/ingest built now.
func ingestBinary(b *testing.B) string {
	if p := os.Getenv("ROOTWATCH_BENCH_INGEST"); p != "" {
		return p
	}
	bin := filepath.Join(b.TempDir(), "ingest")
	if out, err := exec.Command("go", "build", "-o", bin, "rootwatch/cmd/ingest").CombinedOutput(); err != nil {
		b.Fatalf("build ingest: %v\n%s", err, out)
	}
	return bin
}

// measured is one ingest process's run.
type measured struct {
	elapsed time.Duration
	cpu     time.Duration // ingest's user+system time
	rssKiB  int64         // ingest's peak RSS (VmHWM)
	others  time.Duration // CPU of this process (S3, Kafka) over the run
	faults  int64         // ingest's minor page faults
}

// runIngest runs ingest with args until it exits (finished true) or until
// finished() holds, then stops it with SIGTERM.
func runIngest(b *testing.B, bin string, args []string, finished func() bool) measured {
	args = append(args, strings.Fields(os.Getenv("ROOTWATCH_BENCH_ARGS"))...)
	if p := os.Getenv("ROOTWATCH_BENCH_CPUPROFILE"); p != "" {
		args = append(args, "--cpu-profile", p)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Stderr = os.Stderr
	cmd.Stdout = io.Discard
	c0, start := selfCPU(), time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var m measured
	var rss atomic.Int64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() { // VmHWM is gone once the process exited: sample it.
		defer close(rssDone)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopRSS:
				return
			case <-t.C:
				if v := chaos.VmHWM(cmd.Process.Pid); v > rss.Load() {
					rss.Store(v)
				}
			}
		}
	}()
	deadline := time.After(30 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-exited:
			m.elapsed = time.Since(start)
			break wait
		case <-deadline:
			cmd.Process.Kill()
			b.Fatal("timed out")
		case <-tick.C:
			if finished != nil && finished() {
				m.elapsed = time.Since(start)
				if v := chaos.VmHWM(cmd.Process.Pid); v > rss.Load() {
					rss.Store(v)
				}
				cmd.Process.Signal(syscall.SIGTERM)
				err = <-exited
				break wait
			}
		}
	}
	close(stopRSS)
	<-rssDone
	if err != nil {
		b.Fatalf("ingest %s: %v", strings.Join(args, " "), err)
	}
	m.cpu = cpu(cmd.ProcessState)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.faults = ru.Minflt
	}
	m.others = selfCPU() - c0
	m.rssKiB = rss.Load()
	return m
}

func (o *orgTrail) report(b *testing.B, what string, m measured) {
	objs := float64(o.truth.Files)
	mrec := float64(o.truth.Records) / 1e6
	b.ReportMetric(objs/m.elapsed.Seconds(), "objects/s")
	b.ReportMetric(m.cpu.Seconds()/mrec, "cpu-s/Mrecords")
	b.ReportMetric(float64(m.rssKiB)/1024, "peak-rss-MiB")
	b.Logf("%s: %d objects (%d records) in %v: %.0f objects/s, %.0f records/s; ingest %.2f CPU-s (%.1f CPU-s per M records), peak RSS %d MiB; "+
		"S3 answered %d LIST, %d GET; this process (S3 + Kafka) used %.2f CPU-s",
		what, o.truth.Files, o.truth.Records, m.elapsed.Round(time.Millisecond), objs/m.elapsed.Seconds(), float64(o.truth.Records)/m.elapsed.Seconds(),
		m.cpu.Seconds(), m.cpu.Seconds()/mrec, m.rssKiB>>10, o.count.list.Load(), o.count.get.Load(), m.others.Seconds())
}

// BenchmarkOrgBackfill: a backfill of an organisation trail's small objects
// (`ingest --source s3://…?from=&to=` with default flags), until it exits
// having read everything.
func BenchmarkOrgBackfill(b *testing.B) {
	o := newOrgTrail(b)
	bin := ingestBinary(b)
	for i := 0; i < b.N; i++ {
		_, kcfg := kafkatest.Cluster(b, 6, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
		*o.count = s3Counter{}
		src := fmt.Sprintf("s3://%s/?from=%s&to=%s", orgBucket, o.from.Format("2006-01-02"), o.from.AddDate(0, 0, orgDays-1).Format("2006-01-02"))
		m := runIngest(b, bin, []string{"--source", src, "--sink", "kafka", "--brokers", strings.Join(kcfg.Brokers, ","),
			"--s3-endpoint", o.s3.URL, "--s3-path-style", "--log-level", "warn"}, nil)
		if n := kafkatest.Count(b, kcfg, kafka.TopicRecords); n != o.truth.Records {
			b.Fatalf("records topic holds %d records, want %d", n, o.truth.Records)
		}
		o.report(b, "backfill", m)
	}
}

// BenchmarkOrgSQS: the live path on the same objects: one S3 notification
// per object on a fauxqs queue, `ingest --source sqs://…` with default
// flags, until every record is in Kafka and every message deleted.
func BenchmarkOrgSQS(b *testing.B) {
	sqstest.Need(b, fq)
	o := newOrgTrail(b)
	bin := ingestBinary(b)
	c := fq.SQS()
	for i := 0; i < b.N; i++ {
		_, kcfg := kafkatest.Cluster(b, 6, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
		queue := fq.CreateQueue(b, fmt.Sprintf("org-%d-%d", time.Now().UnixNano(), i), 120)
		sendNotifications(b, c, queue, orgBucket, o.keys)
		*o.count = s3Counter{}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		m := runIngest(b, bin, []string{"--source", "sqs://" + queue, "--sink", "kafka", "--brokers", strings.Join(kcfg.Brokers, ","),
			"--sqs-endpoint", fq.Endpoint, "--s3-endpoint", o.s3.URL, "--s3-path-style", "--wait-time", "1s", "--log-level", "warn"},
			func() bool {
				return kafkatest.Count(b, kcfg, kafka.TopicRecords) >= o.truth.Records && queueEmpty(ctx, c, queue)
			})
		cancel()
		o.report(b, "sqs", m)
	}
}

func sendNotifications(b *testing.B, c *sqs.Client, queue, bucket string, keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for j := 0; j < len(keys); j += 10 {
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(queue)}
		for k, key := range keys[j:min(j+10, len(keys))] {
			body := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"` + bucket + `"},"object":{"key":"` + key + `"}}}]}`
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(k)), MessageBody: aws.String(body)})
		}
		if _, err := c.SendMessageBatch(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordsPath: what writing every record to Kafka costs beside the
// offline scan of the same files: `ingest --source DIR --sink kafka`
// (records topic on; kfake in this process, so another process than
// ingest) against `ingest --source DIR --sink stdout`, each run
// ROOTWATCH_BENCH_REPEAT times (default 3) in turn; the least CPU of each
// is compared (CPU seconds are the steady measure on a shared machine).
// ROOTWATCH_BENCH_MB is the size of the logs (default 200).
func BenchmarkRecordsPath(b *testing.B) {
	mb := envInt("ROOTWATCH_BENCH_MB", 200)
	dir := b.TempDir()
	truth, err := gen.GenerateDir(gen.Config{Seed: 42, Files: 1 << 30, TargetBytes: int64(mb) << 20}, dir)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d files, %d records, %.1f MB uncompressed, %.1f MB gzipped", truth.Files, truth.Records, float64(truth.Bytes)/1e6, float64(truth.GzBytes)/1e6)
	bin := ingestBinary(b)
	mrec := float64(truth.Records) / 1e6
	for i := 0; i < b.N; i++ {
		var scans, kafkas []measured
		for range envInt("ROOTWATCH_BENCH_REPEAT", 3) {
			scans = append(scans, runIngest(b, bin, []string{"--source", dir, "--sink", "stdout", "--log-level", "warn"}, nil))
			_, kcfg := kafkatest.Cluster(b, 6, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
			kafkas = append(kafkas, runIngest(b, bin, []string{"--source", dir, "--sink", "kafka", "--brokers", strings.Join(kcfg.Brokers, ","), "--log-level", "warn"}, nil))
			if n := kafkatest.Count(b, kcfg, kafka.TopicRecords); n != truth.Records {
				b.Fatalf("records topic holds %d records, want %d", n, truth.Records)
			}
		}
		least := func(ms []measured) measured {
			sort.Slice(ms, func(i, j int) bool { return ms[i].cpu < ms[j].cpu })
			return ms[0]
		}
		s, k := least(scans), least(kafkas)
		b.ReportMetric(s.cpu.Seconds()/mrec, "scan-cpu-s/Mrecords")
		b.ReportMetric(k.cpu.Seconds()/mrec, "kafka-cpu-s/Mrecords")
		b.ReportMetric(k.cpu.Seconds()/s.cpu.Seconds(), "kafka/scan-cpu")
		b.ReportMetric(float64(k.rssKiB)/1024, "kafka-peak-rss-MiB")
		b.Logf("records path: %d records; offline scan %.2f CPU-s (%.2f per M records, %v wall, %d page faults); --sink kafka %.2f CPU-s (%.2f per M records, %v wall, peak RSS %d MiB, %d page faults): %.2fx the scan's CPU",
			truth.Records, s.cpu.Seconds(), s.cpu.Seconds()/mrec, s.elapsed.Round(time.Millisecond), s.faults,
			k.cpu.Seconds(), k.cpu.Seconds()/mrec, k.elapsed.Round(time.Millisecond), k.rssKiB>>10, k.faults, k.cpu.Seconds()/s.cpu.Seconds())
	}
}

package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/testutil"
)

// A backfill stopped half-way resumes from its checkpoint: together the two
// runs produce every record, the second does not start over, and a third
// finds nothing left to do. Digest files are not read.
func TestBackfillStopAndResume(t *testing.T) {
	s3s := s3test.Start(t, nil)
	s3s.Bucket(t, bucket)
	_, kcfg := kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)

	var want [][]byte
	files := 0
	_, err := gen.Generate(gen.Config{Seed: 7, Files: 45, RecordsPerFile: 20, Workers: 1, OrgID: "o-abc123defg", Prefix: "trail/", Digests: true,
		Start: time.Date(2026, 1, 5, 23, 40, 0, 0, time.UTC)}, func(key string, gzb []byte) error {
		s3s.Put(t, bucket, key, gzb)
		if cloudtrail.IsDigest(key) {
			return nil
		}
		files++
		r, err := cloudtrail.NewReader(bytes.NewReader(gzb), cloudtrail.Options{})
		if err != nil {
			return err
		}
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			want = append(want, bytes.Clone(raw))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// One file outside the date range, which must not be read.
	s3s.Put(t, bucket, "trail/AWSLogs/o-abc123defg/111111111111/CloudTrail/us-east-1/2026/01/07/x.json.gz", gz([]byte(`{"Records":[{"eventID":"outside"}]}`)))

	spec, err := source.ParseBackfillURL("s3://"+bucket+"/trail/?from=2026-01-05&to=2026-01-06", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "backfill.checkpoint")
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	run := func(ctx context.Context, rate float64) (pipeline.BackfillSummary, error) {
		sink, err := kafka.NewSink(kcfg, kafka.SinkOptions{Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		var progress testutil.SyncBuffer
		sum, err := pipeline.RunBackfill(ctx, pipeline.BackfillRun{
			Common: pipeline.Common{Sink: sink, Logger: log, Workers: 2, ShutdownGrace: 5 * time.Second},
			S3:     s3s.Client, Spec: spec, Checkpoint: cp, Rate: rate,
			Progress: &progress, ProgressEvery: 100 * time.Millisecond,
		})
		if sum.Objects > 0 && !strings.Contains(progress.String(), "backfill progress: objects=") {
			t.Errorf("no progress lines: %q", progress.String())
		}
		// The final line's totals are exact: what this run listed.
		lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
		if want := fmt.Sprintf("objects=%d/%d ", sum.Objects, sum.Objects); err == nil && sum.Complete && sum.Objects > 0 && !strings.Contains(lines[len(lines)-1], want) {
			t.Errorf("final progress line %q lacks %q", lines[len(lines)-1], want)
		}
		return sum, err
	}

	// Run 1: rate-limited, stopped once the checkpoint has moved.
	ctx, cancel := context.WithCancel(context.Background())
	type res struct {
		sum pipeline.BackfillSummary
		err error
	}
	first := make(chan res, 1)
	go func() { s, err := run(ctx, 15); first <- res{s, err} }()
	waitFor(t, 30*time.Second, "a checkpoint", func() bool {
		b, err := os.ReadFile(cp)
		return err == nil && bytes.Contains(b, []byte(`"key": "trail/`))
	})
	cancel()
	var r1 res
	select {
	case r1 = <-first:
	case <-time.After(30 * time.Second):
		t.Fatal("stopped backfill did not return")
	}
	if !errors.Is(r1.err, context.Canceled) || r1.sum.Complete {
		t.Fatalf("first run: %+v, %v; want stopped, incomplete", r1.sum, r1.err)
	}
	if r1.sum.Objects == 0 || r1.sum.Objects >= int64(files) {
		t.Fatalf("first run read %d of %d objects; want some, not all", r1.sum.Objects, files)
	}

	// Run 2: resumes and completes.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	s2, err := run(ctx2, 0)
	if err != nil || !s2.Complete {
		t.Fatalf("second run: %+v, %v", s2, err)
	}
	if s2.ResumedFrom.Day == "" {
		t.Error("second run did not resume from the checkpoint")
	}
	if s2.Objects >= int64(files) {
		t.Errorf("second run read %d objects: it started over", s2.Objects)
	}
	if r1.sum.Objects+s2.Objects < int64(files) {
		t.Errorf("runs read %d+%d objects, want at least %d", r1.sum.Objects, s2.Objects, files)
	}
	got := checkRecordsAnyBucket(t, kcfg, want, 30*time.Second)
	for _, r := range got {
		if bytes.Contains(r, []byte("outside")) {
			t.Error("a file outside the date range was read")
		}
	}
	var c struct {
		Complete bool `json:"complete"`
	}
	b, _ := os.ReadFile(cp)
	if json.Unmarshal(b, &c); !c.Complete {
		t.Errorf("checkpoint not complete: %s", b)
	}

	// Run 3: nothing to do.
	s3sum, err := run(ctx2, 0)
	if err != nil || s3sum.Objects != 0 || !s3sum.Complete {
		t.Errorf("third run: %+v, %v; want nothing done", s3sum, err)
	}
}

func checkRecordsAnyBucket(t *testing.T, cfg kafka.Config, want [][]byte, timeout time.Duration) [][]byte {
	t.Helper()
	got := kafkatest.ReadAll(t, cfg, kafka.TopicRecords, len(want), timeout)
	wantSet := map[string]bool{}
	for _, w := range want {
		wantSet[string(w)] = true
	}
	seen := map[string]bool{}
	var out [][]byte
	for _, r := range got {
		out = append(out, r.Value)
		if wantSet[string(r.Value)] {
			seen[string(r.Value)] = true
		}
	}
	if len(seen) != len(wantSet) {
		t.Errorf("records topic has %d of %d records", len(seen), len(wantSet))
	}
	return out
}

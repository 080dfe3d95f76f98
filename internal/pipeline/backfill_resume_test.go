package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

// s3Log records, per run, which objects were read and which folders were
// listed, and can hold the reads of one key until the client gives up.
type s3Log struct {
	mu    sync.Mutex
	gets  map[string]int
	lists map[string]int // folder listings, by prefix
	hold  string
}

func (l *s3Log) reset(hold string) {
	l.mu.Lock()
	l.gets, l.lists, l.hold = map[string]int{}, map[string]int{}, hold
	l.mu.Unlock()
}

func (l *s3Log) wrap(bucket string) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			l.mu.Lock()
			hold := false
			switch {
			case r.Method != http.MethodGet:
			case q.Has("list-type") && q.Get("delimiter") == "":
				l.lists[q.Get("prefix")]++
			case !q.Has("list-type"):
				key := strings.TrimPrefix(r.URL.Path, "/"+bucket+"/")
				l.gets[key]++
				hold = key == l.hold
			}
			l.mu.Unlock()
			if hold {
				<-r.Context().Done() // never answered: the reader gives up
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

// A backfill reads many folders at once, so when it stops, folders beyond
// the oldest unfinished one may be done. Its checkpoint says exactly what
// is done (the mark, up to a key of the oldest folder, and the folders
// beyond it that finished), and the next run neither re-reads nor even
// lists what it says is done, and reads everything else: nothing skipped.
func TestBackfillResumeIsExact(t *testing.T) {
	const bkt = "resume-bkt"
	var log s3Log
	log.reset("")
	s3s := s3test.Start(t, log.wrap(bkt))
	s3s.Bucket(t, bkt)
	_, kcfg := kafkatest.Cluster(t, 1, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)

	regions := []string{"eu-west-1", "us-east-1", "us-west-2"}
	type obj struct {
		f   source.Folder
		key string
	}
	var objs []obj
	var want [][]byte
	for _, day := range []string{"2026/01/05", "2026/01/06"} {
		for _, r := range regions {
			f := source.Folder{Day: day, Account: "111111111111", Region: r}
			for i := range 5 {
				key := fmt.Sprintf("AWSLogs/111111111111/CloudTrail/%s/%s/111111111111_CloudTrail_%s_%sT00%d0Z_x.json.gz",
					r, day, r, strings.ReplaceAll(day, "/", ""), i)
				rec := fmt.Sprintf(`{"eventVersion":"1.08","eventID":"%s","eventTime":"2026-01-05T00:00:00Z","recipientAccountId":"111111111111"}`, key)
				s3s.Put(t, bkt, key, gz([]byte(`{"Records":[`+rec+`]}`)))
				objs = append(objs, obj{f, key})
				want = append(want, []byte(rec))
			}
		}
	}
	spec, err := source.ParseBackfillURL("s3://"+bkt+"/?from=2026-01-05&to=2026-01-06", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "checkpoint")
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	run := func(ctx context.Context) (pipeline.BackfillSummary, error) {
		sink, err := kafka.NewSink(kcfg, kafka.SinkOptions{Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		return pipeline.RunBackfill(ctx, pipeline.BackfillRun{
			Common: pipeline.Common{Sink: sink, Logger: logger, Workers: 2, ShutdownGrace: 300 * time.Millisecond},
			S3:     s3s.Client, Spec: spec, Checkpoint: cp,
		})
	}
	type checkpoint struct {
		Position source.Position `json:"position"`
		Ahead    []struct {
			source.Folder
			Key  string `json:"key"`
			Done bool   `json:"done"`
		} `json:"ahead"`
		Complete bool `json:"complete"`
	}
	readCheckpoint := func() (checkpoint, bool) {
		var c checkpoint
		b, err := os.ReadFile(cp)
		return c, err == nil && json.Unmarshal(b, &c) == nil
	}

	// Run 1: the third object of the first folder never answers; the
	// rest is read. Stop once the checkpoint says so.
	held := objs[2]
	log.reset(held.key)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { _, err := run(ctx); first <- err }()
	waitFor(t, 30*time.Second, "a checkpoint up to the held object, with every later folder done", func() bool {
		c, ok := readCheckpoint()
		if !ok || c.Position != held.f.At(objs[1].key) || len(c.Ahead) != 5 {
			return false
		}
		for _, a := range c.Ahead {
			if !a.Done {
				return false
			}
		}
		return true
	})
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v, want stopped", err)
	}
	c, _ := readCheckpoint()
	if c.Complete {
		t.Fatal("the checkpoint of a stopped run says complete")
	}
	doneFolders := map[source.Folder]bool{}
	for _, a := range c.Ahead {
		doneFolders[a.Folder] = a.Done
	}
	isDone := func(o obj) bool {
		switch cmp := o.f.Compare(c.Position.Folder()); {
		case cmp < 0:
			return true
		case cmp == 0:
			return o.key <= c.Position.Key
		}
		return doneFolders[o.f]
	}

	// Run 2: reads exactly what the checkpoint does not say is done.
	log.reset("")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel2()
	s2, err := run(ctx2)
	if err != nil || !s2.Complete {
		t.Fatalf("second run: %+v, %v", s2, err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	var reread, skipped []string
	for _, o := range objs {
		switch n := log.gets[o.key]; {
		case isDone(o) && n > 0:
			reread = append(reread, o.key)
		case !isDone(o) && n == 0:
			skipped = append(skipped, o.key)
		}
	}
	if len(reread) > 0 {
		t.Errorf("the second run read again %d objects the checkpoint said were done: %q", len(reread), reread)
	}
	if len(skipped) > 0 {
		t.Errorf("the second run skipped %d objects not done: %q", len(skipped), skipped)
	}
	if int(s2.Objects) != 3 { // the held object and the two after it in its folder
		t.Errorf("second run read %d objects, want 3", s2.Objects)
	}
	var listedAgain []string
	for p := range log.lists {
		for f, done := range doneFolders {
			if done && p == spec.FolderPrefix(f) {
				listedAgain = append(listedAgain, p)
			}
		}
	}
	if len(listedAgain) > 0 {
		t.Errorf("the second run listed again folders the checkpoint said were done: %q", listedAgain)
	}
	if _, ok := log.lists[spec.FolderPrefix(held.f)]; !ok {
		t.Error("the second run did not list the unfinished folder")
	}
	got := checkRecordsAnyBucket(t, kcfg, want, 30*time.Second)
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, w) }) {
			t.Errorf("record missing: %s", w)
			break
		}
	}
}

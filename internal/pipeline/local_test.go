package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/failure"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/sink"
)

// memSink keeps what it is given, and acknowledges at once.
type memSink struct {
	mu                     sync.Mutex
	records, findings, dlq []sink.Message
	noRecords              bool
}

// Write keeps a copy of each message: the sink contract lets the caller
// reuse the bytes once they are acknowledged (record arenas are).
func (m *memSink) Write(_ context.Context, t sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	m.mu.Lock()
	for _, msg := range msgs {
		msg.Key, msg.Value = bytes.Clone(msg.Key), bytes.Clone(msg.Value)
		switch t {
		case sink.TopicRecords:
			m.records = append(m.records, msg)
		case sink.TopicFindings:
			m.findings = append(m.findings, msg)
		case sink.TopicDLQ:
			m.dlq = append(m.dlq, msg)
		}
	}
	m.mu.Unlock()
	ack.Ack(len(msgs), nil)
	return nil
}

func (m *memSink) WantsRecords() bool { return !m.noRecords }
func (m *memSink) Close() error       { return nil }

// readDirect reads every record of a file with the CloudTrail reader alone,
// the expectation for what the pipeline writes.
func readDirect(t *testing.T, path string) []string {
	t.Helper()
	r, err := cloudtrail.OpenFile(path, cloudtrail.Options{})
	if err != nil {
		return nil
	}
	defer r.Close()
	var out []string
	for {
		raw, err := r.Next()
		if err != nil {
			return out
		}
		out = append(out, string(raw))
	}
}

// TestRunLocal reads the labelled fixture tree (gzipped and plain logs, an
// organisation trail, JSON lines, a digest, an insight file, damaged files)
// through the one object reader: every readable record reaches the records
// topic byte for byte, with its key and headers; exactly the root events
// become findings; each damaged file is dead-lettered with its reason and
// listed as failed; the digest is skipped.
func TestRunLocal(t *testing.T) {
	tree, err := fixtures.WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// A root event in an Insights file is tagged as such.
	insightRoot := ""
	for _, r := range fixtures.Records {
		if r.Root {
			insightRoot = strings.Replace(r.JSON, fixtures.EventID(r), "insight-root-1", 1)
			break
		}
	}
	insightPath := filepath.Join(tree.Dir, "extra", "111122223333_CloudTrail-Insight_us-east-1_20240502T1030Z_x.json")
	os.MkdirAll(filepath.Dir(insightPath), 0o755)
	if err := os.WriteFile(insightPath, fixtures.LogFile(insightRoot), 0o644); err != nil {
		t.Fatal(err)
	}

	var wantRecords []string
	filepath.WalkDir(tree.Dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && cloudtrail.IsLogFileName(d.Name()) && !cloudtrail.IsDigest(filepath.ToSlash(p)) {
			wantRecords = append(wantRecords, readDirect(t, p)...)
		}
		return nil
	})
	if len(wantRecords) != tree.Records+1 {
		t.Fatalf("fixture expectation: %d records read directly, tree says %d", len(wantRecords), tree.Records+1)
	}

	s := &memSink{}
	sum, err := pipeline.RunLocal(context.Background(), pipeline.LocalRun{Paths: []string{tree.Dir}, Common: pipeline.Common{Sink: s, Workers: 3}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range s.records {
		got = append(got, string(m.Value))
		if !json.Valid(m.Value) {
			t.Errorf("record is not JSON: %.100s", m.Value)
		}
	}
	sort.Strings(got)
	sort.Strings(wantRecords)
	if !slices.Equal(got, wantRecords) {
		t.Errorf("records topic: %d records, want the %d read directly (bytes exactly)", len(got), len(wantRecords))
	}
	for _, m := range s.records {
		h := map[string]string{}
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if k, ok := cloudtrail.ParseKey(filepath.ToSlash(h["key"])); ok && (h["account"] != k.Account || h["region"] != k.Region || string(m.Key) != fixtures.Account) {
			t.Errorf("record of %s: key %q, headers %v", h["key"], m.Key, h)
		}
	}

	var ids []string
	insight := map[string]bool{}
	for _, m := range s.findings {
		var f match.Finding
		if err := json.Unmarshal(m.Value, &f); err != nil {
			t.Fatalf("finding: %v", err)
		}
		ids = append(ids, f.EventID)
		insight[f.EventID] = f.Insight
		if string(m.Key) != f.AccountID || f.Object.Key == "" {
			t.Errorf("finding %s: key %q, object %+v", f.EventID, m.Key, f.Object)
		}
	}
	want := append(slices.Clone(tree.RootEventIDs), "insight-root-1")
	sort.Strings(ids)
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Errorf("findings\n got %v\nwant %v", ids, want)
	}
	if !insight["insight-root-1"] || insight[tree.RootEventIDs[0]] {
		t.Errorf("Insight flags: %v", insight)
	}

	reasons := map[string]string{"corrupt gzip": failure.ReasonCorrupt, "truncated JSON": failure.ReasonTruncated, "not a CloudTrail log file": failure.ReasonNotCloudTrail}
	dlq := map[string]pipeline.DLQEntry{}
	for _, m := range s.dlq {
		var e pipeline.DLQEntry
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(tree.Dir, e.Object.Key)
		dlq[filepath.ToSlash(rel)] = e
	}
	if len(dlq) != len(tree.Bad) || len(sum.Failed) != len(tree.Bad) {
		t.Fatalf("dlq %v, failed %d; want one each for %v", dlq, len(sum.Failed), tree.Bad)
	}
	for rel, why := range tree.Bad {
		e := dlq[rel]
		if e.Source != "file" || e.Reason != reasons[why] || !strings.Contains(e.Error, why) || !strings.Contains(e.Error, rel) {
			t.Errorf("%s: dlq entry %+v, want reason %s", rel, e, reasons[why])
		}
	}
	if e := dlq["bad/truncated.json.gz"]; !e.Partial || e.RecordsProduced != 1 {
		t.Errorf("truncated file: %+v; its first record was produced", e)
	}
	for _, r := range sum.Failed {
		var oe *pipeline.ObjectError
		if !errors.As(r.Err, &oe) || oe.Object != r.Ref.Key {
			t.Errorf("failure %v does not name its file", r.Err)
		}
	}
	if sum.Skipped != int64(len(tree.Skipped)) || sum.Records != int64(len(wantRecords)) || sum.Findings != int64(len(want)) {
		t.Errorf("summary %+v", sum)
	}
}

// TestRunLocalNothingToRead: a folder with nothing but non-log files reads
// nothing (the command turns that into a warning); a path that does not
// exist is an error naming it.
func TestRunLocalNothingToRead(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "README.txt"), []byte("hello"), 0o644)
	sum, err := pipeline.RunLocal(context.Background(), pipeline.LocalRun{Paths: []string{dir}, Common: pipeline.Common{Sink: &memSink{}}})
	if err != nil || sum.Objects != 0 {
		t.Fatalf("%+v, %v", sum, err)
	}
	_, err = pipeline.RunLocal(context.Background(), pipeline.LocalRun{Paths: []string{filepath.Join(dir, "missing")}, Common: pipeline.Common{Sink: &memSink{}}})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing path: %v", err)
	}
}

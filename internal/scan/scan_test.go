package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"rootwatch/internal/testutil"
	"sort"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
)

func TestScanFindsExactlyTheRootActivity(t *testing.T) {
	tree, err := fixtures.WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s, err := Run(context.Background(), Options{
		Paths:   []string{tree.Dir},
		Workers: 3,
		Out:     &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var f match.Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatalf("output line is not a Finding: %v", err)
		}
		if f.Category == "" || f.Severity == "" || len(f.Record) == 0 || f.Object.Key == "" {
			t.Errorf("incomplete finding %s", sc.Bytes())
		}
		got = append(got, f.EventID)
	}
	want := append([]string(nil), tree.RootEventIDs...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("findings\n got %v\nwant %v", got, want)
	}
	if s.Findings != int64(len(want)) || s.Records != int64(tree.Records) {
		t.Errorf("summary %s; want %d records, %d findings", s, tree.Records, len(want))
	}
	if s.Skipped != int64(len(tree.Skipped)) {
		t.Errorf("skipped %d, want %d", s.Skipped, len(tree.Skipped))
	}
	if len(s.Errors) != len(tree.Bad) {
		t.Fatalf("errors %v, want one for each of %v", s.Errors, tree.Bad)
	}
	for _, e := range s.Errors {
		rel, _ := filepath.Rel(tree.Dir, e.Path)
		reason, ok := tree.Bad[filepath.ToSlash(rel)]
		if !ok {
			t.Errorf("unexpected error for %s: %v", rel, e.Err)
			continue
		}
		if !strings.Contains(e.Err.Error(), reason) {
			t.Errorf("%s: error %q does not say %q", rel, e.Err, reason)
		}
	}
	if !strings.Contains(s.String(), "errors") {
		t.Errorf("summary line: %s", s)
	}
}

func TestScanMissingPath(t *testing.T) {
	_, err := Run(context.Background(), Options{Paths: []string{filepath.Join(t.TempDir(), "nope")}})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("want an error naming the path, got %v", err)
	}
}

func TestScanRealFiles(t *testing.T) {
	dir, _ := testutil.RealCloudTrailFiles(t)
	var out bytes.Buffer
	s, err := Run(context.Background(), Options{Paths: []string{dir}, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if s.Files != 55 || s.Records != 2900 || s.Findings != 0 || len(s.Errors) != 0 || out.Len() != 0 {
		t.Fatalf("real files: %s, errors %v", s, s.Errors)
	}
}

func TestScanCancel(t *testing.T) {
	tree, err := fixtures.WriteTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, Options{Paths: []string{tree.Dir}}); err == nil {
		t.Fatal("a cancelled scan must say so")
	}
}

// sts:AssumeRoot calls are findings of their own (rule
// root-session-issued) and the summary counts them apart from root
// activity; the session's actions in the member account are root activity.
func TestScanCountsSessionsApartFromRootActivity(t *testing.T) {
	dir := t.TempDir()
	s := fixtures.DefaultSession()
	failed := s
	failed.IssueID, failed.ErrorCode, failed.ErrorMessage = "issue-failed-1", "AccessDenied", "not authorized"
	logs := map[string][]string{
		fixtures.LogKey("o-exampleorg1", fixtures.ManagementAccount, "CloudTrail", s.Region, "2024/10/25", "20241025T2055Z", "m1", ".json.gz"): {
			fixtures.AssumeRootRecord(s), fixtures.AssumeRootRecord(failed), fixtures.Records[len(fixtures.Records)-1].JSON},
		fixtures.LogKey("o-exampleorg1", fixtures.MemberAccount, "CloudTrail", s.Region, "2024/10/25", "20241025T2055Z", "m2", ".json.gz"): {
			fixtures.SessionAction(s, "act-1", "GetBucketPolicy", s.CallerIP, s.Region, s.Issued.Add(time.Minute)),
			fixtures.SessionAction(s, "act-2", "DeleteBucketPolicy", s.CallerIP, s.Region, s.Issued.Add(2*time.Minute))},
	}
	if err := fixtures.WriteFiles(dir, fixtures.GzipLogs(logs)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Paths: []string{dir}, Out: &out})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Findings != 4 || sum.RootFindings != 2 || sum.SessionFindings != 2 {
		t.Fatalf("summary %s: want 4 findings, 2 root, 2 sessions", sum)
	}
	if !strings.Contains(sum.String(), "4 findings (2 root activity, 2 root sessions issued)") {
		t.Errorf("summary line does not count them apart: %s", sum)
	}
	rules := map[match.Rule]int{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var f match.Finding
		if err := json.Unmarshal(sc.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		if got := ruleOf(sc.Bytes()); got != f.Rule {
			t.Errorf("ruleOf = %s, the finding says %s", got, f.Rule)
		}
		rules[f.Rule]++
	}
	if rules[match.RuleCISRoot] != 2 || rules[match.RuleRootSessionIssued] != 2 {
		t.Errorf("findings by rule: %v", rules)
	}
}

// ruleOf reads the finding's own rule, not one inside its record.
func TestRuleOfIgnoresTheRecord(t *testing.T) {
	b, _ := json.Marshal(match.Finding{EventID: "e", Rule: match.RuleCISRoot,
		Record: json.RawMessage(`{"requestParameters":{"rule":"root-session-issued"}}`)})
	if got := ruleOf(b); got != match.RuleCISRoot {
		t.Fatalf("ruleOf = %s", got)
	}
	if got := ruleOf([]byte(`{"eventID":"old"}`)); got != match.RuleCISRoot {
		t.Fatalf("a finding without rule: %s", got)
	}
}

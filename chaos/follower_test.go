package chaos

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Only root activity is a finding to the judge: an sts:AssumeRoot call
// (rule root-session-issued) on the findings topic is counted apart, so
// the false-positive invariant does not hold it against the truth set,
// while a finding without a rule (older ingest) or with rule cis-root is.
func TestFollowerCountsOnlyRootActivityAsFindings(t *testing.T) {
	f := &follower{next: map[string]map[int32]int64{}}
	f.view = kafkaView{Records: map[string]int64{}, Copies: map[string]int{}, Findings: map[string]int64{}, ByOffset: map[int32][]offEvent{}}
	for i, v := range []string{
		`{"eventID":"root-1","rule":"cis-root"}`,
		`{"eventID":"issue-1","rule":"root-session-issued"}`,
		`{"eventID":"root-2"}`,
	} {
		f.add(&kgo.Record{Topic: topicFinds, Partition: 0, Offset: int64(i), Value: []byte(v)})
	}
	if _, ok := f.view.Findings["issue-1"]; ok || f.view.Context != 1 {
		t.Errorf("AssumeRoot call: in findings %v, context %d; want counted apart", ok, f.view.Context)
	}
	for _, id := range []string{"root-1", "root-2"} {
		if _, ok := f.view.Findings[id]; !ok {
			t.Errorf("root finding %s not counted", id)
		}
	}
	if n := len(f.view.ByOffset[0]); n != 3 {
		t.Errorf("%d findings by offset, want all 3 (alert commits past every one)", n)
	}
}

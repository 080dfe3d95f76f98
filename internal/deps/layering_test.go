package deps

import (
	"os/exec"
	"strings"
	"testing"

	"rootwatch/internal/testutil"
)

// TestLayering checks the import direction the packages are built for: the
// object reader and the sink interface know no Kafka client, so commands
// that only read CloudTrail (audit) do not link one; Kafka stays behind
// internal/kafka.
func TestLayering(t *testing.T) {
	root := testutil.RepoRoot(t)
	deps := func(pkg string) []string {
		t.Helper()
		cmd := exec.Command("go", "list", "-deps", pkg)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	forbidden := map[string][]string{
		"./cmd/audit":           {"github.com/segmentio/kafka-go", "rootwatch/internal/kafka"},
		"./internal/pipeline":   {"github.com/segmentio/kafka-go", "rootwatch/internal/kafka"},
		"./internal/audit":      {"github.com/segmentio/kafka-go", "rootwatch/internal/kafka"},
		"./internal/sink":       {"github.com/segmentio/kafka-go", "github.com/aws/aws-sdk-go-v2/aws"},
		"./internal/failure":    {"github.com/segmentio/kafka-go", "github.com/aws/aws-sdk-go-v2/aws"},
		"./internal/source":     {"github.com/segmentio/kafka-go", "rootwatch/internal/pipeline"},
		"./internal/kafka":      {"rootwatch/internal/pipeline", "rootwatch/internal/source"},
		"./internal/backoff":    {"rootwatch/internal/failure"},
		"./internal/workpool":   {"rootwatch/internal/pipeline"},
		"./internal/progress":   {"rootwatch/internal/pipeline"},
		"./internal/cloudtrail": {"rootwatch/internal/pipeline", "rootwatch/internal/source"},
	}
	for pkg, bad := range forbidden {
		got := deps(pkg)
		if len(got) < 2 {
			t.Fatalf("go list -deps %s listed %v: the check would prove nothing", pkg, got)
		}
		for _, d := range got {
			for _, b := range bad {
				if d == b {
					t.Errorf("%s depends on %s", pkg, b)
				}
			}
		}
	}
	// The check can fail: ingest does link Kafka.
	found := false
	for _, d := range deps("./cmd/ingest") {
		found = found || d == "github.com/segmentio/kafka-go"
	}
	if !found {
		t.Error("go list -deps ./cmd/ingest does not list kafka-go; the layering check is not looking at the right names")
	}
}

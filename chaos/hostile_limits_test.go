package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"rootwatch/internal/failure"
	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/pipeline"
)

// TestIngestLimits runs the ingest command on a folder holding an object
// with one record over --max-record-bytes (between two good records) and a
// bomb over --max-object-bytes, with the limits given as flags, as
// environment variables and in the config file. Both objects must be
// dead-lettered with the reason and an error naming the limit hit, and the
// records around the oversized one must reach Kafka.
func TestIngestLimits(t *testing.T) {
	bin := binaries(t)
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	os.MkdirAll(logs, 0o755)
	bigRec := `{"eventVersion":"1.08","eventID":"too-big","requestParameters":{"x":"` + strings.Repeat("B", 8000) + `"}}`
	os.WriteFile(filepath.Join(logs, "big-record.json.gz"), gz(t, []byte(`{"Records":[`+aroundRecord+`,`+bigRec+`,`+aroundRoot+`]}`)), 0o644)
	os.WriteFile(filepath.Join(logs, "bomb.json.gz"), gzipBomb(t, 4<<20), 0o644)

	const recLimit, objLimit = 4096, 1 << 20
	cases := []struct {
		name       string
		args, env  []string
		configYAML string
	}{
		{name: "flags", args: []string{"--max-record-bytes", fmt.Sprint(recLimit), "--max-object-bytes", fmt.Sprint(objLimit)}},
		{name: "env", env: []string{fmt.Sprintf("ROOTWATCH_INGEST_MAX_RECORD_BYTES=%d", recLimit), fmt.Sprintf("ROOTWATCH_INGEST_MAX_OBJECT_BYTES=%d", objLimit)}},
		{name: "config", configYAML: fmt.Sprintf("max_record_bytes: %d\nmax_object_bytes: %d\n", recLimit, objLimit)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, kcfg := kafkatest.Cluster(t, 1, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
			args := append([]string{"--source", logs, "--sink", "kafka", "--brokers", kcfg.Brokers[0], "--log-level", "warn"}, c.args...)
			if c.configYAML != "" {
				p := filepath.Join(t.TempDir(), "ingest.yaml")
				os.WriteFile(p, []byte(c.configYAML), 0o644)
				args = append(args, "--config", p)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, "ingest"), args...)
			cmd.Env = append(os.Environ(), c.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 1 {
				t.Fatalf("ingest exit %d (%v), want 1 (files could not be read)\n%s", code, err, out.String())
			}
			got := map[string]pipeline.DLQEntry{}
			for _, r := range kafkatest.ReadAll(t, kcfg, kafka.TopicDLQ, 2, 30*time.Second) {
				var e pipeline.DLQEntry
				if err := json.Unmarshal(r.Value, &e); err != nil || e.Object == nil {
					t.Fatalf("dlq entry %s: %v", r.Value, err)
				}
				got[filepath.Base(e.Object.Key)] = e
			}
			checks := []struct{ file, reason, names string }{
				{"big-record.json.gz", failure.ReasonRecordTooLarge, fmt.Sprintf("larger than %d bytes", recLimit)},
				{"bomb.json.gz", failure.ReasonObjectTooLarge, fmt.Sprintf("more than %d bytes after decompression", objLimit)},
			}
			for _, ch := range checks {
				e, ok := got[ch.file]
				switch {
				case !ok:
					t.Errorf("%s not dead-lettered\n%s", ch.file, out.String())
				case e.Reason != ch.reason:
					t.Errorf("%s: reason %q, want %q (%s)", ch.file, e.Reason, ch.reason, e.Error)
				case !strings.Contains(e.Error, ch.names):
					t.Errorf("%s: error %q does not name the limit (%q)", ch.file, e.Error, ch.names)
				}
			}
			ids := map[string]bool{}
			for _, r := range kafkatest.ReadAll(t, kcfg, kafka.TopicRecords, 2, 30*time.Second) {
				ids[gjson.GetBytes(r.Value, "eventID").Str] = true
			}
			if !ids["11111111-aaaa-4bbb-8ccc-000000000001"] || !ids["22222222-aaaa-4bbb-8ccc-000000000002"] || ids["too-big"] {
				t.Errorf("records around the oversized one: got %v, want both neighbours and not the oversized one", ids)
			}
		})
	}
}

package chaos

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestFleetBackfill is the fleet case of the chaos suite (docs/chaos.md):
// a backfill of a few thousand generated objects planned into Kafka, read
// by three ingest worker processes in one consumer group with the broker in
// its own process; one worker is SIGKILLed right after S3 answered it a
// GET, a third of the way in. Every record and root finding must reach
// Kafka, records may be duplicated only in the items the killed worker had
// in flight (counted), every commit must come after everything below it
// was in Kafka, the planted unreadable objects must be dead-lettered with
// their item, the planner run again must add nothing, the survivors must
// finish and leave by themselves, and ingest --status must say complete.
func TestFleetBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet chaos run skipped in -short mode")
	}
	bin := buildBinaries(t)
	dir := t.TempDir()
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := RunFleet(ctx, FleetOptions{Seed: 11, Bin: bin, Dir: dir, Files: 3000, RecordsPerFile: 4, RootShare: 0.02,
		Workers: 3, Partitions: 12, ItemObjects: 25, Timeout: 3 * time.Minute, Log: &progress})
	t.Log("\n" + progress.String())
	if err != nil {
		dumpFleetLogs(t, dir)
		t.Fatalf("fleet run: %v", err)
	}
	t.Log(res.Line())
	t.Log("\n" + res.Details())
	if f := res.Failures(); len(f) > 0 {
		dumpFleetLogs(t, dir)
		t.Errorf("chaos fleet: failed=%s", strings.Join(f, ","))
	}
	if res.Objects < 2000 || res.Items < 3*12 {
		t.Errorf("the run was too small to prove anything: %d objects in %d items", res.Objects, res.Items)
	}
}

func dumpFleetLogs(t *testing.T, dir string) {
	t.Helper()
	dumpLogsNamed(t, dir, "planner.log", "worker-1.log", "worker-2.log", "worker-3.log", "broker.log")
}

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/source/sqstest"
)

// buildBinaries builds ingest, alert and the chaos broker into a temporary
// folder (without -race: they are the system under test, run as a user
// would run them).
func buildBinaries(t *testing.T) string { return binaries(t) }

// buildInto builds the commands into bin; "" or the error text.
func buildInto(bin string) string {
	root, err := sqstest.RepoRoot()
	if err != nil {
		return err.Error()
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin+string(filepath.Separator), "./cmd/ingest", "./cmd/alert", "./cmd/audit", "./chaos/broker")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("go build: %v\n%s", err, out.String())
	}
	return ""
}

// startFauxqs starts fauxqs for one test, or skips when it is not
// installed and ROOTWATCH_SKIP_FAUXQS=1 (make test installs it).
func startFauxqs(t *testing.T) *sqstest.Server {
	t.Helper()
	fq, err := sqstest.Start()
	if err != nil {
		if errors.Is(err, sqstest.ErrNotInstalled) && os.Getenv(sqstest.SkipEnv) == "1" {
			t.Skipf("%v (%s=1)", err, sqstest.SkipEnv)
		}
		t.Fatal(err)
	}
	t.Cleanup(fq.Stop)
	return fq
}

// TestChaosShort is the short ledger-based chaos run of `make test`: the
// real ingest, alert and broker processes, every kind of fault at seeded
// random times for 60 seconds, and then the ledger must show every root
// event delivered to both channels (or dead-lettered with a reason). Every
// wait inside is bounded; a loss fails the test, with the run's logs.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos run skipped in -short mode")
	}
	fq := startFauxqs(t)
	bin := buildBinaries(t)
	dir := t.TempDir()
	var progress bytes.Buffer
	o := Options{
		Seed: 7, Bin: bin, Dir: dir, SQSEndpoint: fq.Endpoint,
		Files: 40, RecordsPerFile: 80, RootShare: 0.03,
		Faults: 60 * time.Second, Drain: 2 * time.Minute,
		KillIngest: 3, KillAlert: 3, PauseBroker: 2, CutBroker: 2, S3Faults: 3, ChannelFaults: 4,
		DuplicateShare: 0.25, Log: &progress,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	t.Log("\n" + progress.String())
	if err != nil {
		dumpLogs(t, dir)
		t.Fatalf("chaos run: %v", err)
	}
	t.Log(res.Line(1))
	t.Logf("faults by kind %v, crashes %v, deliveries %d of %d requests, p50 %s, max %s",
		res.FaultsByKind, res.Crashes, res.Deliveries, res.Attempts, res.P50, res.Max)
	want := o.KillIngest + o.KillAlert + o.PauseBroker + o.CutBroker + o.S3Faults + o.ChannelFaults
	if res.Faults != want {
		t.Errorf("injected %d faults, want %d", res.Faults, want)
	}
	if res.RootEvents == 0 {
		t.Fatal("the input has no root events: the run proves nothing")
	}
	if res.Lost != 0 {
		dumpLogs(t, dir)
		t.Errorf("%d (channel, root event) pairs lost: %s", res.Lost, strings.Join(res.LostIDs[:min(len(res.LostIDs), 30)], " "))
	}
	if res.DeadLettered != 0 {
		// Nothing in this input is unreadable and retries outlast every
		// fault, so a dead letter means a transient fault was taken as permanent.
		t.Errorf("%d pairs dead-lettered (%v): a transient fault was treated as permanent", res.DeadLettered, res.DLQReasons)
	}
	if res.Crashes["ingest"]+res.Crashes["alert"] > 0 {
		// Failing fast at start while the broker is unreachable is allowed
		// (a supervisor restarts it, as the driver does); losing data is not.
		t.Logf("processes exited by themselves and were restarted: %v", res.Crashes)
	}
}

func dumpLogs(t *testing.T, dir string) {
	t.Helper()
	for _, name := range []string{"ingest.log", "alert.log", "broker.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		t.Logf("--- %s (tail) ---\n%s", name, b)
	}
	fmt.Fprintln(os.Stderr)
}

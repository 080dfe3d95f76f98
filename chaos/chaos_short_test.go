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

// buildInto builds the commands into bin; "" or the error text. With
// ROOTWATCH_CHAOS_TAGS set (make mutants: "mutants") they are built with
// those build tags.
func buildInto(bin string) string {
	root, err := sqstest.RepoRoot()
	if err != nil {
		return err.Error()
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"build"}
	if tags := os.Getenv("ROOTWATCH_CHAOS_TAGS"); tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "-o", bin+string(filepath.Separator), "./cmd/ingest", "./cmd/alert", "./cmd/audit", "./chaos/broker")
	cmd := exec.CommandContext(ctx, goBin, args...)
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

// TestChaosShort is the short chaos run of `make test`: the real ingest,
// alert and broker processes, every kind of fault at seeded times for 60
// seconds (each armed on the pipeline activity it needs, so each bites),
// and then the judge: every stage invariant holds, every root event reached
// both channels, and every kind of fault hit something. Every wait inside
// is bounded; a failure fails the test with the run's logs.
//
// With -tags mutants and ROOTWATCH_MUTANT set (make mutants), the binaries
// run carry that deliberate bug, and this test must fail.
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
		Files: 48, RecordsPerFile: 80, RootShare: 0.03,
		Faults: 60 * time.Second, Drain: 2 * time.Minute,
		KillIngest: 3, KillAlert: 3, PauseBroker: 2, CutBroker: 2, S3Faults: 3, ChannelFaults: 4,
		DuplicateShare: 0.25, Log: &progress,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := Run(ctx, o)
	t.Log("\n" + progress.String())
	if err != nil {
		dumpLogs(t, dir)
		t.Fatalf("chaos run: %v", err)
	}
	t.Log(res.Line(1))
	t.Log("\n" + res.Details())
	if f := res.Failures(); len(f) > 0 {
		dumpLogs(t, dir)
		// make mutants reads this line to name what caught a mutant.
		t.Errorf("chaos: failed=%s", strings.Join(f, ","))
	}
	if res.Crashes["ingest"]+res.Crashes["alert"] > 0 {
		// Failing fast at start while the broker is unreachable is allowed
		// (a supervisor restarts it, as the driver does); losing data is not.
		t.Logf("processes exited by themselves and were restarted: %v", res.Crashes)
	}
}

func dumpLogs(t *testing.T, dir string) {
	t.Helper()
	dumpLogsNamed(t, dir, "ingest.log", "alert.log", "broker.log")
}

// dumpLogsNamed logs the tail of each named process log in dir.
func dumpLogsNamed(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, name := range names {
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

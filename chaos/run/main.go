// Command run is the chaos driver: it builds nothing itself (give it the
// binaries with --bin), starts fauxqs, and runs chaos.Run --runs times with
// consecutive seeds, printing one summary line:
//
//	chaos: runs=3 faults=... bit={kill-alert=8/8,...} root_events=... lost=0 dead_lettered=0 violations=0 duplicated={...} p99_time_to_alert=...
//
// It exits 1 when any run failed: an invariant broken, a root event lost,
// or a kind of fault that never bit. Then (unless --fleet=false) it runs
// the fleet case: a backfill planned into Kafka and read by --fleet-workers
// ingest worker processes, one of them SIGKILLed in the middle, and prints
//
//	chaos fleet: workers=3 killed=worker-2 items=... in_flight_at_kill=... lost=0 ... violations=0
//
// See docs/chaos.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"rootwatch/chaos"
	"rootwatch/internal/source/sqstest"
)

func main() {
	var o chaos.Options
	runs := flag.Int("runs", 1, "runs, with seeds seed, seed+1, ...")
	flag.Uint64Var(&o.Seed, "seed", 1, "seed of the first run (input and fault times)")
	flag.StringVar(&o.Bin, "bin", "bin", "folder holding the ingest, alert and broker executables")
	dir := flag.String("dir", "", "folder for ledgers and process logs (default: a temporary one)")
	flag.IntVar(&o.Files, "files", 120, "generated CloudTrail files")
	flag.IntVar(&o.RecordsPerFile, "records-per-file", 100, "records per file")
	flag.Float64Var(&o.RootShare, "root-share", 0.03, "share of root activity records")
	flag.DurationVar(&o.Faults, "duration", 8*time.Minute, "fault phase of each run")
	flag.DurationVar(&o.Drain, "drain", 3*time.Minute, "longest wait after the faults for everything to arrive")
	flag.IntVar(&o.KillIngest, "kill-ingest", 8, "SIGKILLs of ingest per run")
	flag.IntVar(&o.KillAlert, "kill-alert", 8, "SIGKILLs of alert per run")
	flag.IntVar(&o.PauseBroker, "pause-broker", 5, "SIGSTOP/SIGCONT pauses of the broker per run")
	flag.IntVar(&o.CutBroker, "cut-broker", 5, "times the broker is made unreachable per run")
	flag.IntVar(&o.S3Faults, "s3-faults", 8, "S3 500/hang periods per run (at least 2)")
	flag.IntVar(&o.ChannelFaults, "channel-faults", 12, "channel 500/429/hang periods per run (at least 2)")
	flag.DurationVar(&o.TriggerWait, "trigger-wait", 30*time.Second, "longest a fault waits for the pipeline activity it is armed on")
	flag.Float64Var(&o.DuplicateShare, "duplicates", 0.2, "share of notifications sent twice")
	fleet := flag.Bool("fleet", true, "also run the fleet case (a backfill shared by worker processes, one killed)")
	var fo chaos.FleetOptions
	flag.IntVar(&fo.Files, "fleet-files", 3000, "fleet case: generated CloudTrail files")
	flag.IntVar(&fo.Workers, "fleet-workers", 3, "fleet case: worker processes (at least 3)")
	flag.Parse()
	o.Log = os.Stderr
	if abs, err := filepath.Abs(o.Bin); err == nil {
		o.Bin = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if *dir == "" {
		d, err := os.MkdirTemp("", "chaos-")
		if err != nil {
			fail(err)
		}
		*dir = d
	}
	fq, err := sqstest.Start()
	if err != nil {
		fail(err)
	}
	defer fq.Stop()
	o.SQSEndpoint = fq.Endpoint

	var total chaos.Result
	seed := o.Seed
	failed := false
	for i := range *runs {
		o.Seed = seed + uint64(i)
		o.Dir = filepath.Join(*dir, fmt.Sprintf("run-%d", o.Seed))
		r, err := chaos.Run(ctx, o)
		if err != nil {
			fail(fmt.Errorf("run seed %d: %w (logs in %s)", o.Seed, err, o.Dir))
		}
		fmt.Fprintf(os.Stderr, "run seed %d (%s): %s\n%s", o.Seed, r.Elapsed.Round(time.Second), r.Line(1), r.Details())
		failed = failed || !r.OK()
		if i == 0 {
			total = r
		} else {
			total.Add(r)
		}
		if ctx.Err() != nil {
			break
		}
	}
	var fleetLine string
	if *fleet && ctx.Err() == nil {
		fo.Seed, fo.Bin, fo.Dir, fo.Log = seed, o.Bin, filepath.Join(*dir, "fleet"), os.Stderr
		fo.RecordsPerFile, fo.RootShare, fo.Partitions, fo.ItemObjects = 4, 0.02, 4*fo.Workers, 25
		r, err := chaos.RunFleet(ctx, fo)
		if err != nil {
			fail(fmt.Errorf("fleet case: %w (logs in %s)", err, fo.Dir))
		}
		fmt.Fprintf(os.Stderr, "fleet case (%s): %s\n%s", r.Elapsed.Round(time.Second), r.Line(), r.Details())
		fleetLine = r.Line()
		failed = failed || !r.OK()
	}
	fmt.Fprintf(os.Stderr, "logs and ledgers in %s\n", *dir)
	fmt.Println(total.Line(*runs))
	if fleetLine != "" {
		fmt.Println(fleetLine)
	}
	if failed {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chaos:", err)
	os.Exit(2)
}

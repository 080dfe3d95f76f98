//go:build mutants

// Command mutants proves the chaos suite goes red when a guarantee breaks.
// For each deliberate bug in internal/mutant's Catalog it runs the short
// chaos run (TestChaosShort) with the commands built with -tags mutants
// and ROOTWATCH_MUTANT naming the bug, then the package tests the bug
// concerns, and prints a table: which invariant caught it, whether the
// package tests did. A run with no mutant comes first and must pass, or
// "caught" would mean nothing. It exits 1 unless the baseline passed and
// the chaos run caught every mutant.
//
//	go run -tags mutants ./chaos/mutants [--only a,b] [--pkg-tests=false] [--dir logs]
//
// The source tree is not changed: the mutant binaries are built into a
// temporary folder by the test. See docs/chaos.md, "Mutants".
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"rootwatch/internal/mutant"
)

func main() {
	only := flag.String("only", "", "comma-separated mutants to run (default: all)")
	pkgTests := flag.Bool("pkg-tests", true, "also run each mutant's package tests")
	baseline := flag.Bool("baseline", true, "first run the chaos test with no mutant (it must pass)")
	dir := flag.String("dir", "", "folder for the logs of every run (default: a temporary one)")
	timeout := flag.Duration("timeout", 15*time.Minute, "bound on each go test")
	flag.Parse()
	if *dir == "" {
		d, err := os.MkdirTemp("", "mutants-")
		if err != nil {
			fail(err)
		}
		*dir = d
	}
	var ms []mutant.Mutant
	for _, m := range mutant.Catalog {
		if *only == "" || slices.Contains(strings.Split(*only, ","), m.Name) {
			ms = append(ms, m)
		}
	}
	if len(ms) == 0 {
		fail(fmt.Errorf("no mutant matches --only %q", *only))
	}
	start := time.Now()
	ok := true
	if *baseline {
		pass, failed, d := chaos(*dir, "", *timeout)
		fmt.Fprintf(os.Stderr, "baseline (no mutant): chaos run %s in %s %s\n", verdict(!pass, "red", "green"), d.Round(time.Second), failed)
		if !pass {
			ok = false
			fmt.Fprintln(os.Stderr, "the chaos run fails without a mutant: nothing below means anything")
		}
	}
	rows := []string{
		"| mutant | what it breaks | caught by the short chaos run (invariants) | caught by package tests | verdict |",
		"|---|---|---|---|---|",
	}
	for _, m := range ms {
		pass, failed, d := chaos(*dir, m.Name, *timeout)
		caught := verdict(!pass, "yes: "+failed, "**no**")
		pkg := "not run"
		if *pkgTests {
			pkgPass, pd := packages(*dir, m, *timeout)
			pkg = verdict(!pkgPass, "yes", "no") + " (" + strings.Join(m.Tests, " ") + ", " + pd.Round(time.Second).String() + ")"
		}
		if pass {
			ok = false
		}
		row := fmt.Sprintf("| `%s` | %s | %s (%s) | %s | %s |", m.Name, m.Breaks, caught, d.Round(time.Second), pkg, verdict(!pass, "caught", "**MISSED**"))
		fmt.Fprintln(os.Stderr, row)
		rows = append(rows, row)
	}
	fmt.Println(strings.Join(rows, "\n"))
	fmt.Fprintf(os.Stderr, "%d mutants in %s; logs in %s\n", len(ms), time.Since(start).Round(time.Second), *dir)
	if !ok {
		os.Exit(1)
	}
}

var failedLine = regexp.MustCompile(`chaos: failed=(\S+)`)

// chaos runs TestChaosShort with the mutant active; pass is the test's
// verdict, failed what the judge named.
func chaos(dir, name string, timeout time.Duration) (pass bool, failed string, d time.Duration) {
	log := filepath.Join(dir, "chaos-"+orNone(name)+".log")
	err, d := goTest(log, name, timeout, "-run", "^TestChaosShort$", "-v", "./chaos/")
	if b, rerr := os.ReadFile(log); rerr == nil {
		if m := failedLine.FindSubmatch(b); m != nil {
			failed = string(m[1])
		}
	}
	if err != nil && failed == "" {
		failed = "test failed: " + lastLines(log)
	}
	return err == nil, failed, d
}

func packages(dir string, m mutant.Mutant, timeout time.Duration) (pass bool, d time.Duration) {
	err, d := goTest(filepath.Join(dir, "pkg-"+m.Name+".log"), m.Name, timeout, m.Tests...)
	return err == nil, d
}

// goTest runs go test -tags mutants -count=1 args with the mutant named in
// the environment, and its output into log.
func goTest(log, name string, timeout time.Duration, args ...string) (error, time.Duration) {
	f, err := os.Create(log)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-tags", "mutants", "-count=1", "-timeout", timeout.String()}, args...)...)
	cmd.Env = append(os.Environ(), mutant.Env+"="+name, "ROOTWATCH_CHAOS_TAGS=mutants")
	cmd.Stdout, cmd.Stderr = f, f
	start := time.Now()
	fmt.Fprintf(os.Stderr, "%s go test %s (mutant %s) ...\n", time.Now().Format("15:04:05"), strings.Join(args, " "), orNone(name))
	err = cmd.Run()
	return err, time.Since(start)
}

func lastLines(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var last []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		last = append(last, sc.Text())
		if len(last) > 3 {
			last = last[1:]
		}
	}
	return strings.Join(last, " / ")
}

func orNone(name string) string {
	if name == "" {
		return "none"
	}
	return name
}

func verdict(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mutants:", err)
	os.Exit(2)
}

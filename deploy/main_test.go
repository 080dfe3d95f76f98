// Package deploy holds no Go code of its own: its tests check the
// deployment kit (docker-compose.yml, the Dockerfile, deploy/ configs, IAM
// policies, the Grafana dashboard, examples/ and docs/configuration.md)
// against the real binaries and the code, so none of it drifts.
package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bin holds ingest, alert and audit, built once by TestMain.
var bin string

// root is the repository root.
var root = func() string { r, _ := filepath.Abs(".."); return r }()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rootwatch-deploy-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/ingest", "./cmd/alert", "./cmd/audit")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the commands: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	bin = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCmd runs one of the built commands with a clean environment plus env,
// and returns its exit code, stdout and stderr.
func runCmd(t *testing.T, name string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(bin, name), args...)
	cmd.Dir = root
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return code, out.String(), errb.String()
}

// flagInfo is one flag as the command's --help prints it.
type flagInfo struct {
	Name, Type, Default, Usage string
	// Key is the config-file key ("" when the flag has none).
	Key string
}

// command describes one rootwatch command for the checks.
type command struct {
	Name      string
	EnvPrefix string
	// key maps a flag to its config-file key, given the "(config: ...)" hint
	// in its usage ("" when absent).
	key func(name, hint string) string
}

var commands = []command{
	{Name: "ingest", EnvPrefix: "ROOTWATCH_INGEST_", key: func(name, hint string) string {
		switch {
		case hint != "":
			return hint
		case name == "config":
			return ""
		}
		return strings.ReplaceAll(name, "-", "_")
	}},
	{Name: "alert", EnvPrefix: "ROOTWATCH_ALERT_", key: func(name, hint string) string { return hint }},
	{Name: "audit", EnvPrefix: "ROOTWATCH_AUDIT_", key: func(name, hint string) string {
		if name == "config" {
			return ""
		}
		return strings.ReplaceAll(name, "-", "_")
	}},
}

var (
	flagLine  = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_-]*)(?:\s+(\S+))?$`)
	shortLine = regexp.MustCompile(`^  -([A-Za-z0-9])\t(.*)$`)
	defaultRe = regexp.MustCompile(`\s*\(default (.*)\)$`)
	hintRe    = regexp.MustCompile(`\(config: ([a-z0-9_.]+)`)
)

// flagsOf runs `name --help` and parses the flag list flag.PrintDefaults wrote.
func flagsOf(t *testing.T, c command) []flagInfo {
	t.Helper()
	code, out, errOut := runCmd(t, c.Name, nil, "--help")
	if code != 0 {
		t.Fatalf("%s --help: exit %d\n%s", c.Name, code, errOut)
	}
	text := out + errOut
	var fs []flagInfo
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		var f flagInfo
		if m := flagLine.FindStringSubmatch(lines[i]); m != nil {
			f = flagInfo{Name: m[1], Type: m[2]}
			var usage []string
			for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "    \t") {
				i++
				usage = append(usage, strings.TrimPrefix(lines[i], "    \t"))
			}
			f.Usage = strings.Join(usage, " ")
		} else if m := shortLine.FindStringSubmatch(lines[i]); m != nil {
			f = flagInfo{Name: m[1], Usage: m[2]}
		} else {
			continue
		}
		if f.Type == "" {
			f.Type = "bool"
		}
		if m := defaultRe.FindStringSubmatch(f.Usage); m != nil {
			f.Default = m[1]
			f.Usage = strings.TrimSpace(f.Usage[:len(f.Usage)-len(m[0])])
		}
		hint := ""
		if m := hintRe.FindStringSubmatch(f.Usage); m != nil {
			hint = m[1]
		}
		f.Key = c.key(f.Name, hint)
		fs = append(fs, f)
	}
	if len(fs) < 3 {
		t.Fatalf("%s --help: parsed only %d flags from:\n%s", c.Name, len(fs), text)
	}
	return fs
}

func commandNamed(name string) command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	panic("no command " + name)
}

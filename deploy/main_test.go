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
}

var commands = []command{
	{Name: "ingest", EnvPrefix: "ROOTWATCH_INGEST_"},
	{Name: "alert", EnvPrefix: "ROOTWATCH_ALERT_"},
	{Name: "audit", EnvPrefix: "ROOTWATCH_AUDIT_"},
}

var (
	flagLine = regexp.MustCompile(`^  --?([A-Za-z0-9][A-Za-z0-9_-]*)(?: (\S+))?$`)
	notesRe  = regexp.MustCompile(`\s*\(([^()]*)\)$`)
)

// flagsOf runs `name --help` and parses the flag list internal/cli writes:
// a line "  --name type" (no type for a switch, "a|b|c" for a choice), then
// a line indented by eight spaces with the help and its notes in a final
// parenthesis, "(default X; config key K)": the default, the config key
// when it is not the flag name with '_' for '-', or "not in the config file".
func flagsOf(t *testing.T, c command) []flagInfo {
	t.Helper()
	code, out, errOut := runCmd(t, c.Name, nil, "--help")
	if code != 0 || errOut != "" {
		t.Fatalf("%s --help: exit %d (want 0, help on stdout)\n%s", c.Name, code, errOut)
	}
	var fs []flagInfo
	lines := strings.Split(out, "\n")
	for i := 0; i < len(lines); i++ {
		m := flagLine.FindStringSubmatch(lines[i])
		if m == nil || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "        ") {
			continue
		}
		i++
		f := flagInfo{Name: m[1], Type: m[2], Usage: strings.TrimSpace(lines[i])}
		if f.Type == "" {
			f.Type = "bool"
		}
		f.Key = strings.ReplaceAll(f.Name, "-", "_")
		if f.Name == "config" {
			f.Key = ""
		}
		if n := notesRe.FindStringSubmatch(f.Usage); n != nil && isNotes(n[1]) {
			f.Usage = f.Usage[:len(f.Usage)-len(n[0])]
			for _, note := range strings.Split(n[1], "; ") {
				switch {
				case strings.HasPrefix(note, "default "):
					f.Default = strings.TrimPrefix(note, "default ")
				case strings.HasPrefix(note, "config key "):
					f.Key = strings.TrimPrefix(note, "config key ")
				case note == "not in the config file":
					f.Key = ""
				}
			}
		}
		fs = append(fs, f)
	}
	if len(fs) < 3 {
		t.Fatalf("%s --help: parsed only %d flags from:\n%s", c.Name, len(fs), out)
	}
	return fs
}

// isNotes reports whether a trailing parenthesis holds the help's notes
// rather than part of the flag's own description.
func isNotes(s string) bool {
	for _, note := range strings.Split(s, "; ") {
		if !strings.HasPrefix(note, "default ") && !strings.HasPrefix(note, "config key ") && note != "not in the config file" {
			return false
		}
	}
	return true
}

func commandNamed(name string) command {
	for _, c := range commands {
		if c.Name == name {
			return c
		}
	}
	panic("no command " + name)
}

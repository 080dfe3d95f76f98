package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"rootwatch/internal/config"
	"rootwatch/internal/testutil"
)

// testSettings has a setting of every kind, nested like the real ones.
type testSettings struct {
	Name    string        `yaml:"name"`
	Workers int           `yaml:"workers"`
	Bytes   int64         `yaml:"bytes"`
	Rate    float64       `yaml:"rate"`
	On      bool          `yaml:"on"`
	Wait    time.Duration `yaml:"wait"`
	Sink    string        `yaml:"sink"`
	Kafka   struct {
		Brokers []string `yaml:"brokers"`
		Group   string   `yaml:"group"`
		// Extra has no flag: the file alone sets it.
		Extra string `yaml:"extra"`
	} `yaml:"kafka"`
	LogLevel  string `yaml:"log_level"`
	LogFormat string `yaml:"log_format"`
}

func newTest(s *testSettings, only *bool) *Command {
	c := &Command{Name: "tool", Usage: "Usage: tool [flags]", Env: true, File: s}
	c.String(&s.Name, "name", "def-name", "a name")
	c.Int(&s.Workers, "workers", 4, "workers")
	c.Int64(&s.Bytes, "bytes", 1<<20, "bytes")
	c.Float(&s.Rate, "rate", 0.5, "rate")
	c.Bool(&s.On, "on", "a switch")
	c.Duration(&s.Wait, "wait", 20*time.Second, "wait")
	c.Enum(&s.Sink, "sink", "kafka", []string{"kafka", "stdout"}, "sink")
	c.List(&s.Kafka.Brokers, "brokers", []string{"d:1"}, "brokers")
	c.String(&s.Kafka.Group, "group", "g", "group")
	c.Logging(&s.LogLevel, &s.LogFormat, "info")
	c.Bool(only, "check", "a flag with no config key")
	return c
}

// flag > environment > config file > default, for every kind of setting,
// each layer checked against the one below it.
func TestPrecedence(t *testing.T) {
	file := testutil.WriteFile(t, "c.yaml", `name: file-name
workers: 7
bytes: 300
rate: 1.5
on: true
wait: 1m
sink: stdout
kafka:
  brokers: [f:1, f:2]
  group: file-group
  extra: from-file
log_level: debug
log_format: text
`)
	type want struct {
		name             string
		workers          int
		bytes            int64
		rate             float64
		on               bool
		wait             time.Duration
		sink, group, lvl string
		brokers          []string
	}
	cases := []struct {
		label string
		args  []string
		env   map[string]string
		want  want
	}{
		{"defaults", nil, nil, want{"def-name", 4, 1 << 20, 0.5, false, 20 * time.Second, "kafka", "g", "info", []string{"d:1"}}},
		{"file over default", []string{"--config", file}, nil, want{"file-name", 7, 300, 1.5, true, time.Minute, "stdout", "file-group", "debug", []string{"f:1", "f:2"}}},
		{"file named by the environment", nil, map[string]string{"ROOTWATCH_TOOL_CONFIG": file}, want{"file-name", 7, 300, 1.5, true, time.Minute, "stdout", "file-group", "debug", []string{"f:1", "f:2"}}},
		{"environment over file", []string{"--config", file}, map[string]string{
			"ROOTWATCH_TOOL_NAME": "env-name", "ROOTWATCH_TOOL_WORKERS": "9", "ROOTWATCH_TOOL_BYTES": "0x10", "ROOTWATCH_TOOL_RATE": "2.5",
			"ROOTWATCH_TOOL_ON": "false", "ROOTWATCH_TOOL_WAIT": "3s", "ROOTWATCH_TOOL_SINK": "KAFKA", "ROOTWATCH_TOOL_BROKERS": "e:1, e:2,",
			"ROOTWATCH_TOOL_GROUP": "env-group", "ROOTWATCH_TOOL_LOG_LEVEL": "warn",
		}, want{"env-name", 9, 16, 2.5, false, 3 * time.Second, "kafka", "env-group", "warn", []string{"e:1", "e:2"}}},
		{"flag over environment", []string{"--config", file, "--name", "flag-name", "--workers=11", "-bytes", "12", "--rate", "3", "--on",
			"--wait", "4s", "--sink", "stdout", "--brokers", "c:1", "--group", "flag-group", "--log-level", "error"},
			map[string]string{"ROOTWATCH_TOOL_NAME": "env-name", "ROOTWATCH_TOOL_WORKERS": "9", "ROOTWATCH_TOOL_ON": "false", "ROOTWATCH_TOOL_SINK": "kafka",
				"ROOTWATCH_TOOL_BROKERS": "e:1", "ROOTWATCH_TOOL_LOG_LEVEL": "warn"},
			want{"flag-name", 11, 12, 3, true, 4 * time.Second, "stdout", "flag-group", "error", []string{"c:1"}}},
		{"empty environment value overrides the file", []string{"--config", file}, map[string]string{"ROOTWATCH_TOOL_NAME": ""},
			want{"", 7, 300, 1.5, true, time.Minute, "stdout", "file-group", "debug", []string{"f:1", "f:2"}}},
	}
	for _, tc := range cases {
		t.Run(tc.label, func(t *testing.T) {
			var s testSettings
			var only bool
			if err := newTest(&s, &only).Merge(tc.args, testutil.Env(tc.env)); err != nil {
				t.Fatal(err)
			}
			got := want{s.Name, s.Workers, s.Bytes, s.Rate, s.On, s.Wait, s.Sink, s.Kafka.Group, s.LogLevel, s.Kafka.Brokers}
			if !slices.Equal(got.brokers, tc.want.brokers) {
				t.Errorf("brokers %v, want %v", got.brokers, tc.want.brokers)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if tc.args != nil && s.Kafka.Extra != "from-file" {
				t.Errorf("a file-only key was not loaded: %q", s.Kafka.Extra)
			}
		})
	}
}

func TestKeysAndSources(t *testing.T) {
	var s testSettings
	var only bool
	c := newTest(&s, &only)
	for name, key := range map[string]string{"workers": "workers", "brokers": "kafka.brokers", "group": "kafka.group", "log-level": "log_level", "log-format": "log_format", "check": "", "config": ""} {
		if got := c.Lookup(name).Key; got != key {
			t.Errorf("%s: key %q, want %q", name, got, key)
		}
	}
	file := testutil.WriteFile(t, "c.yaml", "kafka:\n  group: x\n")
	if err := c.Merge([]string{"--name", "n"}, testutil.Env(map[string]string{"ROOTWATCH_TOOL_CONFIG": file, "ROOTWATCH_TOOL_WORKERS": "2"})); err != nil {
		t.Fatal(err)
	}
	for name, set := range map[string]bool{"name": true, "workers": true, "group": true, "wait": false, "brokers": false} {
		if c.IsSet(name) != set {
			t.Errorf("IsSet(%s) = %v", name, !set)
		}
	}
}

// Each bad value is named where it came from, in the user's terms, and
// all of them at once.
func TestErrorsNameTheirSource(t *testing.T) {
	file := testutil.WriteFile(t, "c.yaml", "workers: 3\nsink: kafak\nlog_level: loud\n")
	cases := []struct {
		label string
		args  []string
		env   map[string]string
		want  []string
	}{
		{"flag values", []string{"--workers", "many", "--wait", "soon", "--rate", "fast", "--on=perhaps", "--sink", "nowhere"}, nil, []string{
			`--workers: want a whole number, got "many"`,
			`--wait: want a duration such as 30s, 5m or 1h30m, got "soon"`,
			`--rate: want a number such as 2 or 0.5, got "fast"`,
			`--on: want true or false, got "perhaps"`,
			`--sink: want kafka or stdout, got "nowhere"`,
		}},
		{"environment values", nil, map[string]string{"ROOTWATCH_TOOL_WORKERS": "nine", "ROOTWATCH_TOOL_LOG_FORMAT": "xml"}, []string{
			`ROOTWATCH_TOOL_WORKERS: want a whole number, got "nine"`,
			`ROOTWATCH_TOOL_LOG_FORMAT: want auto, json or text, got "xml"`,
		}},
		{"file values", []string{"--config", file}, nil, []string{
			"config " + file + `: line 2: sink: want kafka or stdout, got "kafak"`,
			"config " + file + `: line 3: log_level: want debug, info, warn or error, got "loud"`,
		}},
		{"unknown flag", []string{"--workerz", "3"}, nil, []string{"unknown flag --workerz (did you mean --workers?)"}},
		{"flag without value", []string{"--name"}, nil, []string{"--name needs a value"}},
		{"stray argument", []string{"logs/"}, nil, []string{`unexpected argument "logs/"`}},
		{"missing file", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil, []string{"read config", "none.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.label, func(t *testing.T) {
			var s testSettings
			var only bool
			err := newTest(&s, &only).Merge(tc.args, testutil.Env(tc.env))
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("want a *UsageError, got %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%s", w, err)
				}
			}
			if strings.Contains(err.Error(), "!!") || strings.Contains(err.Error(), "parse error") || strings.Contains(err.Error(), "strconv") {
				t.Errorf("error speaks Go: %s", err)
			}
		})
	}
}

func TestRequired(t *testing.T) {
	var src string
	c := &Command{Name: "tool", Env: true}
	c.String(&src, "source", "", "where from").Required()
	err := c.Merge(nil, nil)
	if err == nil || err.Error() != "--source is required (or set ROOTWATCH_TOOL_SOURCE)" {
		t.Fatalf("got %v", err)
	}
	if err := c.Merge([]string{"--source", "x"}, nil); err != nil || src != "x" {
		t.Fatalf("got %v %q", err, src)
	}
}

// Validation errors found after the merge name where each value came from.
func TestExplain(t *testing.T) {
	file := testutil.WriteFile(t, "c.yaml", "name: ${TEST_CLI_SECRET_NAME}\nkafka:\n  extra: x\n")
	t.Setenv("TEST_CLI_SECRET_NAME", "s3cr3t-name-value")
	var s testSettings
	var only bool
	c := newTest(&s, &only)
	if err := c.Merge([]string{"--config", file, "--group", "bad group"}, testutil.Env(map[string]string{"ROOTWATCH_TOOL_WORKERS": "0"})); err != nil {
		t.Fatal(err)
	}
	err := c.Explain(errors.Join(
		config.KeyErrorf("kafka.group", "no spaces"),
		config.KeyErrorf("workers", "must be 1 or more"),
		config.KeyErrorf("kafka.extra", "not allowed"),
		config.KeyErrorf("name", "unknown name %q", s.Name),
		config.KeyErrorf("rate", "too low"),
		errors.New("something else"),
	))
	for _, w := range []string{
		"--group: no spaces",
		"ROOTWATCH_TOOL_WORKERS: must be 1 or more",
		"config " + file + ": line 3: kafka.extra: not allowed",
		"config " + file + `: line 1: name: unknown name "${TEST_CLI_SECRET_NAME}"`,
		"rate: too low (set it with --rate, or ROOTWATCH_TOOL_RATE, or rate in the config file)",
		"config " + file + ": something else",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%s", w, err)
		}
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("a substituted value leaks: %s", err)
	}
}

// --help: usage on stdout, exit 0; an error: "<cmd>: <message>" on stderr,
// a hint, exit 2.
func TestParseHelpAndFail(t *testing.T) {
	var s testSettings
	var only bool
	var out, errb bytes.Buffer
	code, ok := newTest(&s, &only).Parse([]string{"--help"}, nil, &out, &errb)
	if ok || code != 0 || errb.Len() != 0 {
		t.Fatalf("--help: code %d ok %v stderr %q", code, ok, errb.String())
	}
	help := out.String()
	for _, w := range []string{
		"Usage: tool [flags]", "ROOTWATCH_TOOL_<FLAG>", "Precedence: flag > environment > config", "  --config string\n        YAML config file holding any of the other settings (see Settings above for the keys)\n",
		"  --workers int\n        workers (default 4)\n",
		"  --brokers list\n        brokers (default d:1; config key kafka.brokers)\n",
		"  --sink kafka|stdout\n", "  --wait duration\n        wait (default 20s)\n",
		"  --on\n        a switch\n", "  --check\n        a flag with no config key (not in the config file)\n",
		"  --log-format auto|json|text\n", "  --config string\n",
	} {
		if !strings.Contains(help, w) {
			t.Errorf("help lacks %q:\n%s", w, help)
		}
	}
	out.Reset()
	for _, h := range []string{"-h", "-help"} {
		if code, ok := newTest(&s, &only).Parse([]string{h}, nil, &out, &errb); ok || code != 0 {
			t.Errorf("%s: code %d", h, code)
		}
	}
	errb.Reset()
	code, ok = newTest(&s, &only).Parse([]string{"--workers", "x", "--wait", "y"}, nil, &out, &errb)
	want := "tool: --workers: want a whole number, got \"x\"\ntool: --wait: want a duration such as 30s, 5m or 1h30m, got \"y\"\nRun 'tool --help' for usage.\n"
	if ok || code != 2 || errb.String() != want {
		t.Errorf("code %d ok %v stderr:\n%s\nwant:\n%s", code, ok, errb.String(), want)
	}
}

func TestOneOf(t *testing.T) {
	for want, in := range map[string][]string{"a": {"a"}, "a or b": {"a", "b"}, "a, b or c": {"a", "b", "c"}, `kafka or "-"`: {"kafka", "-"}} {
		if got := OneOf(in); got != want {
			t.Errorf("OneOf(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestLogger(t *testing.T) {
	var b bytes.Buffer
	NewLogger(&b, "warn", "json").Info("hidden")
	NewLogger(&b, "warn", "json").Warn("shown", "k", "v")
	if strings.Contains(b.String(), "hidden") || !strings.Contains(b.String(), `"msg":"shown"`) {
		t.Errorf("json/warn: %s", b.String())
	}
	b.Reset()
	NewLogger(&b, "debug", "text").Debug("hello", "k", "v")
	if !strings.Contains(b.String(), "level=DEBUG msg=hello k=v") {
		t.Errorf("text/debug: %s", b.String())
	}
	b.Reset()
	NewLogger(&b, "info", "auto").Info("piped")
	if !strings.HasPrefix(b.String(), "{") {
		t.Errorf("auto on a buffer (not a terminal) must be JSON: %s", b.String())
	}
	// The command's logger follows its merged settings.
	var s testSettings
	var only bool
	c := newTest(&s, &only)
	if err := c.Merge([]string{"--log-format", "text", "--log-level", "error"}, nil); err != nil {
		t.Fatal(err)
	}
	b.Reset()
	c.Logger(&b).Warn("no")
	c.Logger(&b).Error("yes")
	if b.String() == "" || strings.Contains(b.String(), "msg=no") || !strings.Contains(b.String(), "msg=yes") {
		t.Errorf("command logger: %s", b.String())
	}
}

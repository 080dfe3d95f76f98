package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestExpand(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cr3t", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := Expand([]byte("a: ${TOKEN}\nb: ${MISSING:-def}\nc: $${LITERAL}\nd: '${EMPTY}'"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	want := "a: s3cr3t\nb: def\nc: ${LITERAL}\nd: ''"
	if string(got) != want {
		t.Fatalf("got %q want %q", got, want)
	}
	_, err = Expand([]byte("x: ${NOPE}"), lookup)
	if err == nil || !strings.Contains(err.Error(), "NOPE") {
		t.Fatalf("want error naming NOPE, got %v", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	var v struct {
		Name string `yaml:"name"`
	}
	err := Decode([]byte("name: x\nnmae: y\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("want error naming unknown key, got %v", err)
	}
	if err := Decode([]byte(""), &v); err != nil {
		t.Fatalf("empty config: %v", err)
	}
}

func TestDecodeErrorDoesNotLeakExpandedSecret(t *testing.T) {
	var v struct {
		Port int `yaml:"port"`
	}
	lookup := func(k string) (string, bool) { return "hunter2-very-secret", k == "PORT" }
	err := DecodeEnv([]byte("port: ${PORT}\n"), &v, lookup)
	if err == nil {
		t.Fatal("want an error: a string is not an int")
	}
	if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "${PORT}") {
		t.Fatalf("error must name ${PORT}, not its value: %v", err)
	}
}

func TestDecodeErrorUnrelatedToSecretIsKept(t *testing.T) {
	var v struct {
		Port int    `yaml:"port"`
		Name string `yaml:"name"`
	}
	lookup := func(k string) (string, bool) { return "8080", k == "PORT" }
	err := DecodeEnv([]byte("port: ${PORT}\nnmae: x\n"), &v, lookup)
	if err == nil || !strings.Contains(err.Error(), "nmae") {
		t.Fatalf("want the unknown key named, got %v", err)
	}
}

// sample is a configuration with every kind of value the commands use.
type sample struct {
	Workers int           `yaml:"workers"`
	Rate    float64       `yaml:"rate"`
	On      bool          `yaml:"on"`
	Wait    time.Duration `yaml:"wait"`
	Until   time.Time     `yaml:"until"`
	Tags    []string      `yaml:"tags"`
	Pass    Secret        `yaml:"password"`
	Kafka   struct {
		Brokers []string `yaml:"brokers"`
		TLS     struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"tls"`
	} `yaml:"kafka"`
	Routes []struct {
		Name     string   `yaml:"name"`
		Channels []string `yaml:"channels"`
	} `yaml:"routes"`
}

// goTerms are words of the YAML library and of Go that must never reach a
// user: YAML tags, Go type names, Go's reference time layout.
var goTerms = []string{"!!", "unmarshal", "time.Duration", "time.Time", "config.sample", "struct", "[]string", "2006-01-02", "float64", "int64"}

func checkUserTerms(t *testing.T, msg string) {
	t.Helper()
	for _, g := range goTerms {
		if strings.Contains(msg, g) {
			t.Errorf("error speaks Go/YAML (%q): %s", g, msg)
		}
	}
}

// Every problem is reported at once, each with its line, its key path and
// what the key wants, in the user's terms.
func TestDecodeErrorsInUserTerms(t *testing.T) {
	y := `workers: four
rate: fast
on: maybe
wait: 5 minutes
until: tomorrow
tags: a,b
password: {x: 1}
kafka:
  brokers: [k1]
  tls:
    enabeld: true
routes:
  - name: r
    chanels: [a]
workerz: 3
`
	var v sample
	err := DecodeEnv([]byte(y), &v, func(string) (string, bool) { return "", false })
	if err == nil {
		t.Fatal("want errors")
	}
	msg := err.Error()
	checkUserTerms(t, msg)
	for _, want := range []string{
		`line 1: workers: want a whole number, got "four"`,
		`line 2: rate: want a number, got "fast"`,
		`line 3: on: want true or false, got "maybe"`,
		`line 4: wait: want a duration such as 30s, 5m or 1h30m, got "5 minutes"`,
		`line 5: until: want a time in RFC 3339 form such as 2026-01-31T09:00:00Z, got "tomorrow"`,
		`line 6: tags: want a list such as [a, b], got "a,b"`,
		`line 7: password: want a single value (text), got a mapping`,
		`line 11: kafka.tls.enabeld: unknown key (did you mean enabled?)`,
		`line 14: routes[0].chanels: unknown key (did you mean channels?)`,
		`line 15: workerz: unknown key (did you mean workers?)`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	// A key with no near neighbour lists the keys valid there.
	err = Decode([]byte("kafka:\n  zzzzzz: 1\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "line 2: kafka.zzzzzz: unknown key (valid here: brokers, tls)") {
		t.Errorf("unknown key without a suggestion: %v", err)
	}
	// The whole file in the wrong shape.
	err = Decode([]byte("- a\n- b\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "line 1: want a mapping (key: value lines), got a list") {
		t.Errorf("a list for a file: %v", err)
	}
	checkUserTerms(t, err.Error())
	// Not YAML at all.
	err = Decode([]byte("workers: [1\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "not valid YAML") || strings.Contains(err.Error(), "yaml:") {
		t.Errorf("syntax error: %v", err)
	}
	// Aliases that refer to themselves or expand without end are refused,
	// not walked.
	for _, y := range []string{"tags: &a [*a]\n", "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\ntags: [*c, *c, *c]\nworkers: bad\n"} {
		if err := Decode([]byte(y), &v); err == nil {
			t.Errorf("%q decoded", y)
		}
	}
	// A valid file decodes, and an empty one is empty.
	if err := Decode([]byte("workers: 3\nwait: 2m\nuntil: 2026-01-31T09:00:00Z\ntags: [a]\nkafka: {brokers: [k]}\n"), &v); err != nil || v.Workers != 3 || v.Wait != 2*time.Minute {
		t.Errorf("valid file: %v %+v", err, v)
	}
}

// describer is a type that says what it accepts.
type describer string

func (describer) DescribeValue() string { return "a colour such as red" }

func (d *describer) UnmarshalYAML(n *yaml.Node) error {
	if n.Value != "red" {
		return &yaml.TypeError{Errors: []string{"no"}}
	}
	*d = describer(n.Value)
	return nil
}

func TestDescribe(t *testing.T) {
	var v struct {
		C describer `yaml:"colour"`
	}
	err := Decode([]byte("colour: blue\n"), &v)
	if err == nil || !strings.Contains(err.Error(), `line 1: colour: want a colour such as red, got "blue"`) {
		t.Errorf("got %v", err)
	}
}

func TestLoadFileLinesAndKeyOf(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("workers: 2\nkafka:\n  brokers:\n    - k1\n    - k2\nroutes:\n  - name: a\n"), 0o600)
	var v sample
	f, err := LoadFile(p, &v)
	if err != nil {
		t.Fatal(err)
	}
	for key, line := range map[string]int{"workers": 1, "kafka.brokers": 3, "kafka.brokers[1]": 5, "routes[0].name": 7, "routes[0].channels[2]": 7, "nothing": 0} {
		if got := f.Line(key); got != line {
			t.Errorf("Line(%s) = %d, want %d", key, got, line)
		}
	}
	if !f.Has("kafka.brokers") || f.Has("kafka.tls") {
		t.Error("Has")
	}
	for want, field := range map[string]any{"workers": &v.Workers, "kafka.brokers": &v.Kafka.Brokers, "kafka.tls.enabled": &v.Kafka.TLS.Enabled, "": new(int)} {
		if got := KeyOf(&v, field); got != want {
			t.Errorf("KeyOf = %q, want %q", got, want)
		}
	}
	// Several problems in a file: one line each, each naming the file.
	os.WriteFile(p, []byte("workers: x\nwait: y\n"), 0o600)
	_, err = LoadFile(p, &v)
	if err == nil || strings.Count(err.Error(), "config "+p+": line ") != 2 {
		t.Errorf("two problems: %v", err)
	}
}

// A value checked after loading (KeyError) is reported without the value
// of an environment variable it came from.
func TestFileRedact(t *testing.T) {
	p := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(p, []byte("password: ${TEST_CONFIG_SECRET}\n"), 0o600)
	t.Setenv("TEST_CONFIG_SECRET", "sw0rdfish-and-more")
	var v sample
	f, err := LoadFile(p, &v)
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Redact(`password: "sw0rdfish-and-more" is too short`); got != `password: "${TEST_CONFIG_SECRET}" is too short` {
		t.Errorf("Redact = %q", got)
	}
	if got := f.Redact(`starts "sw0rdfi..."`); strings.Contains(got, "sw0rdfi") {
		t.Errorf("a prefix leaks: %q", got)
	}
}

func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2-secret")
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "s", s, "cfg", struct{ P Secret }{s})
	j, _ := json.Marshal(struct{ P Secret }{s})
	y, _ := yaml.Marshal(struct{ P Secret }{s})
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, struct{ P Secret }{s}, s, s), b.String(), string(j), string(y)} {
		if strings.Contains(out, "hunter2") || !strings.Contains(out, "[redacted]") {
			t.Errorf("not redacted: %s", out)
		}
	}
	if s.Reveal() != "hunter2-secret" || Secret("").String() != "" {
		t.Error("Reveal or empty")
	}
	var v struct {
		P Secret `yaml:"p"`
	}
	if err := Decode([]byte("p: abc\n"), &v); err != nil || v.P.Reveal() != "abc" {
		t.Errorf("decode: %v %q", err, v.P.Reveal())
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Minute: "1h30m", 25 * time.Second: "25s", 20 * time.Millisecond: "20ms", 0: "0s", 192 * time.Hour: "192h"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

package config

import (
	"flag"
	"io"
	"strings"
	"testing"
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

func TestApplyEnv(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	a := fs.Int("max-receives", 5, "")
	b := fs.String("source", "", "")
	if err := fs.Parse([]string{"--source", "cli"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"RW_MAX_RECEIVES": "9", "RW_SOURCE": "env"}
	if err := ApplyEnv(fs, "RW_", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *a != 9 || *b != "cli" {
		t.Fatalf("got %d %q", *a, *b)
	}
	env["RW_MAX_RECEIVES"] = "nine"
	fs2 := flag.NewFlagSet("x", flag.ContinueOnError)
	fs2.Int("max-receives", 5, "")
	_ = fs2.Parse(nil)
	err := ApplyEnv(fs2, "RW_", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err == nil || !strings.Contains(err.Error(), "RW_MAX_RECEIVES") {
		t.Fatalf("want error naming variable, got %v", err)
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

func TestParse(t *testing.T) {
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("tool", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("source", "", "where to read")
		return fs
	}
	var out, errw strings.Builder
	if code, ok := Parse(newFS(), []string{"--help"}, "usage text\n", &out, &errw); ok || code != 0 ||
		!strings.Contains(out.String(), "usage text") || !strings.Contains(out.String(), "where to read") {
		t.Fatalf("--help: code %d ok %v out %q", code, ok, out.String())
	}
	if code, ok := Parse(newFS(), []string{"extra"}, "", &out, &errw); ok || code != 2 || !strings.Contains(errw.String(), "tool: unexpected arguments: extra") {
		t.Fatalf("stray argument: code %d ok %v err %q", code, ok, errw.String())
	}
	if code, ok := Parse(newFS(), []string{"--nope"}, "", &out, &errw); ok || code != 2 || !strings.Contains(errw.String(), "Run 'tool --help'") {
		t.Fatalf("bad flag: code %d ok %v", code, ok)
	}
	if _, ok := Parse(newFS(), []string{"--source", "x"}, "", &out, &errw); !ok {
		t.Fatal("good arguments refused")
	}
}

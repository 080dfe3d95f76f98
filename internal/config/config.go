// Package config loads rootwatch's YAML configuration and binds command-line
// flags to environment variables, so that every setting has a flag, an
// environment variable and a config-file key, with one precedence rule:
// flag > environment > config file > default.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} in b with values from lookup,
// so secrets stay in the environment rather than in the file. A reference to
// an unset variable without a default is an error naming the variable (never
// its value). "$${" escapes a literal "${".
func Expand(b []byte, lookup func(string) (string, bool)) ([]byte, error) {
	out, _, err := expand(b, lookup)
	return out, err
}

// expand is Expand that also returns the substitutions made (variable name
// to value), so errors about the expanded text can be redacted.
func expand(b []byte, lookup func(string) (string, bool)) ([]byte, map[string]string, error) {
	const esc = "\x00rootwatch-dollar\x00"
	subs := map[string]string{}
	b = bytes.ReplaceAll(b, []byte("$${"), []byte(esc))
	var missing []string
	out := envRef.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := envRef.FindSubmatch(m)
		name := string(sub[1])
		if v, ok := lookup(name); ok {
			subs[name] = v
			return []byte(v)
		}
		if len(sub[2]) > 0 {
			return sub[3]
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("environment variable %s is not set (referenced as ${%s})", strings.Join(missing, ", "), missing[0])
	}
	return bytes.ReplaceAll(out, []byte(esc), []byte("${")), subs, nil
}

// Load reads the YAML file at path, expands ${ENV} references and decodes it
// strictly into v: an unknown key is an error that names the key and line.
func Load(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := Decode(b, v); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// Decode expands and strictly decodes YAML bytes into v (see Load).
func Decode(b []byte, v any) error {
	return DecodeEnv(b, v, os.LookupEnv)
}

// DecodeEnv is Decode with the environment given by lookup.
func DecodeEnv(b []byte, v any, lookup func(string) (string, bool)) error {
	raw := b
	expanded, subs, err := expand(b, lookup)
	if err != nil {
		return err
	}
	err = strictDecode(expanded, v)
	if err == nil || !leaks(err.Error(), subs) {
		return err
	}
	// The YAML library quotes (a prefix of) offending values in its errors,
	// and an expanded value may be a secret. Report the error as it reads in
	// the file, with ${NAME} and not the value, or else only where it is.
	fresh := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if err2 := strictDecode(raw, fresh); err2 != nil {
		return err2
	}
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, "${"+n+"}")
	}
	sort.Strings(names)
	where := ""
	if m := lineRef.FindString(err.Error()); m != "" {
		where = " at " + m
	}
	return fmt.Errorf("invalid value%s after substituting %s: check the variables' values", where, strings.Join(names, ", "))
}

// leaks reports whether msg quotes a substituted value (or the 7-byte
// prefix the YAML library shortens long values to).
func leaks(msg string, subs map[string]string) bool {
	for _, v := range subs {
		if len(v) >= 4 && (strings.Contains(msg, v) || strings.Contains(msg, v[:min(7, len(v))])) {
			return true
		}
	}
	return false
}

var lineRef = regexp.MustCompile(`line \d+`)

func strictDecode(b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file is an empty config
		}
		return err
	}
	return nil
}

// EnvName is the environment variable for a flag: prefix + upper-cased flag
// name with '-' and '.' turned into '_' (e.g. ROOTWATCH_INGEST_MAX_RECEIVES).
func EnvName(prefix, flagName string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + strings.ToUpper(r.Replace(flagName))
}

// ApplyEnv sets every flag of fs that was not given on the command line from
// its environment variable (see EnvName), if set. Call it after fs.Parse.
// An invalid value is an error that names the variable.
func ApplyEnv(fs *flag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || set[f.Name] {
			return
		}
		name := EnvName(prefix, f.Name)
		if v, ok := lookup(name); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
		}
	})
	return err
}

// Explicit reports the names of flags that were set on the command line or
// through the environment after ApplyEnv, so a config file loaded later does
// not override them.
func Explicit(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// Parse parses a command's arguments into fs (whose output takes the flag
// package's own error messages): --help prints usage and the flags to stdout
// (exit 0); a bad flag or a stray argument is a usage error on stderr (exit
// 2). ok is false when the command should exit with code.
func Parse(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0, false
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", fs.Name())
		return 2, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments: %s\n", fs.Name(), strings.Join(fs.Args(), " "))
		return 2, false
	}
	return 0, true
}

// Package config reads rootwatch's YAML configuration files: ${ENV}
// expansion (secrets stay in the environment), strict decoding (an unknown
// key is an error), and errors in the user's terms — the key, the line, what
// was expected — never the YAML library's or Go's (no "!!str", no Go type
// names), and never the value of an expanded variable. It also holds Secret,
// the one redacting type for credentials, and KeyError, the way validation
// code names a bad key so that the line it is on can be reported.
//
// Flags, environment variables and their precedence over the file live in
// internal/cli, which loads files through this package.
package config

import (
	"bytes"
	"errors"
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

// File is a loaded configuration file: where each key is (for errors about
// values found valid only later, see KeyError) and which environment
// variables were substituted (so such errors can be redacted).
type File struct {
	// Path is the file as given.
	Path  string
	lines map[string]int
	subs  map[string]string
}

// Load reads the YAML file at path, expands ${ENV} references and decodes it
// strictly into v (see LoadFile).
func Load(path string, v any) error {
	_, err := LoadFile(path, v)
	return err
}

// LoadFile reads the YAML file at path, expands ${ENV} references and decodes
// it strictly into v, a pointer to a struct with yaml tags. Every problem is
// reported at once, each with its line and key path in the user's terms:
// an unknown key (with the nearest known one), a value of the wrong kind
// (what was wanted, e.g. "a duration such as 30s, 5m or 1h30m"). An empty
// file is an empty config.
func LoadFile(path string, v any) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	f := &File{Path: path}
	doc, subs, err := decode(b, v, os.LookupEnv)
	if err != nil {
		return nil, &fileError{path: path, err: err}
	}
	f.subs = subs
	f.lines = map[string]int{}
	positions(doc, "", f.lines)
	return f, nil
}

// fileError names the file on each line of its problems, one a line.
type fileError struct {
	path string
	err  error
}

func (e *fileError) Error() string {
	lines := strings.Split(e.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = "config " + e.path + ": " + l
	}
	return strings.Join(lines, "\n")
}

func (e *fileError) Unwrap() error { return e.err }

// Decode expands and strictly decodes YAML bytes into v (see LoadFile).
func Decode(b []byte, v any) error {
	return DecodeEnv(b, v, os.LookupEnv)
}

// DecodeEnv is Decode with the environment given by lookup.
func DecodeEnv(b []byte, v any, lookup func(string) (string, bool)) error {
	_, _, err := decode(b, v, lookup)
	return err
}

// decode expands b, decodes it into v and returns the document's node tree
// and the substitutions made. Its errors never quote an expanded value.
func decode(b []byte, v any, lookup func(string) (string, bool)) (*yaml.Node, map[string]string, error) {
	raw := b
	expanded, subs, err := expand(b, lookup)
	if err != nil {
		return nil, nil, err
	}
	doc, err := strictDecode(expanded, v)
	if err == nil {
		return doc, subs, nil
	}
	if !leaks(err.Error(), subs) {
		return nil, nil, err
	}
	// An error may quote (a prefix of) an offending value, and an expanded
	// value may be a secret. Report the error as it reads in the file, with
	// ${NAME} and not the value, or else only where it is.
	fresh := reflect.New(reflect.TypeOf(v).Elem()).Interface()
	if _, err2 := strictDecode(raw, fresh); err2 != nil && !leaks(err2.Error(), subs) {
		return nil, nil, err2
	}
	names := make([]string, 0, len(subs))
	for n := range subs {
		names = append(names, "${"+n+"}")
	}
	sort.Strings(names)
	where := ""
	if m := lineRef.FindString(err.Error()); m != "" {
		where = m + ": "
	}
	return nil, nil, fmt.Errorf("%sinvalid value after substituting %s: check the variables' values", where, strings.Join(names, ", "))
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

// strictDecode decodes the first YAML document of b into v, rejecting
// unknown keys; on failure it explains every problem in the user's terms.
func strictDecode(b []byte, v any) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, syntaxError(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return &doc, nil // an empty file is an empty config
		}
		if errs := explain(&doc, reflect.TypeOf(v)); len(errs) > 0 {
			return nil, errors.Join(errs...)
		}
		return nil, sanitize(err)
	}
	return &doc, nil
}

// Redact replaces, in msg, the value of every environment variable the file
// referenced with its ${NAME}, for messages about values checked after
// loading (KeyError) that may quote them.
func (f *File) Redact(msg string) string {
	if f == nil {
		return msg
	}
	names := make([]string, 0, len(f.subs))
	for n := range f.subs {
		names = append(names, n)
	}
	// Longest values first, so a value containing another is replaced whole.
	sort.Slice(names, func(i, j int) bool { return len(f.subs[names[i]]) > len(f.subs[names[j]]) })
	for _, n := range names {
		if v := f.subs[n]; len(v) >= 4 {
			msg = strings.ReplaceAll(msg, v, "${"+n+"}")
		}
	}
	if leaks(msg, f.subs) {
		return "a value from an environment variable is not valid here: check the variables the file references"
	}
	return msg
}

// Line returns the line of key (a path such as kafka.brokers or
// routes[0].channels[1]) in the file, or of its nearest enclosing key that
// is there; 0 when none is.
func (f *File) Line(key string) int {
	if f == nil {
		return 0
	}
	for key != "" {
		if l, ok := f.lines[key]; ok {
			return l
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return 0
		}
		key = key[:i]
	}
	return 0
}

// Has reports whether the file sets key itself (not only an enclosing key).
func (f *File) Has(key string) bool {
	if f == nil {
		return false
	}
	_, ok := f.lines[key]
	return ok
}

// positions records the line of every key and list item under n.
func positions(n *yaml.Node, path string, out map[string]int) {
	n = deref(n)
	if n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			p := joinKey(path, k.Value)
			out[p] = k.Line
			positions(n.Content[i+1], p, out)
		}
	case yaml.SequenceNode:
		for i, e := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			out[p] = e.Line
			positions(e, p, out)
		}
	}
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// deref follows a document to its content. It does not follow an alias
// (nil): the walks here report and locate what is written where it is
// written, and an alias may refer to its own ancestor or expand
// exponentially.
func deref(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch {
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		case n.Kind == yaml.DocumentNode, n.Kind == yaml.AliasNode:
			return nil
		default:
			return n
		}
	}
	return nil
}

// KeyError is a problem with the value of one configuration key, found
// after decoding (a value out of range, a name that refers to nothing).
// Key is the path as written in the file (routes[0].channels[1]); whoever
// reports it adds where the value came from (a line of the file, a flag,
// an environment variable).
type KeyError struct {
	Key string
	Msg string
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// KeyErrorf returns a *KeyError for key.
func KeyErrorf(key, format string, a ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, a...)}
}

package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// explain walks a YAML document that failed to decode into a value of type
// t beside t itself, and reports every key whose value cannot be decoded,
// in the user's terms: "line 3: workers: want a whole number, got "four"".
// It runs only after the YAML library refused the document, and asks the
// library itself whether each value decodes, so it never rejects a valid
// file.
func explain(doc *yaml.Node, t reflect.Type) []error {
	w := &walker{}
	w.walk(doc, t, "")
	return w.errs
}

type walker struct{ errs []error }

func (w *walker) add(line int, key, msg string) {
	switch {
	case key == "":
		w.errs = append(w.errs, fmt.Errorf("line %d: %s", line, msg))
	default:
		w.errs = append(w.errs, fmt.Errorf("line %d: %s: %s", line, key, msg))
	}
}

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	obsoleteUnm     = reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType    = reflect.TypeFor[time.Duration]()
	timeType        = reflect.TypeFor[time.Time]()
)

// leaf reports whether values of t are decoded as one unit: scalars, and
// types that decode themselves.
func leaf(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	if p.Implements(yamlUnmarshaler) || p.Implements(obsoleteUnm) || p.Implements(textUnmarshaler) {
		return true
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Slice, reflect.Array, reflect.Map, reflect.Interface:
		return false
	}
	return true
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	n = deref(n)
	if n == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // null decodes into anything
	}
	if leaf(t) {
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			var te *yaml.TypeError
			_, described := reflect.Zero(t).Interface().(Describer)
			if errors.As(err, &te) || described || t == timeType {
				w.add(n.Line, path, "want "+Describe(t)+", got "+got(n))
			} else {
				w.add(n.Line, path, linePrefix.ReplaceAllString(stripYAML(err.Error()), ""))
			}
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "want "+Describe(t)+", got "+got(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				continue // a merge key: its keys are checked where they are written
			}
			ft, ok := fields[k.Value]
			if !ok {
				w.add(k.Line, joinKey(path, k.Value), unknownKey(k.Value, fields))
				continue
			}
			w.walk(v, ft, joinKey(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			w.add(n.Line, path, "want "+Describe(t)+", got "+got(n))
			return
		}
		for i, e := range n.Content {
			w.walk(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.add(n.Line, path, "want "+Describe(t)+", got "+got(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.walk(n.Content[i+1], t.Elem(), joinKey(path, n.Content[i].Value))
		}
	}
}

// yamlFields maps each YAML key of struct type t (as the YAML library
// names them: the tag, else the lower-cased field name; inline structs
// flattened) to the field's type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, inline, ok := yamlName(sf)
		switch {
		case !ok:
		case inline:
			for k, v := range yamlFields(derefType(sf.Type)) {
				out[k] = v
			}
		default:
			out[name] = sf.Type
		}
	}
	return out
}

// yamlName is the key of struct field sf as the YAML library reads it: the
// tag's name, else the lower-cased field name; inline when its keys are
// its parent's; ok is false when the field is not decoded at all.
func yamlName(sf reflect.StructField) (name string, inline, ok bool) {
	name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" || (!sf.IsExported() && !sf.Anonymous) {
		return "", false, false
	}
	if strings.Contains(opts, "inline") && derefType(sf.Type).Kind() == reflect.Struct {
		return "", true, true
	}
	if name == "" {
		name = strings.ToLower(sf.Name)
	}
	return name, false, true
}

func derefType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// KeyOf returns the config-file key (e.g. kafka.brokers) of the field that
// field points to inside *root, a struct with yaml tags, following nested
// and inline structs; "" when field is not a decoded field of root. It lets
// a command declare a setting by pointing at its field, and know its key.
func KeyOf(root, field any) string {
	rv := reflect.ValueOf(root)
	fv := reflect.ValueOf(field)
	if rv.Kind() != reflect.Pointer || fv.Kind() != reflect.Pointer || rv.IsNil() || fv.IsNil() {
		return ""
	}
	return keyOf(rv.Elem(), "", fv.Pointer(), fv.Type().Elem())
}

func keyOf(v reflect.Value, path string, addr uintptr, t reflect.Type) string {
	if v.Kind() != reflect.Struct {
		return ""
	}
	for i := range v.NumField() {
		sf := v.Type().Field(i)
		name, inline, ok := yamlName(sf)
		if !ok {
			continue
		}
		fv := v.Field(i)
		if inline {
			if k := keyOf(reflect.Indirect(fv), path, addr, t); k != "" {
				return k
			}
			continue
		}
		key := joinKey(path, name)
		if fv.Addr().Pointer() == addr && sf.Type == t {
			return key
		}
		if sf.Type.Kind() == reflect.Struct && !leaf(sf.Type) {
			if k := keyOf(fv, key, addr, t); k != "" {
				return k
			}
		}
	}
	return ""
}

// Describer is implemented by configuration types whose accepted values
// are not evident from their kind (alert's durations take days, say); the
// phrase follows "want", e.g. "a duration such as 30s, 5m or 8d".
type Describer interface {
	DescribeValue() string
}

// Describe says, for an error message, what a configuration value of type t
// must look like: "a whole number", "true or false", "a duration such as
// 30s, 5m or 1h30m", "a list", "a mapping (key: value lines)".
func Describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if d, ok := reflect.Zero(t).Interface().(Describer); ok {
		return d.DescribeValue()
	}
	switch t {
	case durationType:
		return "a duration such as 30s, 5m or 1h30m"
	case timeType:
		return "a time in RFC 3339 form such as 2026-01-31T09:00:00Z"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a single value (text)"
	case reflect.Slice, reflect.Array:
		return "a list such as [a, b]"
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value lines)"
	}
	return "a value of another kind"
}

// got describes what the file holds at n, for "want X, got Y".
func got(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return Quote(n.Value)
}

// Quote quotes a value for an error message, shortened when long.
func Quote(s string) string {
	if r := []rune(s); len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return fmt.Sprintf("%q", s)
}

// unknownKey explains an unknown key: the nearest known one, or the list.
func unknownKey(key string, fields map[string]reflect.Type) string {
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sort.Strings(known)
	if s := Suggest(key, known); s != "" {
		return "unknown key (did you mean " + s + "?)"
	}
	if len(known) <= 16 {
		return "unknown key (valid here: " + strings.Join(known, ", ") + ")"
	}
	return "unknown key (docs/configuration.md lists the keys)"
}

// Suggest returns the candidate nearest to s when it is close enough to be
// a likely typo ("workerz" for "workers"), else "".
func Suggest(s string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		d := distance(strings.ToLower(s), strings.ToLower(c))
		if best == "" || d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, min(len(s), len(best))/3) {
		return ""
	}
	return best
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	linePrefix   = regexp.MustCompile(`^line \d+: `)
	yamlTypeMsg  = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `([^`]*)`)? into \\S+")
	yamlFieldMsg = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// sanitize rewrites a YAML library message the walk could not explain,
// so that it still speaks the user's terms.
func sanitize(err error) error {
	msg := stripYAML(err.Error())
	msg = yamlFieldMsg.ReplaceAllString(msg, "unknown key $1")
	msg = yamlTypeMsg.ReplaceAllStringFunc(msg, func(m string) string {
		sm := yamlTypeMsg.FindStringSubmatch(m)
		if sm[2] != "" {
			return fmt.Sprintf("%q is not valid here", sm[2])
		}
		return map[string]string{"seq": "a list", "map": "a mapping"}[sm[1]] + " is not valid here"
	})
	return errors.New(msg)
}

// syntaxError rewrites a YAML parse error ("yaml: line 3: did not find
// expected key") without the library's prefix.
func syntaxError(err error) error {
	return fmt.Errorf("not valid YAML: %s", stripYAML(err.Error()))
}

func stripYAML(msg string) string {
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	return strings.ReplaceAll(msg, "\n  ", "\n")
}

// FormatDuration writes d as a person would: 5m rather than 5m0s, 1h
// rather than 1h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

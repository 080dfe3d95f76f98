// Package cli is the one command layer of rootwatch's commands (ingest,
// alert, audit, ctgen, demo): a command declares each setting once — a
// pointer to its field, a flag name, a default and a line of help — and
// gets from that declaration its flag, its environment variable
// (ROOTWATCH_<COMMAND>_<FLAG>), its config-file key (the yaml path of the
// field), one merge (flag > environment > config file > default), one help
// layout (--help on stdout, exit 0), one error style ("<cmd>: <message>"
// on stderr, exit 2, a hint to --help) and one logger set-up (--log-level,
// --log-format). Config files themselves are read by internal/config.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"rootwatch/internal/config"
)

// Command is one command's settings and how they are merged.
type Command struct {
	// Name is the command's name, as typed ("ingest").
	Name string
	// Usage is what --help prints before the generated part (what the
	// command does, how it is called).
	Usage string
	// Env makes every flag also readable from ROOTWATCH_<NAME>_<FLAG>.
	Env bool
	// File, when set, is a pointer to the struct a --config file decodes
	// into (strictly); a setting whose pointer is a field of it has that
	// field's yaml path as its config key. nil: no --config flag.
	File any

	settings []*Setting
	byName   map[string]*Setting
	cfgPath  string
	file     *config.File
	level    *string
	format   *string
}

// Setting is one declared setting.
type Setting struct {
	// Name is the flag name, without dashes.
	Name string
	// Help is the flag's one line of help.
	Help string
	// Key is the config-file key ("" when the setting is not in the file).
	Key string
	// Type is the word --help shows after the flag (int, duration, list,
	// a|b|c); "" for a switch (bool).
	Type string
	// Default is the default as --help shows it ("" when there is none).
	Default string

	enum     []string
	required bool
	parse    func(string) error
	value    func() string
	ptr      any
	origin   origin
}

// Required makes the merge fail when no layer gives the setting a value.
func (s *Setting) Required() *Setting { s.required = true; return s }

type originKind int

const (
	fromDefault originKind = iota
	fromFile
	fromEnv
	fromFlag
)

type origin struct {
	kind originKind
	name string // the flag or environment variable
	line int    // in the config file
}

// EnvPrefix is the prefix of the command's environment variables,
// ROOTWATCH_<NAME>_.
func (c *Command) EnvPrefix() string { return "ROOTWATCH_" + strings.ToUpper(c.Name) + "_" }

// EnvName is the environment variable for a flag: prefix + upper-cased flag
// name with '-' and '.' turned into '_' (ROOTWATCH_INGEST_MAX_RECEIVES).
func EnvName(prefix, flagName string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return prefix + strings.ToUpper(r.Replace(flagName))
}

// init declares --config (when the command reads a file) before the
// command's own settings.
func (c *Command) init() {
	if c.byName != nil {
		return
	}
	c.byName = map[string]*Setting{}
	if c.File != nil {
		c.String(&c.cfgPath, "config", "", "YAML config file holding any of the other settings (see Settings above for the keys)")
	}
}

func (c *Command) add(s *Setting) *Setting {
	c.init()
	if c.byName[s.Name] != nil {
		panic("cli: setting declared twice: " + s.Name)
	}
	if c.File != nil {
		s.Key = config.KeyOf(c.File, s.ptr)
	}
	c.byName[s.Name] = s
	c.settings = append(c.settings, s)
	return s
}

// declare binds p to a new setting: it sets *p to def now (the lowest
// layer), and later parses flag and environment text with parse.
func declare[T any](c *Command, p *T, name string, def T, typ, help string, parse func(string) (T, error), format func(T) string) *Setting {
	*p = def
	s := &Setting{Name: name, Help: help, Type: typ, ptr: p}
	if d := format(def); d != "" && d != "0" && d != "false" && d != "0s" {
		s.Default = d
	}
	s.parse = func(v string) error {
		x, err := parse(v)
		if err == nil {
			*p = x
		}
		return err
	}
	s.value = func() string { return format(*p) }
	return c.add(s)
}

// String declares a text setting.
func (c *Command) String(p *string, name, def, help string) *Setting {
	return declare(c, p, name, def, "string", help, func(v string) (string, error) { return v, nil }, func(v string) string { return v })
}

// Enum declares a setting whose value is one of values (matched without
// regard to case, stored as listed).
func (c *Command) Enum(p *string, name, def string, values []string, help string) *Setting {
	s := declare(c, p, name, def, strings.Join(values, "|"), help, func(v string) (string, error) {
		for _, e := range values {
			if strings.EqualFold(v, e) {
				return e, nil
			}
		}
		return "", fmt.Errorf("want %s, got %s", OneOf(values), config.Quote(v))
	}, func(v string) string { return v })
	s.enum = values
	return s
}

// Int declares a whole-number setting.
func (c *Command) Int(p *int, name string, def int, help string) *Setting {
	return declare(c, p, name, def, "int", help, func(v string) (int, error) {
		n, err := wholeNumber(v, strconv.IntSize)
		return int(n), err
	}, strconv.Itoa)
}

// Int64 declares a whole-number setting that may be large (bytes).
func (c *Command) Int64(p *int64, name string, def int64, help string) *Setting {
	return declare(c, p, name, def, "int", help, func(v string) (int64, error) { return wholeNumber(v, 64) },
		func(v int64) string { return strconv.FormatInt(v, 10) })
}

// wholeNumber parses a whole number that fits in bits (0x.. and 0o.. too).
func wholeNumber(v string, bits int) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 0, bits)
	if err != nil {
		return 0, fmt.Errorf("want a whole number, got %s", config.Quote(v))
	}
	return n, nil
}

// Uint64 declares a whole-number setting that cannot be negative.
func (c *Command) Uint64(p *uint64, name string, def uint64, help string) *Setting {
	return declare(c, p, name, def, "int", help, func(v string) (uint64, error) {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 0, 64)
		if err != nil {
			return 0, fmt.Errorf("want a whole number, 0 or more, got %s", config.Quote(v))
		}
		return n, nil
	}, func(v uint64) string { return strconv.FormatUint(v, 10) })
}

// Float declares a number setting.
func (c *Command) Float(p *float64, name string, def float64, help string) *Setting {
	return declare(c, p, name, def, "number", help, func(v string) (float64, error) {
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number such as 2 or 0.5, got %s", config.Quote(v))
		}
		return n, nil
	}, func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) })
}

// Bool declares a switch: --name turns it on, --name=false off.
func (c *Command) Bool(p *bool, name string, help string) *Setting {
	return declare(c, p, name, false, "", help, func(v string) (bool, error) {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return false, fmt.Errorf("want true or false, got %s", config.Quote(v))
		}
		return b, nil
	}, strconv.FormatBool)
}

// Duration declares a duration setting (30s, 5m, 1h30m).
func (c *Command) Duration(p *time.Duration, name string, def time.Duration, help string) *Setting {
	return declare(c, p, name, def, "duration", help, func(v string) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 30s, 5m or 1h30m, got %s", config.Quote(v))
		}
		return d, nil
	}, config.FormatDuration)
}

// List declares a list setting, written comma-separated in a flag or an
// environment variable and as a YAML list in the file; a layer replaces
// the list of the layers below it.
func (c *Command) List(p *[]string, name string, def []string, help string) *Setting {
	*p = def
	s := &Setting{Name: name, Help: help, Type: "list", ptr: p, Default: strings.Join(def, ",")}
	s.parse = func(v string) error {
		var out []string
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				out = append(out, e)
			}
		}
		*p = out
		return nil
	}
	s.value = func() string { return strings.Join(*p, ",") }
	return c.add(s)
}

// OneOf lists values for a message: "a or b", "a, b or c".
func OneOf(values []string) string {
	q := make([]string, len(values))
	for i, v := range values {
		q[i] = v
		if strings.Trim(v, "abcdefghijklmnopqrstuvwxyz0123456789-_.") != "" || v == "-" {
			q[i] = strconv.Quote(v)
		}
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// Lookup returns the setting declared with that flag name, or nil.
func (c *Command) Lookup(name string) *Setting { return c.byName[name] }

// IsSet reports whether the named setting was given by a flag, an
// environment variable or the config file (not left at its default).
func (c *Command) IsSet(name string) bool {
	s := c.byName[name]
	return s != nil && s.origin.kind != fromDefault
}

// ErrHelp is returned by Merge when --help or -h was given.
var ErrHelp = flag.ErrHelp

// UsageError is a command line, environment or configuration the command
// cannot run with (exit status 2).
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// raw is a flag.Value that only records what the command line said; the
// merge parses it after the layers below it.
type raw struct {
	s *Setting
	v *string
}

func (r raw) String() string     { return "" }
func (r raw) Set(v string) error { *r.v = v; return nil }
func (r raw) IsBoolFlag() bool   { return r.s.Type == "" }

// Merge sets every declared setting from, highest first: the command line,
// the environment, the config file (--config, or its environment
// variable), the declared default. It returns ErrHelp for --help, and a
// *UsageError naming the flag, variable or file line for a bad value.
func (c *Command) Merge(args []string, lookup func(string) (string, bool)) error {
	c.init()
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	for _, s := range c.settings {
		fs.Var(raw{s: s, v: new(string)}, s.Name, s.Help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return c.flagError(err)
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %s (flags start with --)", config.Quote(fs.Arg(0)))
	}
	given := map[*Setting]string{}
	fs.Visit(func(f *flag.Flag) {
		r := f.Value.(raw)
		given[r.s] = *r.v
	})
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	env := func(s *Setting) (string, string, bool) {
		if !c.Env {
			return "", "", false
		}
		name := EnvName(c.EnvPrefix(), s.Name)
		v, ok := lookup(name)
		return name, v, ok
	}

	// The config file: its path from the command line, else the environment.
	if c.File != nil {
		cs := c.byName["config"]
		path, ok := given[cs]
		if !ok {
			_, path, _ = env(cs)
		}
		if path != "" {
			f, err := config.LoadFile(path, c.File)
			if err != nil {
				return &UsageError{Err: err}
			}
			c.file = f
			for _, s := range c.settings {
				if s.Key != "" && f.Has(s.Key) {
					s.origin = origin{kind: fromFile, line: f.Line(s.Key)}
				}
			}
		}
	}
	// The environment under the command line.
	var errs []error
	for _, s := range c.settings {
		if _, onLine := given[s]; onLine {
			continue
		}
		if name, v, ok := env(s); ok {
			s.origin = origin{kind: fromEnv, name: name}
			if err := s.parse(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	for _, s := range c.settings {
		v, ok := given[s]
		if !ok {
			continue
		}
		s.origin = origin{kind: fromFlag, name: "--" + s.Name}
		if err := s.parse(v); err != nil {
			errs = append(errs, fmt.Errorf("--%s: %w", s.Name, err))
		}
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	// Values from the file (decoded as YAML) and defaults are checked here:
	// an enum's value, a required setting.
	for _, s := range c.settings {
		unset := s.origin.kind == fromDefault && s.value() == ""
		if s.enum != nil && !unset && s.origin.kind != fromFlag && s.origin.kind != fromEnv {
			if err := s.parse(s.value()); err != nil {
				errs = append(errs, errors.New(c.where(s)+": "+err.Error()))
			}
		}
		if s.required && s.value() == "" {
			errs = append(errs, fmt.Errorf("--%s is required%s", s.Name, c.alsoAs(s)))
		}
	}
	if len(errs) > 0 {
		return &UsageError{Err: errors.Join(errs...)}
	}
	return nil
}

// flagError rewrites the flag package's messages in the layer's style.
func (c *Command) flagError(err error) error {
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "flag provided but not defined: "):
		name := strings.TrimLeft(strings.TrimPrefix(msg, "flag provided but not defined: "), "-")
		names := make([]string, 0, len(c.settings))
		for _, s := range c.settings {
			names = append(names, s.Name)
		}
		if s := config.Suggest(name, names); s != "" {
			return usageErrorf("unknown flag --%s (did you mean --%s?)", name, s)
		}
		return usageErrorf("unknown flag --%s", name)
	case strings.HasPrefix(msg, "flag needs an argument: "):
		name := strings.TrimLeft(strings.TrimPrefix(msg, "flag needs an argument: "), "-")
		return usageErrorf("--%s needs a value", name)
	}
	return &UsageError{Err: err}
}

// where names where a setting's value came from, for an error about it.
func (c *Command) where(s *Setting) string {
	switch s.origin.kind {
	case fromFile:
		return fmt.Sprintf("config %s: line %d: %s", c.file.Path, s.origin.line, s.Key)
	case fromEnv, fromFlag:
		return s.origin.name
	}
	return "--" + s.Name
}

// alsoAs lists the ways to give a setting other than its flag, for
// "is required".
func (c *Command) alsoAs(s *Setting) string {
	if w := c.ways(s); len(w) > 1 {
		return " (or set " + strings.Join(w[1:], ", or ") + ")"
	}
	return ""
}

// ways lists how a setting can be given: its flag, its environment
// variable, its config-file key.
func (c *Command) ways(s *Setting) []string {
	w := []string{"--" + s.Name}
	if c.Env {
		w = append(w, EnvName(c.EnvPrefix(), s.Name))
	}
	if s.Key != "" {
		w = append(w, s.Key+" in the config file")
	}
	return w
}

// Explain rewrites the errors of a validation of the merged settings —
// *config.KeyError values, possibly joined — so that each names where its
// value came from: the flag, the environment variable, or the line of the
// config file; a key no layer set is named with the ways to set it. Values
// from substituted environment variables are redacted. The result is a
// *UsageError.
func (c *Command) Explain(err error) error {
	if err == nil {
		return nil
	}
	var lines []string
	for _, e := range leaves(err) {
		lines = append(lines, c.file.Redact(c.explainOne(e)))
	}
	return &UsageError{Err: errors.New(strings.Join(lines, "\n"))}
}

func (c *Command) explainOne(e error) string {
	var ke *config.KeyError
	if !errors.As(e, &ke) {
		if c.file != nil {
			return "config " + c.file.Path + ": " + e.Error()
		}
		return e.Error()
	}
	var s *Setting
	for _, x := range c.settings {
		if x.Key != "" && x.Key == ke.Key {
			s = x
		}
	}
	switch {
	case s != nil && s.origin.kind != fromDefault:
		return c.where(s) + ": " + ke.Msg
	case c.file != nil && c.file.Line(ke.Key) > 0:
		return fmt.Sprintf("config %s: line %d: %s: %s", c.file.Path, c.file.Line(ke.Key), ke.Key, ke.Msg)
	case s != nil:
		return fmt.Sprintf("%s: %s (set it with %s)", ke.Key, ke.Msg, strings.Join(c.ways(s), ", or "))
	case c.file != nil:
		return "config " + c.file.Path + ": " + ke.Error()
	}
	return ke.Error() + " (no config file given: --config)"
}

// leaves flattens errors.Join trees.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}

// Parse merges the settings (see Merge) and handles the outcome as every
// command does: --help prints the help to stdout (exit 0); an error is
// printed to stderr in the command's style (exit 2). ok is false when the
// command should exit with code.
func (c *Command) Parse(args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) (code int, ok bool) {
	err := c.Merge(args, lookup)
	switch {
	case errors.Is(err, ErrHelp):
		c.WriteHelp(stdout)
		return 0, false
	case err != nil:
		return c.Fail(stderr, err), false
	}
	return 0, true
}

// Fail prints a usage or configuration error as "<cmd>: <message>", one line
// per problem, then a hint to --help, and returns the exit status 2.
func (c *Command) Fail(stderr io.Writer, err error) int {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(stderr, "%s: %s\n", c.Name, strings.TrimSpace(line))
	}
	fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", c.Name)
	return 2
}

// WriteHelp writes the usage text, how settings combine, and every flag
// with its type, help, default and (when it differs from the flag name)
// its config key.
func (c *Command) WriteHelp(w io.Writer) {
	fmt.Fprint(w, strings.TrimRight(c.Usage, "\n")+"\n\n")
	if c.Env || c.File != nil {
		var b strings.Builder
		b.WriteString("Settings: ")
		example := c.example()
		if c.Env {
			fmt.Fprintf(&b, "every flag can also be set with the environment variable %s<FLAG> (upper case, '-' as '_', e.g. %s)", c.EnvPrefix(), EnvName(c.EnvPrefix(), example))
		}
		if c.File != nil {
			if c.Env {
				b.WriteString(" or ")
			} else {
				b.WriteString("every flag can also be set ")
			}
			fmt.Fprintf(&b, "in the --config file under its name with '_' for '-' (e.g. %s:), unless its help names another key", strings.ReplaceAll(example, "-", "_"))
		}
		b.WriteString(". Precedence: flag > environment > config file > default. Secrets (passwords, tokens) belong in the config file as ${ENV} references, never in flags.")
		fmt.Fprintln(w, wrap(b.String(), 78))
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "Flags:")
	ss := append([]*Setting(nil), c.settings...)
	sort.Slice(ss, func(i, j int) bool { return ss[i].Name < ss[j].Name })
	for _, s := range ss {
		dash := "--"
		if len(s.Name) == 1 {
			dash = "-"
		}
		line := "  " + dash + s.Name
		if s.Type != "" {
			line += " " + s.Type
		}
		fmt.Fprintln(w, line)
		help := s.Help
		var notes []string
		if s.Default != "" {
			notes = append(notes, "default "+s.Default)
		}
		switch {
		case c.File == nil || s == c.byName["config"]:
		case s.Key == "":
			notes = append(notes, "not in the config file")
		case s.Key != strings.ReplaceAll(s.Name, "-", "_"):
			notes = append(notes, "config key "+s.Key)
		}
		if len(notes) > 0 {
			help += " (" + strings.Join(notes, "; ") + ")"
		}
		fmt.Fprintln(w, "        "+help)
	}
}

// example is a flag name to show in the settings note.
func (c *Command) example() string {
	for _, n := range []string{"max-receives", "days", "listen", "log-level"} {
		if c.byName[n] != nil {
			return n
		}
	}
	return c.settings[0].Name
}

// wrap breaks text into lines of at most width columns at spaces.
func wrap(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, word := range strings.Fields(text) {
		if i > 0 && n+1+len(word) > width {
			b.WriteByte('\n')
			n = 0
		} else if i > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(word)
		n += len(word)
	}
	return b.String()
}

// IsTerminal reports whether w is a terminal (a character device), for
// output meant for people: text logs, progress bars, tables.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

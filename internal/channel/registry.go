package channel

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"gopkg.in/yaml.v3"

	"rootwatch/internal/config"
)

// Config is one channel instance from the alert configuration: a name, a
// type, and the type's own settings. It decodes from YAML keeping the raw
// node, so each channel type decodes (strictly) only the fields it knows:
//
//   - name: slack-secops
//     type: slack
//     webhook_url: ${SLACK_WEBHOOK_URL}
type Config struct {
	// Name identifies the instance in routes, logs, metrics and errors.
	Name string
	// Type selects the factory registered with Register ("slack", "pagerduty", ...).
	Type string
	// fields is the YAML mapping without name and type; nil means no settings.
	fields *yaml.Node
}

// NewConfig builds a Config in code, with settings given as a map of the
// same keys the YAML form takes (used by the demo and tests).
func NewConfig(name, typ string, settings map[string]any) (Config, error) {
	c := Config{Name: name, Type: typ}
	if len(settings) == 0 {
		return c, nil
	}
	var n yaml.Node
	if err := n.Encode(settings); err != nil {
		return c, c.errorf("", "encode settings: %v", err)
	}
	c.fields = &n
	return c, nil
}

// UnmarshalYAML keeps the mapping so that Build can decode the type's own
// fields strictly; name and type are read here.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a channel must be a mapping with name and type", n.Line)
	}
	*c = Config{}
	rest := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "name", "type":
			if v.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: channel %s must be a string", v.Line, k.Value)
			}
			if k.Value == "name" {
				c.Name = v.Value
			} else {
				c.Type = v.Value
			}
		default:
			rest.Content = append(rest.Content, k, v)
		}
	}
	if c.Name == "" {
		return fmt.Errorf("line %d: channel without a name", n.Line)
	}
	if c.Type == "" {
		return fmt.Errorf("line %d: channel %q: type is required", n.Line, c.Name)
	}
	c.fields = rest
	return nil
}

// Deps are the shared things a channel needs from its process.
type Deps struct {
	// HTTPClient sends every HTTP channel's requests; nil means a client with a 30s timeout.
	HTTPClient *http.Client
	// AWS is the SDK configuration for SNS and SES (credentials, region).
	AWS aws.Config
	// Logger receives non-secret diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock (Retry-After dates, timestamps); nil means time.Now.
	Now func() time.Time
	// Stdout is where the console channel writes; nil means os.Stdout.
	Stdout io.Writer
}

func (d Deps) withDefaults() Deps {
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Stdout == nil {
		d.Stdout = os.Stdout
	}
	return d
}

// Factory builds one channel type from its Config. It decodes its fields
// with Config.Decode and reports bad values with Config.FieldError.
type Factory func(c Config, d Deps) (Channel, error)

var (
	registryMu sync.RWMutex
	registry   = map[string]Factory{}
)

// Register makes a channel type available to Build. Each channel file
// registers itself from init; registering a type twice panics.
func Register(typ string, f Factory) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[typ]; dup {
		panic("channel: type registered twice: " + typ)
	}
	registry[typ] = f
}

// Types lists the registered channel types, sorted.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Build validates the configuration and returns the channel. Errors name
// the channel, its type and the bad field, and never contain a secret.
func (c Config) Build(d Deps) (Channel, error) {
	if c.Name == "" {
		return nil, errors.New("channel without a name")
	}
	registryMu.RLock()
	f, ok := registry[c.Type]
	registryMu.RUnlock()
	if !ok {
		return nil, c.errorf("type", "unknown channel type %q (known: %s)", c.Type, strings.Join(Types(), ", "))
	}
	return f(c, d.withDefaults())
}

// ConfigError is a channel configuration that cannot work.
type ConfigError struct {
	Channel, Type, Field, Msg string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("channel %q (%s): %s", e.Channel, e.Type, e.Msg)
	}
	return fmt.Sprintf("channel %q (%s): %s: %s", e.Channel, e.Type, e.Field, e.Msg)
}

// FieldError reports a bad field value; msg must not contain the value when
// the field is a secret.
func (c Config) FieldError(field, msg string) error {
	return &ConfigError{Channel: c.Name, Type: c.Type, Field: field, Msg: msg}
}

func (c Config) errorf(field, format string, args ...any) error {
	return c.FieldError(field, fmt.Sprintf(format, args...))
}

// Decode decodes the channel's settings into v (a pointer to a struct with
// yaml tags) strictly: an unknown key is an error naming it, and a value of
// the wrong shape is an error naming the field but not echoing the value
// (it may be a secret).
func (c Config) Decode(v any) error {
	if c.fields == nil {
		return nil
	}
	n := c.fields
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return c.errorf("", "settings must be a mapping")
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("channel: Decode needs a pointer to a struct, got %T", v)
	}
	fields := yamlFields(rv.Elem().Type())
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok {
			known := make([]string, 0, len(fields))
			for name := range fields {
				known = append(known, name)
			}
			sort.Strings(known)
			return c.errorf(k.Value, "unknown field (line %d; known: %s)", k.Line, strings.Join(known, ", "))
		}
		f := rv.Elem().FieldByIndex(idx)
		if err := val.Decode(f.Addr().Interface()); err != nil {
			return c.errorf(k.Value, "line %d: expected %s", val.Line, kindName(f.Type()))
		}
	}
	return nil
}

func kindName(t reflect.Type) string {
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration like 10s"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64, reflect.Uint32:
		return "an integer"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(kindName(t.Elem()), "a ") + "s"
	case reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// yamlFields maps each yaml key of struct type t to its field index.
func yamlFields(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() && !sf.Anonymous {
			continue
		}
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for k, idx := range yamlFields(sf.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out[name] = []int{i}
	}
	return out
}

// Secret is config.Secret, the one redacting type for credentials, under
// the name every channel file uses.
type Secret = config.Secret

// secret resolves a secret given either inline (usually as ${ENV}) or as a
// path in the matching *_file key. Exactly one may be set; required says
// whether neither is an error. A trailing newline in the file is dropped.
func (c Config) secret(field string, inline Secret, file string, required bool) (Secret, error) {
	switch {
	case inline != "" && file != "":
		return "", c.errorf(field, "set %s or %s_file, not both", field, field)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", c.errorf(field+"_file", "read %s: %v", file, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", c.errorf(field+"_file", "%s is empty", file)
		}
		return Secret(s), nil
	case inline != "":
		return inline, nil
	case required:
		return "", c.errorf(field, "required (set %s, e.g. to ${ENV_VAR}, or %s_file)", field, field)
	}
	return "", nil
}

package deploy

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/alert"
	"rootwatch/internal/channel"
	"rootwatch/internal/cli"
	"rootwatch/internal/config"
	"rootwatch/internal/kafka"
	"rootwatch/internal/source"
)

// update rewrites the generated parts of docs/configuration.md:
//
//	go test ./deploy -run TestConfigurationDoc -update
var update = flag.Bool("update", false, "rewrite the generated sections of docs/configuration.md")

const docPath = "docs/configuration.md"

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// flagTable renders a command's flags: flag, environment variable, config key, type, default, description.
func flagTable(t *testing.T, c command) string {
	var b strings.Builder
	b.WriteString("| flag | environment | config key | type | default | description |\n|---|---|---|---|---|---|\n")
	for _, f := range flagsOf(t, c) {
		key := "—"
		if f.Key != "" {
			key = "`" + f.Key + "`"
		}
		def := "—"
		if f.Default != "" {
			def = "`" + mdEscape(f.Default) + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s | %s | %s |\n", f.Name, cli.EnvName(c.EnvPrefix, f.Name), key, typeText(f.Type), def, mdEscape(f.Usage))
	}
	return b.String()
}

// typeText words a flag's type from --help for the doc.
func typeText(typ string) string {
	switch {
	case typ == "list":
		return "list (comma-separated; a YAML list in the file)"
	case strings.Contains(typ, "|"):
		return "one of `" + strings.Join(strings.Split(typ, "|"), "`, `") + "`"
	}
	return typ
}

type keyInfo struct{ Key, Type string }

var (
	durationType = reflect.TypeOf(time.Duration(0))
	alertDur     = reflect.TypeOf(alert.Duration(0))
	timeType     = reflect.TypeOf(time.Time{})
	channelCfg   = reflect.TypeOf(channel.Config{})
	secretType   = reflect.TypeOf(config.Secret(""))
)

// yamlKeys lists the config-file keys of a struct type from its yaml tags.
func yamlKeys(t reflect.Type, prefix string, out *[]keyInfo) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if opts == "inline" {
			yamlKeys(ft, prefix, out)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := prefix + name
		switch {
		case ft == durationType || ft == alertDur:
			*out = append(*out, keyInfo{key, "duration (`30s`, `2h`; alert also takes `8d`)"})
		case ft == timeType:
			*out = append(*out, keyInfo{key, "time (RFC 3339)"})
		case ft == secretType:
			*out = append(*out, keyInfo{key, "secret string (use `${ENV}`)"})
		case ft.Kind() == reflect.Slice && ft.Elem() == channelCfg:
			*out = append(*out, keyInfo{key, "list of channels: `name`, `type` and the type's keys (docs/channels.md)"})
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			*out = append(*out, keyInfo{key, "list of mappings:"})
			yamlKeys(ft.Elem(), key+"[].", out)
		case ft.Kind() == reflect.Slice:
			*out = append(*out, keyInfo{key, "list of " + ft.Elem().Kind().String()})
		case ft.Kind() == reflect.Struct:
			yamlKeys(ft, key+".", out)
		case ft.Kind() == reflect.Map:
			*out = append(*out, keyInfo{key, "mapping"})
		default:
			*out = append(*out, keyInfo{key, ft.Kind().String()})
		}
	}
}

// keyTable renders config keys, naming the flag that sets the same value.
func keyTable(keys []keyInfo, flagOf map[string]string) string {
	var b strings.Builder
	b.WriteString("| config key | type | flag |\n|---|---|---|\n")
	for _, k := range keys {
		fl := "—"
		if f := flagOf[k.Key]; f != "" {
			fl = "`--" + f + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Key, k.Type, fl)
	}
	return b.String()
}

// sections renders every generated part of the doc, by marker name.
func sections(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, c := range commands {
		out[c.Name+"-flags"] = flagTable(t, c)
	}
	// ingest: the config keys that are not flags are kafka.tls.* and kafka.sasl.*.
	var kk []keyInfo
	yamlKeys(reflect.TypeOf(kafka.Config{}), "kafka.", &kk)
	ingestFlagOf := map[string]string{}
	for _, f := range flagsOf(t, commandNamed("ingest")) {
		if f.Key != "" {
			ingestFlagOf[f.Key] = f.Name
		}
	}
	var only []keyInfo
	for _, k := range kk {
		if ingestFlagOf[k.Key] == "" {
			only = append(only, k)
		}
	}
	out["ingest-keys"] = keyTable(only, nil)
	// alert: every key of alert.Config.
	var ak []keyInfo
	yamlKeys(reflect.TypeOf(alert.Config{}), "", &ak)
	alertFlagOf := map[string]string{}
	for _, f := range flagsOf(t, commandNamed("alert")) {
		if f.Key != "" {
			alertFlagOf[f.Key] = f.Name
		}
	}
	out["alert-keys"] = keyTable(ak, alertFlagOf)
	return out
}

var markerRe = regexp.MustCompile(`(?s)<!-- BEGIN GENERATED: ([a-z-]+) -->\n(.*?)<!-- END GENERATED: ([a-z-]+) -->`)

// docs/configuration.md lists every flag, environment variable and config
// key of ingest, alert and audit exactly as the code defines them. On
// drift: go test ./deploy -run TestConfigurationDoc -update
func TestConfigurationDoc(t *testing.T) {
	path := filepath.Join(root, docPath)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sections(t)
	seen := map[string]bool{}
	doc := markerRe.ReplaceAllStringFunc(string(b), func(m string) string {
		sm := markerRe.FindStringSubmatch(m)
		name := sm[1]
		if sm[3] != name {
			t.Errorf("%s: BEGIN %s closed by END %s", docPath, name, sm[3])
			return m
		}
		seen[name] = true
		gen, ok := want[name]
		if !ok {
			t.Errorf("%s: unknown generated section %q", docPath, name)
			return m
		}
		if sm[2] != gen && !*update {
			t.Errorf("%s: section %q is out of date with the code; run: go test ./deploy -run TestConfigurationDoc -update", docPath, name)
		}
		return "<!-- BEGIN GENERATED: " + name + " -->\n" + gen + "<!-- END GENERATED: " + name + " -->"
	})
	for name := range want {
		if !seen[name] {
			t.Errorf("%s: no generated section %q", docPath, name)
		}
	}
	if *update && doc != string(b) {
		if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("rewrote %s", docPath)
	}
}

// The example configs for the common setups load with the real binaries'
// strict loaders, and their sources parse.
func TestExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "examples", "ingest-*.yaml"))
	if len(files) < 3 {
		t.Fatalf("want the single-account, organisation and backfill examples, found %v", files)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		code, _, errOut := runCmd(t, "ingest", []string{"KAFKA_BROKERS=localhost:9092"}, "--config", f, "--sink", "not-a-sink")
		if code != 2 || !strings.HasPrefix(errOut, "ingest: --sink: want kafka or stdout, got \"not-a-sink\"\n") {
			t.Errorf("%s does not load: exit %d\n%s", f, code, errOut)
		}
		b, _ := os.ReadFile(f)
		var m map[string]any
		if err := yaml.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		src, _ := m["source"].(string)
		switch {
		case strings.HasPrefix(src, "sqs://"):
			kinds["sqs"] = true
		case strings.HasPrefix(src, "s3://"):
			if _, err := source.ParseBackfillURL(src, time.Now()); err != nil {
				t.Errorf("%s: source: %v", f, err)
			}
			kinds["backfill"] = true
		default:
			t.Errorf("%s: source %q is neither sqs:// nor s3://", f, src)
		}
		if strings.Contains(string(b), "o-") || strings.Contains(f, "org") {
			kinds["org"] = true
		}
	}
	if !kinds["sqs"] || !kinds["backfill"] || !kinds["org"] {
		t.Errorf("examples cover %v; want sqs, org and backfill", kinds)
	}
	// An example with a mistake is rejected: the check above can fail.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("source: sqs://q\nworkerz: 4\n"), 0o644)
	if code, _, errOut := runCmd(t, "ingest", nil, "--config", bad, "--sink", "not-a-sink"); code != 2 || !strings.Contains(errOut, "line 2: workerz: unknown key (did you mean workers?)") {
		t.Errorf("a config with an unknown key loaded: exit %d %s", code, errOut)
	}
}

// Every ingest config key the doc lists (flag keys and kafka.*) is one the
// strict loader accepts: one file holding them all loads.
func TestIngestDocumentedKeysLoad(t *testing.T) {
	doc := map[string]any{}
	put := func(key, typ string) {
		var v any = ""
		switch {
		case strings.Contains(typ, "bool"):
			v = false
		case strings.Contains(typ, "int"), strings.Contains(typ, "number"):
			v = 0
		case strings.Contains(typ, "duration"):
			v = "1s"
		case strings.HasPrefix(typ, "list"):
			v = []string{}
		case strings.Contains(typ, "|"):
			v = strings.Split(typ, "|")[0]
		}
		m := doc
		parts := strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			if m[p] == nil {
				m[p] = map[string]any{}
			}
			m = m[p].(map[string]any)
		}
		m[parts[len(parts)-1]] = v
	}
	n := 0
	for _, f := range flagsOf(t, commandNamed("ingest")) {
		if f.Key != "" {
			put(f.Key, f.Type)
			n++
		}
	}
	var kk []keyInfo
	yamlKeys(reflect.TypeOf(kafka.Config{}), "kafka.", &kk)
	for _, k := range kk {
		if k.Key != "kafka.brokers" {
			put(k.Key, k.Type)
			n++
		}
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "all.yaml")
	os.WriteFile(f, b, 0o644)
	code, _, errOut := runCmd(t, "ingest", nil, "--config", f, "--sink", "not-a-sink")
	if code != 2 || !strings.HasPrefix(errOut, "ingest: --sink: want kafka or stdout, got \"not-a-sink\"\n") {
		t.Fatalf("documented keys rejected by ingest's loader (exit %d):\n%s\n%s", code, errOut, b)
	}
	if n < 30 {
		t.Fatalf("only %d keys", n)
	}
}

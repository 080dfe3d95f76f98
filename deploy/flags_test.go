package deploy

import "testing"

// The --help parser finds the flags each command is known to have, so the
// checks built on it cannot pass by parsing nothing.
func TestFlagsParsed(t *testing.T) {
	want := map[string][]string{
		"ingest": {"source", "sink", "brokers", "config", "listen", "s3-path-style", "max-receives"},
		"alert":  {"source", "config", "brokers", "group", "topic", "listen", "check-config"},
		"audit":  {"days", "org", "config", "from-logs"},
	}
	for _, c := range commands {
		got := map[string]flagInfo{}
		for _, f := range flagsOf(t, c) {
			got[f.Name] = f
		}
		for _, n := range want[c.Name] {
			if _, ok := got[n]; !ok {
				t.Errorf("%s: flag -%s not parsed from --help", c.Name, n)
			}
		}
	}
	ing := map[string]flagInfo{}
	for _, f := range flagsOf(t, commandNamed("ingest")) {
		ing[f.Name] = f
	}
	if f := ing["brokers"]; f.Key != "kafka.brokers" {
		t.Errorf("ingest -brokers: config key %q, want kafka.brokers", f.Key)
	}
	if f := ing["s3-inflight"]; f.Default != "128" || f.Type != "int" {
		t.Errorf("ingest -s3-inflight: %+v", f)
	}
	if f := ing["s3-path-style"]; f.Type != "bool" || f.Key != "s3_path_style" {
		t.Errorf("ingest -s3-path-style: %+v", f)
	}
}

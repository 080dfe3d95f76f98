package config

import (
	"strings"
	"testing"
)

// FuzzDecode: arbitrary config bytes and environment values never panic the
// loader, and an error never contains the value of an environment variable
// (secrets live there).
func FuzzDecode(f *testing.F) {
	f.Add([]byte("name: ${SECRET}\n"), "hunter2-secret")
	f.Add([]byte("name: ${MISSING}\n"), "x")
	f.Add([]byte("name: [unclosed\n"), "x")
	f.Add([]byte("nmae: ${SECRET:-d}\n"), "s3cr3t-value")
	f.Add([]byte("name: $${SECRET}\n"), "v")
	f.Add([]byte("\x00\xff: :"), "v")
	f.Fuzz(func(t *testing.T, data []byte, secret string) {
		lookup := func(k string) (string, bool) { return secret, k == "SECRET" }
		var v struct {
			Name  string            `yaml:"name"`
			Items []string          `yaml:"items"`
			Map   map[string]string `yaml:"map"`
		}
		err := DecodeEnv(data, &v, lookup)
		if err != nil && len(secret) >= 8 && !strings.Contains(string(data), secret) && strings.Contains(err.Error(), secret) {
			t.Fatalf("error leaks the environment value: %v", err)
		}
	})
}

package config

import "log/slog"

// Secret is a credential from a configuration file (a password, token,
// routing key, or a URL that embeds one). It prints as [redacted] with %v,
// %s and %#v, in slog records and in JSON, YAML and text encodings, so that
// logging or echoing a configuration cannot leak it; Reveal gives the value
// to the one place that sends it. Every secret of every command (Kafka SASL
// passwords, channel tokens) is this one type.
type Secret string

const redacted = "[redacted]"

// String redacts the secret (an unset secret prints as "").
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString redacts the secret for %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue redacts the secret in slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts the secret in JSON, YAML and text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText stores the value as given (decoding is the one way in).
func (s *Secret) UnmarshalText(b []byte) error { *s = Secret(b); return nil }

// Reveal returns the secret's value, for the one place that uses it.
func (s Secret) Reveal() string { return string(s) }

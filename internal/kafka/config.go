// Package kafka builds segmentio/kafka-go clients (transports, dialers,
// writers) and creates topics from one Config, so that every rootwatch
// command connects to Kafka the same way: same TLS, same SASL, same client id.
package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"rootwatch/internal/config"
)

// Config says how to reach the Kafka cluster. It is embedded in the config
// files of ingest and alert under the key `kafka`.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string `yaml:"brokers"`
	// ClientID identifies this process in broker logs and quotas.
	ClientID string     `yaml:"client_id"`
	TLS      TLSConfig  `yaml:"tls"`
	SASL     SASLConfig `yaml:"sasl"`
}

// TLSConfig turns on TLS to the brokers. Files are PEM.
type TLSConfig struct {
	Enabled bool `yaml:"enabled"`
	// CAFile verifies the brokers' certificates; empty means the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify disables certificate verification (tests only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName overrides the name checked against the certificate.
	ServerName string `yaml:"server_name"`
}

// SASLConfig authenticates to the brokers. The password is never logged:
// give it through ${ENV} expansion in the config file, or PasswordFile.
type SASLConfig struct {
	// Mechanism is "plain", "scram-sha-256" or "scram-sha-512"; empty disables SASL.
	Mechanism string        `yaml:"mechanism"`
	Username  string        `yaml:"username"`
	Password  config.Secret `yaml:"password"`
	// PasswordFile, when set, is read for the password (trailing newline trimmed).
	PasswordFile string `yaml:"password_file"`
}

// Validate checks the config without connecting.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka: no brokers configured")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return errors.New("kafka: empty broker address")
		}
	}
	if _, err := c.mechanism(); err != nil {
		return err
	}
	if c.TLS.Enabled {
		if _, err := c.tlsConfig(); err != nil {
			return err
		}
	}
	return nil
}

func (c Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	return "rootwatch"
}

// Transport returns a kafka-go transport for Writers and Clients.
func (c Config) Transport() (*kafkago.Transport, error) {
	t := &kafkago.Transport{
		ClientID:    c.clientID(),
		DialTimeout: 10 * time.Second,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 15 * time.Second,
	}
	var err error
	if t.SASL, err = c.mechanism(); err != nil {
		return nil, err
	}
	if c.TLS.Enabled {
		if t.TLS, err = c.tlsConfig(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Dialer returns a kafka-go dialer for Readers and single connections.
func (c Config) Dialer() (*kafkago.Dialer, error) {
	d := &kafkago.Dialer{
		ClientID:  c.clientID(),
		Timeout:   10 * time.Second,
		DualStack: true,
	}
	var err error
	if d.SASLMechanism, err = c.mechanism(); err != nil {
		return nil, err
	}
	if c.TLS.Enabled {
		if d.TLS, err = c.tlsConfig(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (c Config) password() (string, error) {
	if c.SASL.PasswordFile != "" {
		b, err := os.ReadFile(c.SASL.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("kafka sasl: read password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return c.SASL.Password.Reveal(), nil
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	m := strings.ToLower(strings.TrimSpace(c.SASL.Mechanism))
	if m == "" || m == "none" {
		return nil, nil
	}
	if c.SASL.Username == "" {
		return nil, fmt.Errorf("kafka sasl %s: username is empty", m)
	}
	pw, err := c.password()
	if err != nil {
		return nil, err
	}
	switch m {
	case "plain":
		return plain.Mechanism{Username: c.SASL.Username, Password: pw}, nil
	case "scram-sha-256", "scram-sha-512":
		algo := scram.SHA256
		if m == "scram-sha-512" {
			algo = scram.SHA512
		}
		mech, err := scram.Mechanism(algo, c.SASL.Username, pw)
		if err != nil {
			return nil, fmt.Errorf("kafka sasl %s: %w", m, err)
		}
		return mech, nil
	}
	return nil, fmt.Errorf("kafka sasl: unknown mechanism %q (want plain, scram-sha-256 or scram-sha-512)", c.SASL.Mechanism)
}

func (c Config) tlsConfig() (*tls.Config, error) {
	t := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.TLS.InsecureSkipVerify, //nolint:gosec // opt-in, for tests
		ServerName:         c.TLS.ServerName,
	}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka tls: ca_file %s holds no PEM certificate", c.TLS.CAFile)
		}
		t.RootCAs = pool
	}
	if c.TLS.CertFile != "" || c.TLS.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka tls: load client certificate: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

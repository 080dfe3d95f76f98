package kafka_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
)

func TestEnsureTopicsCreatesMissingAndKeepsExisting(t *testing.T) {
	_, cfg := kafkatest.Cluster(t, 2, "existing")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	specs := []kafka.TopicSpec{
		{Name: "existing", Partitions: 5},
		{Name: "fresh", Partitions: 3, CleanupPolicy: "compact"},
	}
	if err := kafka.EnsureTopics(ctx, cfg, specs...); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
	// Idempotent.
	if err := kafka.EnsureTopics(ctx, cfg, specs...); err != nil {
		t.Fatalf("EnsureTopics again: %v", err)
	}
	if n, err := kafka.Partitions(ctx, cfg, "existing"); err != nil || n != 2 {
		t.Errorf("existing: %d partitions, %v; want 2 (unchanged)", n, err)
	}
	if n, err := kafka.Partitions(ctx, cfg, "fresh"); err != nil || n != 3 {
		t.Errorf("fresh: %d partitions, %v; want 3", n, err)
	}
	if v, err := kafka.TopicConfig(ctx, cfg, "fresh", "cleanup.policy"); err != nil || v != "compact" {
		t.Errorf("fresh cleanup.policy = %q, %v; want compact", v, err)
	}
	if _, err := kafka.Partitions(ctx, cfg, "never-created"); err == nil {
		t.Error("Partitions of a missing topic: no error")
	}
}

func TestWriterRoundTripEveryCompression(t *testing.T) {
	for _, comp := range []string{"zstd", "lz4", "snappy", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			_, cfg := kafkatest.Cluster(t, 3, "t")
			w, err := kafka.NewWriter(cfg, "t", kafka.WriterOptions{Compression: comp, BatchTimeout: 5 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var msgs []kafkago.Message
			for i := range 50 {
				msgs = append(msgs, kafkago.Message{
					Key:     []byte(fmt.Sprintf("acct-%d", i%4)),
					Value:   []byte(fmt.Sprintf(`{"n":%d}`, i)),
					Headers: []kafkago.Header{{Key: "bucket", Value: []byte("b")}},
				})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("write: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got := kafkatest.ReadAll(t, cfg, "t", 50, 15*time.Second)
			if len(got) != 50 {
				t.Fatalf("read %d records, want 50", len(got))
			}
			seen := map[string]bool{}
			part := map[string]int32{}
			for _, r := range got {
				seen[string(r.Value)] = true
				if r.Headers["bucket"] != "b" {
					t.Errorf("header bucket = %q", r.Headers["bucket"])
				}
				if p, ok := part[string(r.Key)]; ok && p != r.Partition {
					t.Errorf("key %s on partitions %d and %d; want one", r.Key, p, r.Partition)
				}
				part[string(r.Key)] = r.Partition
			}
			for i := range 50 {
				if !seen[fmt.Sprintf(`{"n":%d}`, i)] {
					t.Errorf("record %d missing", i)
				}
			}
		})
	}
}

func TestAsyncWriterCompletionCarriesWriterData(t *testing.T) {
	_, cfg := kafkatest.Cluster(t, 1, "t")
	var mu sync.Mutex
	acked := map[int]bool{}
	done := make(chan struct{})
	w, err := kafka.NewWriter(cfg, "t", kafka.WriterOptions{Async: true, BatchTimeout: 5 * time.Millisecond,
		Completion: func(ms []kafkago.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				if err == nil {
					acked[m.WriterData.(int)] = true
				}
			}
			if len(acked) == 10 {
				close(done)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := w.WriteMessages(context.Background(), kafkago.Message{Value: []byte("x"), WriterData: i}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("not every message was acknowledged")
	}
	w.Close()
}

func TestSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "alice", "s3cret"), kfake.SeedTopics(1, "t"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			good := kafka.Config{Brokers: c.ListenAddrs(), SASL: kafka.SASLConfig{Mechanism: strings.ToLower(mech), Username: "alice", Password: "s3cret"}}
			if err := kafka.EnsureTopics(ctx, good, kafka.TopicSpec{Name: "u"}); err != nil {
				t.Fatalf("with the right password: %v", err)
			}
			bad := good
			bad.SASL.Password = "wrong"
			if err := kafka.EnsureTopics(ctx, bad, kafka.TopicSpec{Name: "v"}); err == nil {
				t.Fatal("with a wrong password: no error")
			} else if strings.Contains(err.Error(), "wrong") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestPasswordFileAndRedaction(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pw")
	if err := os.WriteFile(pf, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("PLAIN", "bob", "from-file"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := kafka.Config{Brokers: c.ListenAddrs(), SASL: kafka.SASLConfig{Mechanism: "plain", Username: "bob", PasswordFile: pf, Password: "ignored"}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafka.TopicSpec{Name: "x"}); err != nil {
		t.Fatalf("password from file: %v", err)
	}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "ignored") {
			t.Errorf("formatted config shows the password: %s", s)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string]kafka.Config{
		"no brokers":     {},
		"bad mechanism":  {Brokers: []string{"x:1"}, SASL: kafka.SASLConfig{Mechanism: "gssapi", Username: "u"}},
		"no username":    {Brokers: []string{"x:1"}, SASL: kafka.SASLConfig{Mechanism: "plain"}},
		"missing ca":     {Brokers: []string{"x:1"}, TLS: kafka.TLSConfig{Enabled: true, CAFile: "/nonexistent/ca.pem"}},
		"missing cert":   {Brokers: []string{"x:1"}, TLS: kafka.TLSConfig{Enabled: true, CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}},
		"missing pwfile": {Brokers: []string{"x:1"}, SASL: kafka.SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: "/nonexistent"}},
	}
	for name, c := range cases {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate() = nil", name)
		}
		if _, err := kafka.NewWriter(c, "t", kafka.WriterOptions{}); err == nil {
			t.Errorf("%s: NewWriter: no error", name)
		}
	}
	ok := kafka.Config{Brokers: []string{"x:1"}, TLS: kafka.TLSConfig{Enabled: true}}
	tr, err := ok.Transport()
	if err != nil || tr.TLS == nil {
		t.Errorf("TLS transport: %v, tls=%v", err, tr)
	}
	d, err := ok.Dialer()
	if err != nil || d.TLS == nil {
		t.Errorf("TLS dialer: %v", err)
	}
	if _, err := kafka.NewWriter(kafka.Config{Brokers: []string{"x:1"}}, "t", kafka.WriterOptions{Compression: "brotli"}); err == nil {
		t.Error("unknown compression accepted")
	}
}

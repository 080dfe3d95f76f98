package kafka

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// Defaults of WriterOptions.
const (
	DefaultCompression = "zstd"
	// DefaultBatchSize is the most messages in one produce batch. kafka-go
	// allocates room for this many messages with every batch, so it is kept
	// near what DefaultBatchBytes holds of CloudTrail records (~1.4 KB each):
	// a larger count would only allocate more.
	DefaultBatchSize = 1000
	// DefaultBatchBytes is the broker's default message.max.bytes.
	DefaultBatchBytes   = 1 << 20
	DefaultBatchTimeout = 20 * time.Millisecond
	DefaultRequiredAcks = "all"
	DefaultMaxAttempts  = 3
)

// WriterOptions tune one topic's writer. Zero values take the defaults.
type WriterOptions struct {
	// Compression is zstd, lz4, snappy, gzip or none (default DefaultCompression).
	Compression string `yaml:"compression"`
	// BatchSize is the most messages in one produce batch (default DefaultBatchSize).
	BatchSize int `yaml:"batch_size"`
	// BatchBytes is the most bytes in one batch (default DefaultBatchBytes).
	BatchBytes int64 `yaml:"batch_bytes"`
	// BatchTimeout is how long a partial batch waits for more (default DefaultBatchTimeout).
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// RequiredAcks: "all", "one" or "none" (default DefaultRequiredAcks).
	RequiredAcks string `yaml:"required_acks"`
	// MaxAttempts is how often a batch is tried before its Completion
	// reports the error (default DefaultMaxAttempts).
	MaxAttempts int `yaml:"max_attempts"`
	// Async makes WriteMessages return at once; results arrive on Completion.
	Async bool `yaml:"-"`
	// Completion is called with every batch once it is acknowledged (err nil)
	// or has failed; messages carry their WriterData, so acknowledgements can
	// flow back to where the data came from.
	Completion func(messages []kafkago.Message, err error) `yaml:"-"`
	// Logger receives the writer's error log (debug log is dropped).
	Logger *slog.Logger `yaml:"-"`
}

// ParseCompression maps a name to kafka-go's codec; "" means zstd.
func ParseCompression(name string) (kafkago.Compression, error) {
	switch strings.ToLower(name) {
	case "", "zstd":
		return kafkago.Zstd, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "snappy":
		return kafkago.Snappy, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "none":
		return compress.None, nil
	}
	return 0, fmt.Errorf("kafka: unknown compression %q (want zstd, lz4, snappy, gzip or none)", name)
}

// ParseAcks maps "all", "one", "none" to kafka-go's RequiredAcks; "" means all.
func ParseAcks(s string) (kafkago.RequiredAcks, error) {
	switch strings.ToLower(s) {
	case "", "all", "-1":
		return kafkago.RequireAll, nil
	case "one", "1":
		return kafkago.RequireOne, nil
	case "none", "0":
		return kafkago.RequireNone, nil
	}
	return 0, fmt.Errorf("kafka: unknown required_acks %q (want all, one or none)", s)
}

// NewWriter returns a writer to topic. Messages are partitioned by key with
// murmur2, like the Java client, so one account's records stay in order on
// one partition. The writer never creates topics (see EnsureTopics).
func NewWriter(c Config, topic string, o WriterOptions) (*kafkago.Writer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	comp, err := ParseCompression(o.Compression)
	if err != nil {
		return nil, err
	}
	acks, err := ParseAcks(o.RequiredAcks)
	if err != nil {
		return nil, err
	}
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	w := &kafkago.Writer{
		Addr:            kafkago.TCP(c.Brokers...),
		Topic:           topic,
		Balancer:        &kafkago.Murmur2Balancer{},
		MaxAttempts:     o.MaxAttempts,
		WriteBackoffMin: 100 * time.Millisecond,
		WriteBackoffMax: 1 * time.Second,
		BatchSize:       o.BatchSize,
		BatchBytes:      o.BatchBytes,
		BatchTimeout:    o.BatchTimeout,
		RequiredAcks:    acks,
		Async:           o.Async,
		Completion:      o.Completion,
		Compression:     comp,
		Transport:       t,
	}
	if w.MaxAttempts == 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	if w.BatchSize == 0 {
		w.BatchSize = DefaultBatchSize
	}
	if w.BatchBytes == 0 {
		w.BatchBytes = DefaultBatchBytes
	}
	if w.BatchTimeout == 0 {
		w.BatchTimeout = DefaultBatchTimeout
	}
	if o.Logger != nil {
		l := o.Logger.With("topic", topic)
		w.ErrorLogger = kafkago.LoggerFunc(func(msg string, args ...any) {
			l.Warn("kafka writer: " + fmt.Sprintf(msg, args...))
		})
	}
	return w, nil
}

package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
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
	// CompressionLevel is the zstd level (0: DefaultZstdLevel); see
	// SetZstdLevel: it is one per process.
	CompressionLevel int `yaml:"compression_level"`
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
	if o.CompressionLevel != 0 {
		SetZstdLevel(o.CompressionLevel)
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
		Transport:       &partitionCount{RoundTripper: t},
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

// partitionCount answers the metadata request kafka-go's Writer makes for
// every message handed to WriteMessages (to count the topic's partitions)
// from the last answer for up to partitionCountTTL. The transport caches
// metadata itself, but filters a fresh copy of it for every request: about
// a microsecond and several allocations per record, a tenth of the records
// path's CPU. Other requests pass through.
type partitionCount struct {
	kafkago.RoundTripper
	last atomic.Pointer[cachedMetadata]
}

// partitionCountTTL is how long an answer is reused; the transport's own
// metadata is older than that anyway (MetadataTTL).
const partitionCountTTL = time.Second

type cachedMetadata struct {
	topic string
	resp  *metadataAPI.Response
	until time.Time
}

func (p *partitionCount) RoundTrip(ctx context.Context, addr net.Addr, req kafkago.Request) (kafkago.Response, error) {
	m, ok := req.(*metadataAPI.Request)
	if !ok || len(m.TopicNames) != 1 || m.AllowAutoTopicCreation {
		return p.RoundTripper.RoundTrip(ctx, addr, req)
	}
	now := time.Now()
	if c := p.last.Load(); c != nil && c.topic == m.TopicNames[0] && now.Before(c.until) {
		return c.resp, nil
	}
	r, err := p.RoundTripper.RoundTrip(ctx, addr, req)
	if resp, ok := r.(*metadataAPI.Response); ok && err == nil && len(resp.Topics) == 1 &&
		resp.Topics[0].ErrorCode == 0 && len(resp.Topics[0].Partitions) > 0 {
		p.last.Store(&cachedMetadata{topic: m.TopicNames[0], resp: resp, until: now.Add(partitionCountTTL)})
	}
	return r, err
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	kafkago "github.com/segmentio/kafka-go"
)

// The topics rootwatch writes (docs/architecture.md).
const (
	TopicRecords      = "cloudtrail.records"
	TopicRootActivity = "cloudtrail.root-activity"
	TopicDLQ          = "cloudtrail.dlq"
)

// TopicSpec is a topic to create when it does not exist yet.
type TopicSpec struct {
	Name              string `yaml:"name"`
	Partitions        int    `yaml:"partitions"`         // 0 means 1
	ReplicationFactor int    `yaml:"replication_factor"` // 0 means 1
	// CleanupPolicy is "delete" (default when empty) or "compact".
	CleanupPolicy string `yaml:"cleanup_policy"`
	// Configs are further topic configs (retention.ms, ...).
	Configs map[string]string `yaml:"configs"`
}

// EnsureTopics creates the topics in specs that do not exist. Existing
// topics are left as they are (their partition count is not changed).
func EnsureTopics(ctx context.Context, c Config, specs ...TopicSpec) error {
	if len(specs) == 0 {
		return nil
	}
	if err := c.Validate(); err != nil {
		return err
	}
	t, err := c.Transport()
	if err != nil {
		return err
	}
	defer t.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t}

	req := &kafkago.CreateTopicsRequest{}
	for _, s := range specs {
		if s.Name == "" {
			return errors.New("kafka: topic spec without a name")
		}
		tc := kafkago.TopicConfig{
			Topic:             s.Name,
			NumPartitions:     max(s.Partitions, 1),
			ReplicationFactor: max(s.ReplicationFactor, 1),
		}
		if s.CleanupPolicy != "" {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: s.CleanupPolicy})
		}
		for k, v := range s.Configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("kafka: create topics on %v: %w", c.Brokers, err)
	}
	var errs []error
	for name, e := range resp.Errors {
		if e == nil || errors.Is(e, kafkago.TopicAlreadyExists) {
			continue
		}
		errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", name, e))
	}
	return errors.Join(errs...)
}

// ErrUnknownTopic is wrapped by the errors of Partitions and WaitForTopics
// when the brokers answered and the topic does not exist.
var ErrUnknownTopic = errors.New("topic does not exist")

// Partitions returns the partition count of topic, or an error (wrapping
// ErrUnknownTopic when the topic does not exist).
func Partitions(ctx context.Context, c Config, topic string) (int, error) {
	n, err := partitions(ctx, c, []string{topic})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// partitions asks the brokers for the partition counts of topics; with
// none, it only checks that a broker answers.
func partitions(ctx context.Context, c Config, topics []string) ([]int, error) {
	t, err := c.Transport()
	if err != nil {
		return nil, err
	}
	defer t.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t}
	req := &kafkago.MetadataRequest{Topics: topics}
	if len(topics) == 0 {
		req.Topics = []string{} // no topic's metadata, only the brokers'
	}
	resp, err := cl.Metadata(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("kafka: metadata from %s: %w", strings.Join(c.Brokers, ","), err)
	}
	out := make([]int, len(topics))
	for i, topic := range topics {
		found := false
		for _, tp := range resp.Topics {
			if tp.Name != topic {
				continue
			}
			found = true
			switch {
			case errors.Is(tp.Error, kafkago.UnknownTopicOrPartition):
				return nil, fmt.Errorf("kafka: topic %s: %w", topic, ErrUnknownTopic)
			case tp.Error != nil:
				return nil, fmt.Errorf("kafka: topic %s: %w", topic, tp.Error)
			}
			out[i] = len(tp.Partitions)
		}
		if !found {
			return nil, fmt.Errorf("kafka: topic %s: not in metadata: %w", topic, ErrUnknownTopic)
		}
	}
	return out, nil
}

// TopicConfig returns one config value of a topic (for checks and tests).
func TopicConfig(ctx context.Context, c Config, topic, name string) (string, error) {
	t, err := c.Transport()
	if err != nil {
		return "", err
	}
	defer t.CloseIdleConnections()
	cl := &kafkago.Client{Addr: kafkago.TCP(c.Brokers...), Transport: t}
	resp, err := cl.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name},
	}}})
	if err != nil {
		return "", fmt.Errorf("kafka: describe configs of %s: %w", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			return "", fmt.Errorf("kafka: describe configs of %s: %w", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue, nil
			}
		}
	}
	return "", fmt.Errorf("kafka: topic %s has no config %s", topic, strconv.Quote(name))
}

package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"rootwatch/internal/backoff"
)

// DefaultStartWait is how long ingest and alert wait at start for a Kafka
// broker to answer before they give up (--kafka-wait).
const DefaultStartWait = 2 * time.Minute

// startBackoff spaces the attempts to reach Kafka at start.
var startBackoff = backoff.Policy{Base: 500 * time.Millisecond, Max: 10 * time.Second, Jitter: 0.2}

// WaitForTopics returns the partition count of each topic once a broker
// answers; with no topics it only waits for a broker. A command started
// beside Kafka should not fail for being first, so while no broker answers
// it tries again, backing off and logging every attempt, for at most wait
// (0: for ever); then it fails with an error naming the brokers. A topic
// that does not exist is an error at once, wrapping ErrUnknownTopic. log
// may be nil.
func WaitForTopics(ctx context.Context, c Config, wait time.Duration, log *slog.Logger, topics ...string) ([]int, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wctx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	brokers := strings.Join(c.Brokers, ",")
	start := time.Now()
	var out []int
	err := startBackoff.Retry(wctx, func(attempt int) (bool, error) {
		n, err := partitions(wctx, c, topics)
		if err == nil {
			out = n
			return false, nil
		}
		if errors.Is(err, ErrUnknownTopic) {
			return false, err
		}
		limit := "for ever"
		if wait > 0 {
			limit = wait.String()
		}
		log.Warn("kafka not reachable yet; retrying", "brokers", brokers, "attempt", attempt+1,
			"waited", time.Since(start).Round(time.Millisecond).String(), "waiting_at_most", limit, "err", err)
		return true, err
	})
	switch {
	case err == nil:
		if time.Since(start) > time.Second {
			log.Info("kafka reachable", "brokers", brokers, "waited", time.Since(start).Round(time.Millisecond).String())
		}
		return out, nil
	case errors.Is(err, ErrUnknownTopic):
		return nil, err
	case ctx.Err() != nil:
		return nil, fmt.Errorf("kafka at %s: stopped while waiting for a broker: %w", brokers, err)
	}
	return nil, fmt.Errorf("kafka not reachable at %s: no broker answered within %s (is Kafka reachable? --kafka-wait 0 waits for ever): %w",
		brokers, time.Since(start).Round(time.Second), err)
}

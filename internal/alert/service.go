// Package alert turns root-activity findings into notifications: exact
// dedup by eventID, grouping into incidents, allowlist and silences,
// routing to channels, delivery through the shared retry policy, and the
// durable state (a compacted Kafka topic partitioned like the findings) that
// makes all of it survive restarts and rebalances. cmd/alert is a thin main
// around Service.
package alert

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"rootwatch/internal/channel"
	"rootwatch/internal/match"
)

// Options are the parts of a Service that are not in the config file.
type Options struct {
	Logger *slog.Logger
	// Channels supplies channel instances by name (tests, embedding); a
	// channel named in the config and absent here is built by BuildChannel.
	Channels map[string]channel.Channel
	// ChannelDeps are handed to channel.Config.Build for the channels not in Channels.
	ChannelDeps channel.Deps
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// DrainTimeout bounds how long shutdown waits for in-flight sends (default 30s).
	DrainTimeout time.Duration
	// OnSent, when set, is called after each successful send (tests,
	// latency measurement); it must not block.
	OnSent func(channel string, n *channel.Notification, at time.Time)
	// Sleep replaces the retry policy's wait (tests); nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// KafkaWait is how long RunKafka waits at start for a broker to answer,
	// retrying, before it fails (kafka.WaitForTopics); 0 waits for ever.
	KafkaWait time.Duration
}

// DLQ parks what alert could not process or deliver, with the reason.
type DLQ interface {
	Park(ctx context.Context, key []byte, e DLQEntry) error
}

// DLQEntry is the JSON value of a rootwatch.alerts.dlq message.
type DLQEntry struct {
	// Stage is "decode" (a message that is not a finding) or "deliver" (a
	// channel that kept failing).
	Stage       string            `json:"stage"`
	Reason      string            `json:"reason"`
	Channel     string            `json:"channel,omitempty"`
	Kind        string            `json:"kind,omitempty"`
	Incident    *channel.Incident `json:"incident,omitempty"`
	Findings    []match.Finding   `json:"findings,omitempty"`
	Attempts    int               `json:"attempts,omitempty"`
	Topic       string            `json:"topic,omitempty"`
	Partition   int               `json:"partition"`
	Offset      int64             `json:"offset,omitempty"`
	Message     json.RawMessage   `json:"message,omitempty"`
	MessageText string            `json:"messageText,omitempty"`
	Time        time.Time         `json:"time"`
}

// Service is one alert process: shared config, channels and metrics, and
// one worker per owned partition (one in total for stdin).
type Service struct {
	cfg      *Config
	rules    *rules
	params   params
	channels map[string]channel.Channel
	policy   channel.RetryPolicy
	log      *slog.Logger
	m        *metrics
	view     *fleetView // the whole fleet's state, read-only (fleetview.go)
	dlq      DLQ
	now      func() time.Time

	onSent       func(string, *channel.Notification, time.Time)
	drainTimeout time.Duration
	kafkaWait    time.Duration
	expireEvery  time.Duration
	sendCtx      context.Context
	cancelSends  context.CancelFunc
	killed       atomic.Bool
	ready        atomic.Bool
	owned        atomic.Int64 // partitions of the findings topic this replica consumes
	started      time.Time
}

type params struct {
	window         time.Duration
	dedupTTL       time.Duration
	unusedAfter    time.Duration
	maxFindings    int
	groupInterval  time.Duration
	repeatInterval time.Duration
}

// New builds a Service from a validated config.
func New(cfg *Config, o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 30 * time.Second
	}
	s := &Service{
		cfg:   cfg,
		rules: compileRules(cfg),
		params: params{
			window:         cfg.Grouping.Window.D(),
			dedupTTL:       cfg.DedupTTL.D(),
			unusedAfter:    time.Duration(cfg.RootUnusedDays) * 24 * time.Hour,
			maxFindings:    cfg.Grouping.MaxFindings,
			groupInterval:  cfg.Grouping.GroupInterval.D(),
			repeatInterval: max(cfg.Grouping.RepeatInterval.D(), 0),
		},
		channels: map[string]channel.Channel{},
		policy: channel.RetryPolicy{
			MaxAttempts: cfg.Delivery.MaxAttempts,
			Base:        cfg.Delivery.Backoff.D(),
			Max:         cfg.Delivery.MaxBackoff.D(),
			MaxElapsed:  cfg.Delivery.MaxElapsed.D(),
			Sleep:       o.Sleep,
		},
		log:          o.Logger,
		m:            newMetrics(),
		now:          o.Now,
		drainTimeout: o.DrainTimeout,
		kafkaWait:    o.KafkaWait,
		onSent:       o.OnSent,
		expireEvery:  time.Minute,
	}
	s.started = o.Now()
	s.view = newFleetView(s.m.rootLastUsed, s.m.sessions)
	s.sendCtx, s.cancelSends = context.WithCancel(context.Background())
	for _, spec := range cfg.Channels {
		ch := o.Channels[spec.Name]
		if ch == nil {
			var err error
			if ch, err = spec.Build(o.ChannelDeps); err != nil {
				return nil, err
			}
		}
		s.channels[spec.Name] = timeoutChannel{Channel: ch, d: cfg.Delivery.Timeout.D()}
	}
	return s, nil
}

// tick is how often a worker looks for due updates and repeats.
func (s *Service) tick() time.Duration {
	t := s.params.groupInterval / 4
	return min(max(t, 10*time.Millisecond), time.Second)
}

// Kill stops the service as a crash would: no more state writes, no
// commits, in-flight results dropped. For tests of the delivery guarantee.
func (s *Service) Kill() {
	s.killed.Store(true)
	s.cancelSends()
}

// Close releases what the service holds (in-flight sends are abandoned).
func (s *Service) Close() { s.cancelSends() }

// RootUses returns the last root use per account, fleet-wide (every
// partition of the state, whichever replica owns it).
func (s *Service) RootUses() []RootUse { return s.view.rootUses() }

// stdinViewEvery is how stale the fleet view (status page, APIs) may be
// in stdin mode, where the state is kept only in memory.
const stdinViewEvery = 100 * time.Millisecond

// MaxStdinLine bounds one line of `alert --source -`: four times the
// largest finding ingest can write (match.MaxLineBytes), so every finding
// ingest writes is read; a longer line (not a finding from ingest) is
// skipped without being held in memory, logged and counted.
const MaxStdinLine = 4 * match.MaxLineBytes

// RunStdin reads JSON-line findings from r until EOF or ctx ends, with
// state in memory (a pipe has no offsets to resume from). A line that is
// not a valid finding, or is longer than MaxStdinLine, is logged, counted
// and skipped; the stream goes on. A Message's Offset is its line number.
func (s *Service) RunStdin(ctx context.Context, r io.Reader) error {
	st := newPartState(0)
	w := s.newWorker(st, &viewStore{v: s.view}, nil)
	w.flushAtEOF, w.viewEvery = true, stdinViewEvery
	in := make(chan Message, 256)
	readErr := make(chan error, 1)
	go func() {
		defer close(in)
		err := readLines(r, MaxStdinLine, func(line int64, v []byte) bool {
			select {
			case in <- Message{Offset: line, Value: v, Time: s.now()}:
				return true
			case <-ctx.Done():
				return false
			}
		}, func(line, size int64) {
			s.m.bad.WithLabelValues("too-long").Inc()
			s.log.Warn("bad message", "offset", line, "reason", "too-long", "bytes", size,
				"error", fmt.Sprintf("line of %d bytes is longer than the %d bytes a finding can be; skipped", size, MaxStdinLine))
		})
		readErr <- err
	}()
	s.ready.Store(true)
	err := w.run(ctx, in)
	select {
	case e := <-readErr:
		if e != nil {
			err = errors.Join(err, fmt.Errorf("read stdin: %w", e))
		}
	default:
	}
	return err
}

// readLines calls emit with each non-empty line of r (its 1-based number
// and its bytes, without the line end; emit owns them) until EOF, or until
// emit returns false. A line longer than max bytes is read past without
// being kept, and reported to tooLong with its size. Only a read error is
// returned.
func readLines(r io.Reader, max int, emit func(line int64, v []byte) bool, tooLong func(line, size int64)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf []byte
	var size int64 // bytes of the current line so far
	var n int64
	for {
		chunk, err := br.ReadSlice('\n')
		size += int64(len(chunk))
		if size <= int64(max)+1 { // +1: the line end
			buf = append(buf, chunk...)
		} else {
			buf = buf[:0]
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if size > 0 {
			n++
			switch {
			case size > int64(max)+1:
				tooLong(n, size)
			default:
				v := bytes.TrimRight(buf, "\r\n")
				if len(bytes.TrimSpace(v)) > 0 {
					if cap(buf) > 1<<20 {
						buf = nil // hand a large line over instead of copying it
					} else {
						v = bytes.Clone(v)
					}
					if !emit(n, v) {
						return nil
					}
				}
			}
		}
		buf, size = buf[:0], 0
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// timeoutChannel bounds one attempt, so a hanging provider becomes a
// retryable deadline error instead of a stuck partition.
type timeoutChannel struct {
	channel.Channel
	d time.Duration
}

func (c timeoutChannel) Send(ctx context.Context, n *channel.Notification) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.d)
	defer cancel()
	return c.Channel.Send(ctx, n)
}

// Command alert reads root-activity findings (from Kafka, or JSON lines on
// stdin), deduplicates and groups them into incidents, applies the
// allowlist and silences, routes them and delivers them to channels. All
// logic lives in internal/alert; this is flags, config, logging, HTTP and
// signals. See docs/alert.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/kafka"
)

const envPrefix = "ROOTWATCH_ALERT_"

const usageText = `Usage: alert --source kafka|- --config file [flags]

Consumes cloudtrail.root-activity (or JSON-line findings on stdin with
--source -), deduplicates by eventID, groups findings into incidents,
applies the allowlist and silences, and notifies the routed channels.

  ingest --source logs/ --sink stdout | alert --source - --config c.yaml

Every flag can also be set with ROOTWATCH_ALERT_<FLAG> (upper case, '-' as
'_') or its key in the config file (source, listen, log_level,
kafka.brokers, kafka.group, kafka.topic). Precedence: flag > environment >
config file > default. Secrets belong in the config file as ${ENV}
references, never in flags.

Flags:
`

type options struct {
	source, configPath, brokers, group, topic, listen, logLevel string
	checkConfig                                                 bool
	kafkaWait                                                   time.Duration
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("alert", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.source, "source", "", `where findings come from: "kafka" or "-" (stdin) (config: source; default kafka)`)
	fs.StringVar(&o.configPath, "config", "", "YAML config file")
	fs.StringVar(&o.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (config: kafka.brokers)")
	fs.StringVar(&o.group, "group", "", "consumer group (config: kafka.group; default "+alert.DefaultGroup+")")
	fs.StringVar(&o.topic, "topic", "", "findings topic (config: kafka.topic; default "+alert.DefaultTopic+")")
	fs.StringVar(&o.listen, "listen", "", "address for /metrics, /healthz, /readyz, /api/root-last-used (config: listen; default :9102 with kafka, off with stdin)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (config: log_level; default info)")
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate the config (and build the channels) and exit")
	fs.DurationVar(&o.kafkaWait, "kafka-wait", kafka.DefaultStartWait, "at start, how long to wait for a Kafka broker to answer, retrying, before failing (0: wait for ever)")
	fs.Usage = func() {}
	return fs
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status (0 ok, 1 runtime failure, 2 usage or config).
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if code, ok := config.Parse(fs, args, usageText, stdout, stderr); !ok {
		return code
	}
	if err := config.ApplyEnv(fs, envPrefix, lookup); err != nil {
		fmt.Fprintf(stderr, "alert: %v\n", err)
		return 2
	}
	cfg, err := loadConfig(fs, &o)
	if err != nil {
		fmt.Fprintf(stderr, "alert: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg.LogLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "alert: %v\n", err)
		return 2
	}
	// In stdin mode the console channel writes to stdout (the pipe's end).
	deps := channel.Deps{Logger: log, Stdout: stdout}
	svc, err := alert.New(cfg, alert.Options{Logger: log, ChannelDeps: deps, KafkaWait: o.kafkaWait})
	if err != nil {
		fmt.Fprintf(stderr, "alert: config %s: %v\n", o.configPath, err)
		return 2
	}
	defer svc.Close()
	if o.checkConfig {
		fmt.Fprintf(stdout, "config ok: source %s, %d channels, %d routes, %d silences, %d allowlist rules\n",
			cfg.Source, len(cfg.Channels), len(cfg.Routes), len(cfg.Silences), len(cfg.Allowlist))
		return 0
	}
	if cfg.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			fmt.Fprintf(stderr, "alert: listen %s: %v\n", cfg.Listen, err)
			return 1
		}
		srv := &http.Server{Handler: svc.Handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
		}()
		log.Info("http listening", "addr", ln.Addr().String())
	}
	if cfg.Source == "-" {
		err = svc.RunStdin(ctx, stdin)
	} else {
		err = svc.RunKafka(ctx)
	}
	if err != nil {
		log.Error("alert stopped", "error", err)
		return 1
	}
	log.Info("alert stopped")
	return 0
}

// loadConfig reads the config file and lets flags and environment variables
// that were given override it.
func loadConfig(fs *flag.FlagSet, o *options) (*alert.Config, error) {
	var cfg alert.Config
	if o.configPath != "" {
		if err := config.Load(o.configPath, &cfg); err != nil {
			return nil, err
		}
	}
	set := config.Explicit(fs)
	if set["source"] {
		cfg.Source = o.source
	}
	if set["brokers"] {
		cfg.Kafka.Brokers = nil
		for _, b := range strings.Split(o.brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				cfg.Kafka.Brokers = append(cfg.Kafka.Brokers, b)
			}
		}
	}
	if set["group"] {
		cfg.Kafka.Group = o.group
	}
	if set["topic"] {
		cfg.Kafka.Topic = o.topic
	}
	if set["listen"] {
		cfg.Listen = o.listen
	}
	if set["log-level"] {
		cfg.LogLevel = o.logLevel
	}
	cfg.SetDefaults()
	if cfg.Listen == "" && cfg.Source == "kafka" && !set["listen"] {
		cfg.Listen = ":9102"
	}
	if err := cfg.Validate(); err != nil {
		name := o.configPath
		if name == "" {
			name = "(no file)"
		}
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return &cfg, nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Command alert reads root-activity findings (from Kafka, or JSON lines on
// stdin), deduplicates and groups them into incidents, applies the
// allowlist and silences, routes them and delivers them to channels. All
// logic lives in internal/alert; this is flags, config, logging, HTTP and
// signals. See docs/alert.md.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"rootwatch/internal/alert"
	"rootwatch/internal/channel"
	"rootwatch/internal/cli"
	"rootwatch/internal/kafka"
)

const usageText = `Usage: alert --source kafka|- --config file [flags]

Consumes cloudtrail.root-activity (or JSON-line findings on stdin with
--source -), deduplicates by eventID, groups findings into incidents,
applies the allowlist and silences, and notifies the routed channels.

  ingest --source logs/ --sink stdout | alert --source - --config c.yaml

Grouping, routes, silences, the allowlist and the channels are set in the
config file only (docs/alert.md, docs/channels.md).`

// command declares alert's flag-level settings once (internal/cli): each is
// a field of cfg, so its config key is the field's; checkConfig is a flag only.
func command(cfg *alert.Config, checkConfig *bool) *cli.Command {
	c := &cli.Command{Name: "alert", Usage: usageText, Env: true, File: cfg}
	c.Enum(&cfg.Source, "source", alert.DefaultSource, []string{"kafka", "-"}, "where findings come from: kafka, or - (JSON lines on stdin)")
	c.List(&cfg.Kafka.Brokers, "brokers", nil, "Kafka bootstrap brokers, comma-separated host:port")
	c.Duration(&cfg.KafkaWait, "kafka-wait", kafka.DefaultStartWait, "at start, how long to wait for a Kafka broker to answer, retrying, before failing (0: wait for ever)")
	c.String(&cfg.Kafka.Group, "group", alert.DefaultGroup, "Kafka consumer group")
	c.String(&cfg.Kafka.Topic, "topic", alert.DefaultTopic, "findings topic")
	c.String(&cfg.Listen, "listen", "", "address for /metrics, /healthz, /readyz, /api/root-last-used, /api/status and the status page (when not set: "+defaultListen+" with --source kafka, off with stdin)")
	c.Logging(&cfg.LogLevel, &cfg.LogFormat, "info")
	c.Bool(checkConfig, "check-config", "validate the config (and build the channels) and exit")
	return c
}

// defaultListen is where alert serves HTTP when reading Kafka and told nothing.
const defaultListen = ":9102"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdin, os.Stdout, os.Stderr))
}

// run is the command; it returns the exit status (0 ok, 1 runtime failure, 2 usage or config).
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg alert.Config
	var checkConfig bool
	cmd := command(&cfg, &checkConfig)
	if code, ok := cmd.Parse(args, lookup, stdout, stderr); !ok {
		return code
	}
	cfg.SetDefaults()
	if cfg.Listen == "" && cfg.Source == "kafka" && !cmd.IsSet("listen") {
		cfg.Listen = defaultListen
	}
	if err := cfg.Validate(); err != nil {
		return cmd.Fail(stderr, cmd.Explain(err))
	}
	log := cmd.Logger(stderr)
	// In stdin mode the console channel writes to stdout (the pipe's end).
	deps := channel.Deps{Logger: log, Stdout: stdout}
	svc, err := alert.New(&cfg, alert.Options{Logger: log, ChannelDeps: deps, KafkaWait: cfg.KafkaWait})
	if err != nil {
		return cmd.Fail(stderr, cmd.Explain(err))
	}
	defer svc.Close()
	if checkConfig {
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

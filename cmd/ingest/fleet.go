package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rootwatch/internal/fleet"
	"rootwatch/internal/kafka"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/progress"
	"rootwatch/internal/source"
)

// checkModes rejects flags that do not go with the source: --plan is for
// an s3:// backfill into Kafka, --status and the worker for kafka://.
func checkModes(kind string, s settings) error {
	switch {
	case s.Plan && s.Status:
		return errors.New("--plan and --status do not go together")
	case s.Plan && kind != "s3":
		return errors.New("--plan plans an s3:// backfill: give --source 's3://bucket/prefix?from=YYYY-MM-DD…'")
	case s.Plan && s.Sink != "kafka":
		return errors.New("--plan writes the work items to Kafka: give --sink kafka")
	case s.Plan && s.Checkpoint != "":
		return errors.New("--checkpoint is for a backfill in one process; a plan resumes from Kafka")
	case s.Status && kind != "kafka":
		return errors.New("--status reads a fleet backfill: give --source kafka://<plan topic>")
	case kind == "kafka" && !s.Status && s.Sink != "kafka":
		return errors.New("a backfill worker (--source kafka://…) writes to Kafka: give --sink kafka")
	case kind == "kafka" && s.Checkpoint != "":
		return errors.New("--checkpoint is for a backfill in one process; a fleet's progress is in Kafka")
	case s.Sink == "" && !s.Status:
		return errors.New("--sink is required (or set ROOTWATCH_INGEST_SINK, or sink in the config file)")
	}
	return nil
}

// planTopic is the topic of a kafka://<topic> source.
func planTopic(src string) (string, error) {
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "kafka" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		return "", fmt.Errorf("source %q: want kafka://<plan topic>, e.g. kafka://%s", src, fleet.DefaultTopic)
	}
	return u.Host, nil
}

// planTopics creates (with --create-topics) and waits for a plan topic and
// its state topic.
func planTopics(ctx context.Context, s settings, topic string, log *slog.Logger) error {
	if err := s.Kafka.Validate(); err != nil {
		return usageError{fmt.Errorf("%w (set --brokers or kafka.brokers)", err)}
	}
	if s.CreateTopics {
		if _, err := kafka.WaitForTopics(ctx, s.Kafka, s.KafkaWait, log); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := fleet.EnsureTopics(cctx, s.Kafka, topic, s.BackfillPartitions, s.ReplicationFactor)
		cancel()
		if err != nil {
			return err
		}
	}
	if _, err := kafka.WaitForTopics(ctx, s.Kafka, s.KafkaWait, log, topic, fleet.StateTopic(topic)); err != nil {
		if errors.Is(err, kafka.ErrUnknownTopic) {
			return fmt.Errorf("%w (run the planner, ingest --source 's3://…' --sink kafka --plan, with --create-topics; or create %s and %s)",
				err, topic, fleet.StateTopic(topic))
		}
		return err
	}
	return nil
}

// runPlan is --plan: the planner of a fleet backfill.
func runPlan(ctx context.Context, s settings, stderr io.Writer, log *slog.Logger) error {
	spec, err := source.ParseBackfillURL(s.Source, time.Now())
	if err != nil {
		return usageError{err}
	}
	if err := planTopics(ctx, s, s.TopicBackfill, log); err != nil {
		return err
	}
	_, s3c, err := awsClients(ctx, s)
	if err != nil {
		return err
	}
	sum, err := fleet.RunPlan(ctx, fleet.PlanOptions{Kafka: s.Kafka, Topic: s.TopicBackfill, S3: s3c, Spec: spec,
		ItemObjects: s.ItemObjects, ListConcurrency: s.ListConcurrency, Logger: log, Writer: kafka.WriterOptions{Compression: s.Compression}})
	fmt.Fprintf(stderr, "ingest: plan %s of %s: %d items, %d objects, %s; complete=%v\n",
		s.TopicBackfill, sum.Source, sum.Items, sum.Objects, progress.HumanBytes(sum.Bytes), sum.Complete)
	return err
}

// runStatus is --status: how far the fleet is, once, or followed until it
// is complete (a bar on a terminal, or log lines).
func runStatus(ctx context.Context, s settings, stdout, stderr io.Writer, log *slog.Logger) error {
	topic, err := planTopic(s.Source)
	if err != nil {
		return usageError{err}
	}
	if err := planTopics(ctx, s, topic, log); err != nil {
		return err
	}
	o := fleet.StatusOptions{Kafka: s.Kafka, Topic: topic, Group: s.Group}
	follow, terminal := false, false
	switch s.Progress {
	case "auto":
		follow, terminal = isTerminal(stderr), true
	case "bar":
		follow, terminal = true, true
	case "log":
		follow = true
	}
	if !follow {
		st, err := fleet.ReadStatus(ctx, o)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, st.Report())
		return nil
	}
	_, err = fleet.Watch(ctx, o, stderr, terminal, 0)
	return err
}

// runWorker is a kafka://<plan topic> source: one worker of a fleet backfill.
func runWorker(ctx context.Context, s settings, common pipeline.Common, reg *prometheus.Registry, ready func(), stderr io.Writer, log *slog.Logger) error {
	topic, err := planTopic(s.Source)
	if err != nil {
		return usageError{err}
	}
	if err := planTopics(ctx, s, topic, log); err != nil {
		return err
	}
	_, s3c, err := awsClients(ctx, s)
	if err != nil {
		return err
	}
	ready()
	sum, err := fleet.RunWorker(ctx, fleet.WorkerOptions{Common: common, Kafka: s.Kafka, Topic: topic, Group: s.Group, S3: s3c,
		MaxInFlight: s.MaxInFlight, Rate: s.Rate, SessionTimeout: s.SessionTimeout, FleetMetrics: fleet.NewMetrics(reg)})
	fmt.Fprintf(stderr, "ingest: backfill worker: %d items (%d dead-lettered), %d objects, %d records, %d findings, %d objects dead-lettered; backfill complete=%v\n",
		sum.Items, sum.DeadLetteredItems, sum.Objects, sum.Records, sum.Findings, sum.DeadLettered, sum.Complete)
	return err
}

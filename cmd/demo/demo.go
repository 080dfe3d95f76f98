package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"rootwatch/internal/alert"
	"rootwatch/internal/channel"
	"rootwatch/internal/cli"
	"rootwatch/internal/config"
	"rootwatch/internal/gen"
	"rootwatch/internal/kafka"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/source"
	"rootwatch/internal/source/s3test"
)

// options are the demo's knobs (flags in main.go).
type options struct {
	Seed      uint64
	Size      int64   // uncompressed bytes of CloudTrail logs to generate
	RootShare float64 // probability that a record is root activity
	Timeout   time.Duration
	// Serve, when set, serves alert's status page, /metrics and the API
	// there after the run until ctx ends.
	Serve string
	// LogLevel and LogFormat set up the logger (internal/cli.NewLogger).
	LogLevel, LogFormat string
	// Now is the clock the generated logs are placed by (nil: time.Now).
	Now func() time.Time
	// S3Delay is how long after its EventBridge event the log file of the
	// root call shown by both paths is notified (CloudTrail's delivery
	// delay, shortened).
	S3Delay time.Duration
}

// summary is what one demo run did; its String is the last line printed.
type summary struct {
	Files    int
	Records  int64
	Findings int
	Alerts   int
}

func (s summary) String() string {
	return fmt.Sprintf("demo: %d files, %d records, %d root findings, %d alerts dispatched", s.Files, s.Records, s.Findings, s.Alerts)
}

const (
	demoBucket   = "rootwatch-trail"
	demoQueueURL = "https://sqs.us-east-1.amazonaws.com/000000000000/rootwatch-demo"
	demoOrg      = "o-demo000001"
)

// alertConfig is the alert configuration of the demo, in the same YAML an
// operator writes (and decoded by the same strict loader).
const alertConfig = `
source: kafka
kafka:
  brokers: [%q]
  client_id: rootwatch-demo-alert
  group: rootwatch-demo
  heartbeat_interval: 500ms
  session_timeout: 10s
grouping:
  by: [accountId, category, sourceIPAddress]
  window: 1h
  group_interval: 300ms
  max_findings: 1000
root_unused_days: 7
delivery: {max_attempts: 3, backoff: 100ms, max_backoff: 1s, max_elapsed: 10s, timeout: 5s}
channels:
  - name: console
    type: console
  - name: webhook
    type: webhook
    url: %q
routes:
  - name: everything
    match: {}
    channels: [console, webhook]
`

// run is the whole demo: an embedded Kafka and S3, generated CloudTrail
// logs uploaded with their S3 event notifications queued, the real ingest
// pipeline (SQS source → S3 → split → match → Kafka), and the real alert
// service (Kafka → dedup → group → console and webhook channels). It checks
// the findings and what the channels received against the generator's truth.
func run(ctx context.Context, o options, stdout, stderr io.Writer) (summary, error) {
	var sum summary
	if o.Now == nil {
		o.Now = time.Now
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	log := cli.NewLogger(stderr, o.LogLevel, o.LogFormat)
	say := func(format string, a ...any) { fmt.Fprintf(stderr, "demo: "+format+"\n", a...) }

	// Kafka: one in-process broker with the ingest topics.
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1),
		kfake.SeedTopics(3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ))
	if err != nil {
		return sum, fmt.Errorf("start kafka: %w", err)
	}
	defer cluster.Close()
	kcfg := kafka.Config{Brokers: cluster.ListenAddrs(), ClientID: "rootwatch-demo-ingest"}

	// S3: gofakes3 behind a loopback HTTP server.
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithoutVersioning(),
		gofakes3.WithLogger(gofakes3.DiscardLog())).Server())
	defer s3srv.Close()
	s3c := s3test.NewClient(s3srv.URL)
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(demoBucket)}); err != nil {
		return sum, fmt.Errorf("create bucket %s: %w", demoBucket, err)
	}
	say("kafka at %s, s3 at %s, bucket %s", kcfg.Brokers[0], s3srv.URL, demoBucket)

	// The webhook channel's receiver.
	hook := newReceiver()
	hooksrv := httptest.NewServer(hook)
	defer hooksrv.Close()

	// alert: the service, as cmd/alert builds it.
	var acfg alert.Config
	if err := config.Decode([]byte(fmt.Sprintf(alertConfig, kcfg.Brokers[0], hooksrv.URL+"/rootwatch")), &acfg); err != nil {
		return sum, fmt.Errorf("alert config: %w", err)
	}
	acfg.SetDefaults()
	if err := acfg.Validate(); err != nil {
		return sum, fmt.Errorf("alert config: %w", err)
	}
	var (
		sentMu sync.Mutex
		sent   = map[string]int{}
	)
	svc, err := alert.New(&acfg, alert.Options{
		Logger:      log.With("component", "alert"),
		ChannelDeps: channel.Deps{Logger: log, Stdout: stdout},
		OnSent: func(ch string, _ *channel.Notification, _ time.Time) {
			sentMu.Lock()
			sent[ch]++
			sentMu.Unlock()
		},
	})
	if err != nil {
		return sum, fmt.Errorf("alert: %w", err)
	}
	defer svc.Close()
	actx, stopAlert := context.WithCancel(ctx)
	defer stopAlert()
	alertDone := make(chan error, 1)
	go func() { alertDone <- svc.RunKafka(actx) }()

	// ingest: the SQS pipeline into Kafka.
	reg := prometheus.NewRegistry()
	metrics := pipeline.NewMetrics(reg)
	sink, err := kafka.NewSink(kcfg, kafka.SinkOptions{Observe: metrics.ObserveKafka, Logger: log,
		Writer: kafka.WriterOptions{BatchTimeout: 5 * time.Millisecond}})
	if err != nil {
		return sum, fmt.Errorf("kafka sink: %w", err)
	}
	q := newQueue(demoQueueURL)
	ictx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	ingestDone := make(chan error, 1)
	go func() {
		ingestDone <- pipeline.RunSQS(ictx, pipeline.SQSRun{
			Common: pipeline.Common{Sink: sink, Metrics: metrics, Logger: log.With("component", "ingest"),
				Workers: 4, ShutdownGrace: 10 * time.Second, MissingRetries: 3, MissingBackoff: 200 * time.Millisecond},
			SQS: q, S3: s3c,
			Source:      source.SQSOptions{QueueURL: demoQueueURL, WaitTime: time.Second, VisibilityTimeout: 30 * time.Second, MaxInFlight: 16},
			MaxReceives: 5,
		})
	}()

	// CloudTrail delivers log files to the bucket; S3 notifies the queue.
	// One root call also comes through EventBridge, its log file later.
	rt := newRealtime(o.S3Delay, q.Send)
	start := o.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	truth, err := gen.Generate(gen.Config{Seed: o.Seed, TargetBytes: o.Size, Files: 10000, RootShare: o.RootShare,
		OrgID: demoOrg, Bucket: demoBucket, Start: start, RecordsPerFile: 100},
		func(key string, gz []byte) error {
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(demoBucket), Key: aws.String(key),
				Body: bytes.NewReader(gz), ContentLength: aws.Int64(int64(len(gz)))}); err != nil {
				return fmt.Errorf("put s3://%s/%s: %w", demoBucket, key, err)
			}
			return rt.deliver(gz, s3Notification(demoBucket, key, int64(len(gz)), o.Now()))
		})
	if err != nil {
		return sum, fmt.Errorf("generate: %w", err)
	}
	sum.Files, sum.Records = truth.Files, truth.Records
	want := truth.EventIDs()
	wantCalls, used := sessionsOf(truth)
	say("uploaded %d CloudTrail files (%.1f MB, %.1f MB gzipped, %d records: %d root, %d sts:AssumeRoot calls, %d look-alikes) and queued their S3 notifications",
		truth.Files, float64(truth.Bytes)/1e6, float64(truth.GzBytes)/1e6, truth.Records, len(want), len(wantCalls), truth.Lookalikes)

	// Ingest is done when every notification was deleted, which happens only
	// after Kafka acknowledged everything its object produced.
	rtID, rtName := rt.chosen()
	if rtID != "" {
		say("root call %s %s sent by EventBridge; its log file follows in %s (CloudTrail's delay, shortened)", rtName, rtID, o.S3Delay)
		select {
		case <-rt.heldBack():
		case <-ctx.Done():
			return sum, fmt.Errorf("waiting for the held-back log file: %w", ctx.Err())
		}
	}
	if err := waitFor(ctx, "ingest to settle every notification", func() bool { return q.Len() == 0 }); err != nil {
		return sum, err
	}
	stopIngest()
	if err := <-ingestDone; err != nil {
		return sum, fmt.Errorf("ingest: %w", err)
	}
	if err := sink.Close(); err != nil {
		return sum, fmt.Errorf("close kafka sink: %w", err)
	}

	// What ingest wrote to Kafka.
	counts := map[string]int64{}
	for _, t := range []string{kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ} {
		counts[t], err = topicSize(ctx, kcfg.Brokers, t)
		if err != nil {
			return sum, err
		}
	}
	all, err := readFindings(ctx, kcfg.Brokers, counts[kafka.TopicRootActivity])
	if err != nil {
		return sum, err
	}
	var findings []match.Finding // root activity from the log files; the real-time copy aside
	var calls []string           // the sts:AssumeRoot calls (not root activity)
	var fromEventBridge []string
	for _, f := range all {
		switch {
		case f.Path == match.PathEventBridge:
			fromEventBridge = append(fromEventBridge, f.EventID)
		case f.Rule == match.RuleRootSessionIssued:
			calls = append(calls, f.EventID)
		default:
			findings = append(findings, f)
		}
	}
	sum.Findings = len(findings)
	say("ingest wrote %d records, %d findings and %d dead letters to Kafka", counts[kafka.TopicRecords], counts[kafka.TopicRootActivity], counts[kafka.TopicDLQ])

	// alert is done when the channels have heard about every root event,
	// and of every centralised-root session who opened it (at once, or in
	// an update when its sts:AssumeRoot call came after its actions).
	err = waitFor(ctx, "alert to notify every root event and name who opened each session", func() bool {
		return len(hook.eventIDs()) >= len(want) && len(hook.joins()) >= len(used) && hook.quietFor(time.Second)
	})
	var saved float64
	if err == nil && rtID != "" {
		err = waitFor(ctx, "alert to absorb the log file's copy of "+rtID, func() bool {
			for _, ps := range svc.PathStats() {
				if ps.Path == string(match.PathEventBridge) && ps.ThenOther >= 1 {
					saved = ps.OtherLaterMean
					return hook.quietFor(time.Second)
				}
			}
			return false
		})
	}
	sentMu.Lock()
	sum.Alerts = sent["console"]
	webhookSent := sent["webhook"]
	sentMu.Unlock()

	// The checks: what came out equals what was put in.
	var problems []error
	if err != nil {
		problems = append(problems, err)
	}
	check := func(ok bool, format string, a ...any) {
		if !ok {
			problems = append(problems, fmt.Errorf(format, a...))
		}
	}
	got := make([]string, 0, len(findings))
	for _, f := range findings {
		got = append(got, f.EventID)
	}
	sort.Strings(got)
	sort.Strings(calls)
	joins := hook.joins()
	atOpen := 0
	for _, kind := range joins {
		if kind == string(channel.KindOpen) {
			atOpen++
		}
	}
	check(len(want) > 0, "the generator wrote no root activity (seed %d, size %d): nothing to show", o.Seed, o.Size)
	check(slices.Equal(got, want), "findings in Kafka differ from the generator's truth: %s", diff(want, got))
	check(counts[kafka.TopicRecords] == truth.Records, "records topic holds %d records, the generator wrote %d", counts[kafka.TopicRecords], truth.Records)
	check(counts[kafka.TopicDLQ] == 0, "%d dead letters, want none", counts[kafka.TopicDLQ])
	check(slices.Equal(hook.eventIDs(), want), "the webhook received root events that differ from the truth: %s", diff(want, hook.eventIDs()))
	check(slices.Equal(calls, wantCalls), "sts:AssumeRoot findings in Kafka differ from the calls the generator wrote: %s", diff(wantCalls, calls))
	check(len(joins) == len(used), "the webhook was told who opened %d of the %d centralised root sessions used", len(joins), len(used))
	for key := range joins {
		check(used[key], "the webhook was told who opened session %s, which the generator did not use", key)
	}
	if len(used) > 0 {
		say("centralised root sessions: %d opened by sts:AssumeRoot calls, %d used in the logs; %d joined with who opened them (%d when the incident opened, %d by an update)",
			len(wantCalls), len(used), len(joins), atOpen, len(joins)-atOpen)
	}
	check(sum.Alerts > 0 && sum.Alerts == webhookSent && webhookSent == hook.count(),
		"console got %d notifications, webhook channel sent %d, receiver got %d: want the same, and more than 0", sum.Alerts, webhookSent, hook.count())
	check(hook.badRequests() == 0, "the webhook receiver rejected %d requests", hook.badRequests())
	if rtID != "" {
		check(slices.Equal(fromEventBridge, []string{rtID}), "findings from EventBridge %v, want the one root call sent that way (%s)", fromEventBridge, rtID)
		n := hook.pagesOf(rtID)
		check(n == 1, "the root call that came by both paths is in %d notifications, want 1", n)
		if n == 1 && err == nil {
			say("real time: root call %s %s paged once: EventBridge brought it %.2fs before its log file (the time saved; CloudTrail's delay is --s3-delay %s here, about 5 minutes in AWS)",
				rtName, rtID, saved, o.S3Delay)
		}
	}

	if o.Serve != "" && len(problems) == 0 {
		// The status page of the running alert service, until Ctrl-C.
		if err := serve(parent, o.Serve, svc.Handler(), say); err != nil {
			problems = append(problems, err)
		}
	}
	stopAlert()
	if aerr := <-alertDone; aerr != nil {
		problems = append(problems, fmt.Errorf("alert: %w", aerr))
	}
	return sum, errors.Join(problems...)
}

// sessionsOf is what the generator wrote about centralised-root sessions:
// the eventIDs of its sts:AssumeRoot calls (sorted) and the access keys of
// the sessions some root event acted with.
func sessionsOf(t gen.Truth) ([]string, map[string]bool) {
	var calls []string
	for _, s := range t.Sessions {
		calls = append(calls, s.EventID)
	}
	sort.Strings(calls)
	used := map[string]bool{}
	for _, r := range t.Root {
		if r.Session != "" {
			used[r.Session] = true
		}
	}
	return calls, used
}

// serve shows alert's status page until ctx ends (Ctrl-C, or the timeout).
func serve(ctx context.Context, addr string, h http.Handler, say func(string, ...any)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--serve %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	say("status page at http://%s/ (Ctrl-C to stop)", ln.Addr())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// s3Notification is the body S3 sends to SQS for one new object (event
// notification structure, version 2.1).
func s3Notification(bucket, key string, size int64, at time.Time) string {
	type obj struct {
		Key  string `json:"key"`
		Size int64  `json:"size"`
	}
	rec := map[string]any{
		"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
		"eventTime": at.UTC().Format("2006-01-02T15:04:05.000Z"), "eventName": "ObjectCreated:Put",
		"userIdentity": map[string]string{"principalId": "AWS:CLOUDTRAIL"},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0", "configurationId": "rootwatch",
			"bucket": map[string]string{"name": bucket, "arn": "arn:aws:s3:::" + bucket},
			"object": obj{Key: url.QueryEscape(key), Size: size},
		},
	}
	b, _ := json.Marshal(map[string]any{"Records": []any{rec}})
	return string(b)
}

// topicSize is the number of messages in topic (the sum of its partitions'
// end offsets, from a ListOffsets request).
func topicSize(ctx context.Context, brokers []string, topic string) (int64, error) {
	n, err := kafka.Partitions(ctx, kafka.Config{Brokers: brokers}, topic)
	if err != nil {
		return 0, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range n {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = int32(p)
		rp.Timestamp = -1 // the end
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("list offsets of %s: %w", topic, err)
	}
	var total int64
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return 0, fmt.Errorf("list offsets of %s/%d: %w", topic, p.Partition, err)
			}
			total += p.Offset
		}
	}
	return total, nil
}

// readFindings reads n findings from the start of the findings topic.
func readFindings(ctx context.Context, brokers []string, n int64) ([]match.Finding, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(kafka.TopicRootActivity),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []match.Finding
	for int64(len(out)) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("read %s: %d of %d findings: %w", kafka.TopicRootActivity, len(out), n, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) { ferr = fmt.Errorf("read %s/%d: %w", t, p, err) })
		if ferr != nil {
			return out, ferr
		}
		fs.EachRecord(func(r *kgo.Record) {
			var f match.Finding
			if err := json.Unmarshal(r.Value, &f); err != nil {
				ferr = fmt.Errorf("finding at %s/%d@%d is not JSON: %w", r.Topic, r.Partition, r.Offset, err)
			}
			out = append(out, f)
		})
		if ferr != nil {
			return out, ferr
		}
	}
	return out, nil
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// diff names what is missing from got and what is extra, briefly.
func diff(want, got []string) string {
	in := func(s []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range s {
			m[x] = true
		}
		return m
	}
	w, g := in(want), in(got)
	var missing, extra []string
	for x := range w {
		if !g[x] {
			missing = append(missing, x)
		}
	}
	for x := range g {
		if !w[x] {
			extra = append(extra, x)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	cut := func(s []string) []string { return s[:min(len(s), 5)] }
	return fmt.Sprintf("want %d, got %d (%d entries); missing %d %v, extra %d %v",
		len(w), len(g), len(got), len(missing), cut(missing), len(extra), cut(extra))
}

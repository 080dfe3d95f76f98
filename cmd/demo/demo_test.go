package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/source"
)

var summaryLine = regexp.MustCompile(`^demo: (\d+) files, (\d+) records, (\d+) root findings, (\d+) alerts dispatched$`)

// The demo end to end: exit 0, exactly one summary line, last, with the
// numbers the run reported, and each alert printed as it was dispatched.
func TestDemoRunsAndChecksItself(t *testing.T) {
	var out, errb bytes.Buffer
	code := runArgs(context.Background(), []string{"--size-mb", "2", "--seed", "7", "--root-share", "0.004", "--timeout", "90s"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	var summaries []string
	for _, l := range lines {
		if strings.HasPrefix(l, "demo: ") {
			summaries = append(summaries, l)
		}
	}
	if len(summaries) != 1 || summaries[0] != lines[len(lines)-1] {
		t.Fatalf("want exactly one summary line, last; got %q", summaries)
	}
	m := summaryLine.FindStringSubmatch(summaries[0])
	if m == nil {
		t.Fatalf("summary line %q does not match %s", summaries[0], summaryLine)
	}
	n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
	if n(1) == 0 || n(2) == 0 || n(3) == 0 || n(4) == 0 {
		t.Fatalf("summary has a zero: %q", summaries[0])
	}
	alerts := 0
	for _, l := range lines[:len(lines)-1] {
		if regexp.MustCompile(` (OPEN|UPDATE|REPEAT|RESOLVE)\s`).MatchString(l) {
			alerts++
		}
	}
	if alerts != n(4) {
		t.Fatalf("printed %d alert lines, summary says %d\n%s", alerts, n(4), out.String())
	}
	// Findings: the root events, the sts:AssumeRoot calls that opened
	// sessions, and the real-time copy of the root call shown by both paths.
	up := regexp.MustCompile(`(?m)^demo: uploaded \d+ CloudTrail files .* (\d+) sts:AssumeRoot calls, `).FindStringSubmatch(errb.String())
	if up == nil {
		t.Fatalf("stderr does not say how many sts:AssumeRoot calls were uploaded:\n%s", errb.String())
	}
	calls, _ := strconv.Atoi(up[1])
	if !strings.Contains(errb.String(), fmt.Sprintf("ingest wrote %d records, %d findings and 0 dead letters", n(2), n(3)+calls+1)) {
		t.Fatalf("stderr does not report what ingest wrote:\n%s", errb.String())
	}
	// Every session used was joined with who opened it, and the console
	// says so in a session incident.
	ss := regexp.MustCompile(`(?m)^demo: centralised root sessions: (\d+) opened by sts:AssumeRoot calls, (\d+) used in the logs; (\d+) joined with who opened them`).FindStringSubmatch(errb.String())
	if ss == nil || ss[1] != strconv.Itoa(calls) || ss[2] == "0" || ss[3] != ss[2] {
		t.Fatalf("stderr does not show every session used joined with who opened it (%q):\n%s", ss, errb.String())
	}
	if !regexp.MustCompile(`(?m) (OPEN|UPDATE) .*Centralised root session \(AssumeRoot\) in account \d{12}\b.*note: session opened by arn:aws:sts::\d{12}:assumed-role/`).MatchString(out.String()) {
		t.Fatalf("no session incident on the console names who opened it:\n%s", out.String())
	}
	if !regexp.MustCompile(`(?m)^demo: real time: root call \S+ \S+ paged once: EventBridge brought it \d+\.\d+s before its log file`).MatchString(errb.String()) {
		t.Fatalf("stderr does not show the root call that came by both paths, paged once:\n%s", errb.String())
	}
}

// The self-check fails the demo when the truth cannot be shown: with no
// root activity generated, it exits 1 and says why.
func TestDemoFailsWhenItsCheckFails(t *testing.T) {
	var out, errb bytes.Buffer
	code := runArgs(context.Background(), []string{"--size-mb", "1", "--root-share", "-1", "--timeout", "60s"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "FAILED") || !strings.Contains(errb.String(), "no root activity") {
		t.Fatalf("stderr does not explain the failure:\n%s", errb.String())
	}
}

func TestBadFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runArgs(context.Background(), []string{"--size-mb", "0"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

// The in-process queue keeps the SQS semantics the source relies on.
func TestQueueSemantics(t *testing.T) {
	ctx := context.Background()
	q := newQueue(demoQueueURL)
	url, err := source.ResolveQueueURL(ctx, q, "sqs://rootwatch-demo")
	if err != nil || url != demoQueueURL {
		t.Fatalf("resolve: %q %v", url, err)
	}
	q.Send(`{"a":1}`)
	recv := func(vis int32, wait int32) []types.Message {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10, VisibilityTimeout: vis, WaitTimeSeconds: wait})
		if err != nil {
			t.Fatal(err)
		}
		return out.Messages
	}
	m1 := recv(1, 0)
	if len(m1) != 1 || m1[0].Attributes["ApproximateReceiveCount"] != "1" || m1[0].Attributes["SentTimestamp"] == "" {
		t.Fatalf("first receive: %+v", m1)
	}
	if got := recv(1, 0); len(got) != 0 {
		t.Fatalf("an invisible message was received again")
	}
	// Not deleted in time: it comes back (the long poll waits for it), with a new receipt handle.
	m2 := recv(30, 5)
	if len(m2) != 1 || m2[0].Attributes["ApproximateReceiveCount"] != "2" || *m2[0].ReceiptHandle == *m1[0].ReceiptHandle {
		t.Fatalf("redelivery: %+v", m2)
	}
	// The stale handle cannot delete; the current one can.
	del := func(h *string) *sqs.DeleteMessageBatchOutput {
		out, err := q.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url),
			Entries: []types.DeleteMessageBatchRequestEntry{{Id: aws.String("0"), ReceiptHandle: h}}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := del(m1[0].ReceiptHandle); len(out.Failed) != 1 || q.Len() != 1 {
		t.Fatalf("stale receipt handle deleted the message: %+v", out)
	}
	if _, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(url), ReceiptHandle: m2[0].ReceiptHandle, VisibilityTimeout: 0}); err != nil {
		t.Fatal(err)
	}
	m3 := recv(30, 1)
	if len(m3) != 1 {
		t.Fatalf("released message not received again")
	}
	if out := del(m3[0].ReceiptHandle); len(out.Successful) != 1 || q.Len() != 0 {
		t.Fatalf("delete: %+v, %d left", out, q.Len())
	}
	start := time.Now()
	if got := recv(30, 1); len(got) != 0 || time.Since(start) < 500*time.Millisecond {
		t.Fatalf("empty queue: got %d messages without long-polling", len(got))
	}
	if _, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String("https://elsewhere/q")}); err == nil {
		t.Fatalf("unknown queue URL accepted")
	}
}

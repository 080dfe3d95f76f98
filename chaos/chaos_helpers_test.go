package chaos

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/gen"
	"rootwatch/internal/source/s3test"
)

var (
	binOnce sync.Once
	binDir  string
	binErr  string
)

// binaries builds the commands once per test binary run.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		d, err := os.MkdirTemp("", "chaos-bin-")
		if err != nil {
			binErr = err.Error()
			return
		}
		binDir = d
		binErr = buildInto(d)
	})
	if binErr != "" {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goodFiles generates n CloudTrail files with root activity and returns
// their keys, gzipped bodies, raw records and root eventIDs.
type goodSet struct {
	keys    []string
	bodies  map[string][]byte
	records map[string][][]byte
	roots   map[string][]string // key -> root eventIDs
	calls   map[string][]string // key -> eventIDs of sts:AssumeRoot calls (findings, not root activity)
}

func genGood(t *testing.T, seed uint64, n, perFile int) *goodSet {
	t.Helper()
	g := &goodSet{bodies: map[string][]byte{}, records: map[string][][]byte{}, roots: map[string][]string{}, calls: map[string][]string{}}
	truth, err := gen.Generate(gen.Config{Seed: seed, Files: n, RecordsPerFile: perFile, RootShare: 0.1, Workers: 1}, func(key string, gz []byte) error {
		if cloudtrail.IsDigest(key) {
			return nil
		}
		g.keys = append(g.keys, key)
		g.bodies[key] = bytes.Clone(gz) // gen reuses its buffers
		r, err := cloudtrail.NewReader(bytes.NewReader(gz), cloudtrail.Options{})
		if err != nil {
			return err
		}
		defer r.Close()
		for {
			raw, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			g.records[key] = append(g.records[key], bytes.Clone(raw))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range truth.Root {
		g.roots[r.Key] = append(g.roots[r.Key], r.EventID)
	}
	for _, c := range truth.Sessions {
		g.calls[c.Key] = append(g.calls[c.Key], c.EventID)
	}
	return g
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return buf.Bytes()
}

func putAll(t *testing.T, s *s3test.Server, bucket string, objs map[string][]byte) {
	t.Helper()
	for k, v := range objs {
		s.Put(t, bucket, k, v)
	}
}

func sendSQS(t *testing.T, c *sqs.Client, queue, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// waitQueueEmpty waits until no message is left in queue (visible or in
// flight): every notification was settled (deleted).
func waitQueueEmpty(t *testing.T, c *sqs.Client, queue string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queue),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		cancel()
		if err == nil && out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)] == "0" &&
			out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)] == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue not empty after %v (%v, %v)", timeout, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type createBucket struct{ name string }

func (c *createBucket) in() *s3.CreateBucketInput {
	return &s3.CreateBucketInput{Bucket: aws.String(c.name)}
}

func putS3(t *testing.T, c *s3.Client, bucket, key string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put: %v", err)
	}
}

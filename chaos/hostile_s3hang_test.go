package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"rootwatch/internal/kafka"
	"rootwatch/internal/kafka/kafkatest"
	"rootwatch/internal/source/s3test"
	"rootwatch/internal/testutil"
)

// TestIngestSurvivesHungS3: the first GetObject of an object never gets an
// answer (the S3 connection hangs, as a half-dead load balancer does); the
// second is answered. ingest must give up on the hung request and retry,
// so the object's root events reach Kafka within two minutes.
//
// Fixed by S3Opener.IdleTimeout (--s3-idle-timeout): the hung read is
// abandoned and retried.
func TestIngestSurvivesHungS3(t *testing.T) {
	fq := startFauxqs(t)
	bin := binaries(t)
	good := genGood(t, 9, 1, 50)
	key := good.keys[0]
	if len(good.roots[key]) == 0 {
		t.Fatal("generated file has no root event")
	}
	fs3 := NewFaultyS3()
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "CloudTrail") && gets.Add(1) == 1 {
			<-r.Context().Done() // never answered
			return
		}
		fs3.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c := s3test.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, (&createBucket{hostileBucket}).in()); err != nil {
		t.Fatal(err)
	}
	putS3(t, c, hostileBucket, key, good.bodies[key])

	_, kcfg := kafkatest.Cluster(t, 3, kafka.TopicRecords, kafka.TopicRootActivity, kafka.TopicDLQ)
	queue := fq.CreateQueue(t, fmt.Sprintf("hung-%d", time.Now().UnixNano()), 30)
	b, _ := json.Marshal(map[string]any{"s3Bucket": hostileBucket, "s3ObjectKey": []string{key}})
	sendSQS(t, fq.SQS(), queue, string(b))

	cmd := exec.Command(filepath.Join(bin, "ingest"), "--source", "sqs://"+queue, "--sink", "kafka", "--brokers", kcfg.Brokers[0],
		"--sqs-endpoint", fq.Endpoint, "--s3-endpoint", srv.URL, "--s3-path-style", "--region", "us-east-1",
		"--wait-time", "1s", "--visibility-timeout", "10s", "--s3-idle-timeout", "3s", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	want := good.roots[key]
	got := map[string]bool{}
	for _, r := range kafkatest.ReadAll(t, kcfg, kafka.TopicRootActivity, len(want)+len(good.calls[key]), 2*time.Minute) {
		got[gjson.GetBytes(r.Value, "eventID").Str] = true
	}
	for _, id := range want {
		if !got[id] {
			t.Errorf("root event %s never reached Kafka within 2 minutes: the hung GetObject was never abandoned (%d GETs)\n%s", id, gets.Load(), out.String())
			break
		}
	}
}

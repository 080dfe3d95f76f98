package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"rootwatch/internal/match"
	"rootwatch/internal/testutil"
)

// The secrets: each distinctive, so that a substring search finds any leak.
var secrets = map[string]string{
	"AWS_SECRET_ACCESS_KEY":       "awsSecretKEY0x5ecre7zzQQ0001",
	"AWS_SESSION_TOKEN":           "awsSessionTOKEN0x5ecre7zzQQ0002",
	"TEST_KAFKA_PASSWORD":         "kafkaPASSWORD0x5ecre7zzQQ0003",
	"TEST_WEBHOOK_TOKEN":          "webhookURLTOKEN0x5ecre7zzQQ0004",
	"TEST_WEBHOOK_SIGNING":        "webhookSIGNING0x5ecre7zzQQ0005",
	"TEST_SLACK_PATH":             "slackHOOKPATH0x5ecre7zzQQ0006",
	"ROOTWATCH_AUDIT_EXTERNAL_ID": "auditEXTERNALID0x5ecre7zzQQ0007",
}

func secretEnv() []string {
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID=AKIATESTNOTSECRET", "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true")
	for k, v := range secrets {
		env = append(env, k+"="+v)
	}
	return env
}

// failing answers every request with a 500 (or a 403 for AWS-looking
// requests every other time) and counts them, so a test can prove the
// error paths were taken.
type failing struct {
	mu sync.Mutex
	n  int
}

func (f *failing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	if n%2 == 0 {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>denied</Message></Error></ErrorResponse>`)
		return
	}
	http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
}

func (f *failing) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// checkNoSecret fails when any secret appears in text.
func checkNoSecret(t *testing.T, where, text string) {
	t.Helper()
	for name, v := range secrets {
		if strings.Contains(text, v) {
			i := strings.Index(text, v)
			t.Errorf("%s leaks %s: ...%s...", where, name, text[max(0, i-200):min(len(text), i+len(v)+50)])
		}
	}
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// saslCluster is a kfake broker that wants SCRAM-SHA-256 with the secret password.
func saslCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-256", "rootwatch", secrets["TEST_KAFKA_PASSWORD"]), kfake.SeedTopics(3, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// runFor starts cmd; when it has not exited by itself once until() holds
// (or settle passed), it runs during, SIGTERMs it and returns its combined output.
func runFor(t *testing.T, cmd *exec.Cmd, settle time.Duration, until func() bool, during func()) string {
	t.Helper()
	var out testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(settle)
	for until != nil && !until() && time.Now().Before(deadline) {
		select {
		case <-done:
			return out.String()
		case <-time.After(200 * time.Millisecond):
		}
	}
	if until != nil {
		deadline = time.Now()
	}
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
		if during != nil {
			during()
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("%s did not stop within 60s of SIGTERM", filepath.Base(cmd.Path))
		}
	}
	return out.String()
}

func listenAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestSecretsNeverLeak runs ingest, alert and audit with secrets in their
// config files and environment (AWS keys and session token, the Kafka SASL
// password, a webhook URL token and signing secret, a Slack webhook path,
// the audit external id), forces errors on every connection (a wrong Kafka
// password, SQS/S3/IAM endpoints answering 500/403, channels answering
// 500), and checks that no secret appears in any log line, error, DLQ
// message or /metrics label.
func TestSecretsNeverLeak(t *testing.T) {
	bin := binaries(t)
	aws := &failing{}
	awsSrv := httptest.NewServer(aws)
	t.Cleanup(awsSrv.Close)
	hooks := &failing{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kafkaYAML := func(broker, pwVar string) string {
		return fmt.Sprintf("kafka:\n  brokers: [%q]\n  sasl:\n    mechanism: scram-sha-256\n    username: rootwatch\n    password: ${%s}\n", broker, pwVar)
	}

	t.Run("ingest", func(t *testing.T) {
		kc := saslCluster(t, "cloudtrail.records", "cloudtrail.root-activity", "cloudtrail.dlq")
		broker := kc.ListenAddrs()[0]
		// 1: the Kafka password is wrong (the right one with a suffix): startup fails.
		cfgBad := write("ingest-bad.yaml", kafkaYAML(broker, "WRONG_KAFKA_PASSWORD"))
		cmd := exec.Command(filepath.Join(bin, "ingest"), "--source", "sqs://"+awsSrv.URL+"/000000000000/q", "--sink", "kafka", "--config", cfgBad,
			"--sqs-endpoint", awsSrv.URL, "--s3-endpoint", awsSrv.URL, "--s3-path-style")
		cmd.Env = append(secretEnv(), "WRONG_KAFKA_PASSWORD="+secrets["TEST_KAFKA_PASSWORD"]+"-wrong")
		out := runFor(t, cmd, 60*time.Second, nil, nil)
		if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(out, "kafka") {
			t.Errorf("wrong Kafka password: exit %d, want a Kafka error:\n%s", code, out)
		}
		checkNoSecret(t, "ingest output (bad Kafka password)", out)

		// 2: Kafka is right, SQS and S3 answer 500/403: it keeps running and logs errors.
		cfg := write("ingest.yaml", kafkaYAML(broker, "TEST_KAFKA_PASSWORD"))
		listen := listenAddr(t)
		cmd = exec.Command(filepath.Join(bin, "ingest"), "--source", "sqs://"+awsSrv.URL+"/000000000000/q", "--sink", "kafka", "--config", cfg,
			"--sqs-endpoint", awsSrv.URL, "--s3-endpoint", awsSrv.URL, "--s3-path-style", "--listen", listen, "--wait-time", "1s", "--log-level", "debug")
		cmd.Env = secretEnv()
		before := aws.count()
		var metrics string
		out = runFor(t, cmd, 60*time.Second, func() bool { return aws.count() >= before+4 }, func() { metrics = scrape(t, listen) })
		if aws.count() == before {
			t.Errorf("ingest never called the failing SQS endpoint:\n%s", out)
		}
		checkNoSecret(t, "ingest output (failing SQS)", out)
		checkNoSecret(t, "ingest /metrics", metrics)
		if !strings.Contains(metrics, "rootwatch_") {
			t.Errorf("ingest /metrics has no rootwatch metric:\n%.2000s", metrics)
		}
	})

	t.Run("alert", func(t *testing.T) {
		kc := saslCluster(t, "cloudtrail.root-activity")
		broker := kc.ListenAddrs()[0]
		// A finding to deliver, produced with the right password.
		cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.SASL(scram.Auth{User: "rootwatch", Pass: secrets["TEST_KAFKA_PASSWORD"]}.AsSha256Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		f, _ := json.Marshal(match.Finding{EventID: "secret-test-1", AccountID: "111122223333", EventName: "ConsoleLogin",
			Category: match.CategoryConsoleLogin, Severity: match.SeverityCritical, EventTime: time.Now().UTC()})
		pctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "cloudtrail.root-activity", Key: []byte("111122223333"), Value: f}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cancel()
		channels := fmt.Sprintf(`channels:
  - name: hook
    type: webhook
    url: %s/hook/${TEST_WEBHOOK_TOKEN}
    secret: ${TEST_WEBHOOK_SIGNING}
  - name: slack
    type: slack
    webhook_url: https://hooks.slack.com/services/${TEST_SLACK_PATH}
    base_url: %s
routes:
  - name: all
    channels: [hook, slack]
delivery:
  max_attempts: 2
  backoff: 100ms
  max_elapsed: 3s
  timeout: 2s
`, hookSrv.URL, hookSrv.URL)

		// 1: wrong Kafka password.
		bad := write("alert-bad.yaml", "source: kafka\n"+kafkaYAML(broker, "WRONG_KAFKA_PASSWORD")+channels)
		cmd := exec.Command(filepath.Join(bin, "alert"), "--config", bad, "--listen", listenAddr(t))
		cmd.Env = append(secretEnv(), "WRONG_KAFKA_PASSWORD="+secrets["TEST_KAFKA_PASSWORD"]+"-wrong")
		out := runFor(t, cmd, 20*time.Second, nil, nil)
		checkNoSecret(t, "alert output (bad Kafka password)", out)

		// 2: right password; both channels fail, so the notification is
		// parked in the DLQ: scrape /metrics once it is, then stop.
		good := write("alert.yaml", "source: kafka\n"+kafkaYAML(broker, "TEST_KAFKA_PASSWORD")+
			"  session_timeout: 6s\n  heartbeat_interval: 1s\n"+channels)
		listen := listenAddr(t)
		cmd = exec.Command(filepath.Join(bin, "alert"), "--config", good, "--listen", listen)
		cmd.Env = secretEnv()
		var dlq []string
		parked := func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { dlq = append(dlq, string(r.Value)) })
			return len(dlq) >= 2 // one per channel
		}
		cl.AddConsumeTopics("rootwatch.alerts.dlq")
		var metrics string
		out = runFor(t, cmd, 2*time.Minute, parked, func() { metrics = scrape(t, listen) })
		if len(dlq) < 2 || hooks.count() == 0 {
			t.Errorf("alert did not fail and park both channels' notifications (%d DLQ messages, %d channel requests):\n%s", len(dlq), hooks.count(), out)
		}
		t.Logf("alert: %d DLQ messages, %d channel requests; output:\n%s", len(dlq), hooks.count(), out)
		checkNoSecret(t, "alert output (failing channels)", out)
		checkNoSecret(t, "rootwatch.alerts.dlq", strings.Join(dlq, "\n"))
		checkNoSecret(t, "alert /metrics", metrics)
		if !strings.Contains(metrics, "rootwatch_alert_sends_total") {
			t.Errorf("alert /metrics has no sends metric:\n%.3000s", metrics)
		}
	})

	t.Run("audit", func(t *testing.T) {
		notify := write("audit-notify.yaml", fmt.Sprintf(`channels:
  - name: hook
    type: webhook
    url: %s/hook/${TEST_WEBHOOK_TOKEN}
    secret: ${TEST_WEBHOOK_SIGNING}
`, hookSrv.URL))
		before := aws.count()
		cmd := exec.Command(filepath.Join(bin, "audit"), "--endpoint-url", awsSrv.URL, "--notify-config", notify,
			"--poll-interval", "100ms", "--poll-timeout", "5s", "--format", "json", "--log-level", "debug")
		cmd.Env = secretEnv()
		out := runFor(t, cmd, 90*time.Second, nil, nil)
		if aws.count() == before {
			t.Errorf("audit never called the failing IAM endpoint:\n%s", out)
		}
		checkNoSecret(t, "audit output", out)
		// --org with an external id: the STS AssumeRole path fails too.
		cmd = exec.Command(filepath.Join(bin, "audit"), "--org", "--endpoint-url", awsSrv.URL, "--notify-config", notify,
			"--poll-interval", "100ms", "--poll-timeout", "5s", "--format", "json", "--log-level", "debug")
		cmd.Env = secretEnv()
		out = runFor(t, cmd, 90*time.Second, nil, nil)
		checkNoSecret(t, "audit --org output", out)
	})
}

// Package sqstest runs fauxqs (an SQS/SNS emulator from npm, installed by
// scripts/install-test-deps.sh into .tools/) as a subprocess on a free
// loopback port, for tests that need a real SQS and SNS.
package sqstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// SkipEnv, when "1", makes tests that need fauxqs skip instead of fail
// when it is not installed.
const SkipEnv = "ROOTWATCH_SKIP_FAUXQS"

// Server is a running fauxqs.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	done     chan struct{}
}

// RepoRoot finds the directory holding go.mod, from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ErrNotInstalled is returned by Start when node or fauxqs is missing.
var ErrNotInstalled = errors.New("fauxqs is not installed: run `make test` (or scripts/install-test-deps.sh) first")

// Start launches fauxqs and waits until it listens.
func Start() (*Server, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	tools := os.Getenv("ROOTWATCH_TOOLS_DIR")
	if tools == "" {
		tools = filepath.Join(root, ".tools")
	}
	node := filepath.Join(tools, "node_modules", "node", "bin", "node")
	if _, err := os.Stat(node); err != nil {
		return nil, fmt.Errorf("%w (%s missing)", ErrNotInstalled, node)
	}
	if _, err := os.Stat(filepath.Join(tools, "node_modules", "fauxqs", "dist", "app.js")); err != nil {
		return nil, fmt.Errorf("%w (fauxqs missing in %s)", ErrNotInstalled, tools)
	}
	cmd := exec.Command(node, "--no-warnings", filepath.Join(root, "scripts", "fauxqs.mjs"), "--port", "0")
	cmd.Env = append(os.Environ(), "ROOTWATCH_TOOLS_DIR="+tools)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start fauxqs: %w", err)
	}
	s := &Server{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			s.Stop()
			return nil, errors.New("fauxqs exited before it was ready")
		}
		var ready struct {
			Address string `json:"address"`
		}
		if err := json.Unmarshal([]byte(line), &ready); err != nil || !strings.HasPrefix(ready.Address, "http://127.0.0.1:") {
			s.Stop()
			return nil, fmt.Errorf("fauxqs: unexpected ready line %q", line)
		}
		s.Endpoint = ready.Address
	case <-time.After(30 * time.Second):
		s.Stop()
		return nil, errors.New("fauxqs did not start within 30s")
	}
	return s, nil
}

// Stop ends fauxqs (stdin closed, then SIGKILL after 5s).
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.stdin.Close()
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// Main starts fauxqs for a test binary, runs m, and stops it: use it from
// TestMain. When fauxqs is not installed, the tests fail (or are skipped
// with ROOTWATCH_SKIP_FAUXQS=1; *srv stays nil and Need skips).
func Main(m *testing.M, srv **Server) int {
	s, err := Start()
	if err != nil {
		if errors.Is(err, ErrNotInstalled) && os.Getenv(SkipEnv) == "1" {
			fmt.Fprintf(os.Stderr, "sqstest: %v; tests that need SQS are skipped (%s=1)\n", err, SkipEnv)
			return m.Run()
		}
		fmt.Fprintf(os.Stderr, "sqstest: %v\n", err)
		return 1
	}
	*srv = s
	defer s.Stop()
	return m.Run()
}

// Need skips t when fauxqs was skipped by ROOTWATCH_SKIP_FAUXQS=1.
func Need(t testing.TB, s *Server) {
	t.Helper()
	if s == nil {
		t.Skipf("fauxqs not running (%s=1)", SkipEnv)
	}
}

// AWSConfig is a config for s with static test credentials.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
}

// SQS returns a client for s.
func (s *Server) SQS() *sqs.Client { return sqs.NewFromConfig(s.AWSConfig()) }

// SNS returns a client for s.
func (s *Server) SNS() *sns.Client { return sns.NewFromConfig(s.AWSConfig()) }

// CreateQueue makes a queue with the given visibility timeout (seconds)
// and returns its URL.
func (s *Server) CreateQueue(t testing.TB, name string, visibility int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.SQS().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name),
		Attributes: map[string]string{"VisibilityTimeout": fmt.Sprint(visibility)}})
	if err != nil {
		t.Fatalf("create queue %s: %v", name, err)
	}
	return aws.ToString(out.QueueUrl)
}

package deploy

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/cli"
)

type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context string `yaml:"context"`
			Target  string `yaml:"target"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Profiles []string `yaml:"profiles"`
		Restart  string   `yaml:"restart"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// envList turns a compose environment into KEY=VALUE pairs.
func envList(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// awsEnv are the SDK's own variables, allowed in any service that talks to AWS.
var awsEnv = map[string]bool{"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_REGION": true, "AWS_DEFAULT_REGION": true}

// composeBinaries maps each rootwatch service of docker-compose.yml to the
// binary it runs: ingest and alert, and the fleet backfill's planner (a
// one-shot) and two workers, which run ingest (profile "backfill").
var composeBinaries = map[string]string{"ingest": "ingest", "alert": "alert",
	"backfill-plan": "ingest", "backfill-worker-1": "ingest", "backfill-worker-2": "ingest"}

// Every flag and ROOTWATCH_* variable a compose service passes exists in
// its binary, every mounted file exists, and the configs load: alert's
// passes --check-config, ingest's passes its strict loader.
func TestComposeServicesMatchTheBinaries(t *testing.T) {
	c := loadCompose(t)
	for _, name := range slices.Sorted(maps.Keys(composeBinaries)) {
		binary := composeBinaries[name]
		svc, ok := c.Services[name]
		if !ok {
			t.Fatalf("docker-compose.yml has no %s service", name)
		}
		cmd := commandNamed(binary)
		flags := map[string]flagInfo{}
		for _, f := range flagsOf(t, cmd) {
			flags[f.Name] = f
		}
		for _, a := range svc.Command {
			if strings.HasPrefix(a, "-") {
				n := strings.SplitN(strings.TrimLeft(a, "-"), "=", 2)[0]
				if _, ok := flags[n]; !ok {
					t.Errorf("%s: command flag %s is not a flag of %s", name, a, name)
				}
			}
		}
		envFlags := map[string]bool{}
		for n := range flags {
			envFlags[cli.EnvName(cmd.EnvPrefix, n)] = true
		}
		// Container paths of mounted files, mapped to the repository's files.
		mounts := map[string]string{}
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 || !strings.HasPrefix(parts[0], "./") {
				continue
			}
			host := filepath.Join(root, parts[0])
			if _, err := os.Stat(host); err != nil {
				t.Errorf("%s: mounted file %s: %v", name, parts[0], err)
			}
			mounts[parts[1]] = host
		}
		var cfgFile string
		for i, a := range svc.Command {
			if (a == "--config" || a == "-config") && i+1 < len(svc.Command) {
				cfgFile = mounts[svc.Command[i+1]]
				if cfgFile == "" {
					t.Errorf("%s: --config %s is not a file mounted from the repository", name, svc.Command[i+1])
				}
			}
		}
		cfgText := ""
		if cfgFile != "" {
			b, _ := os.ReadFile(cfgFile)
			cfgText = string(b)
		}
		for k := range svc.Environment {
			switch {
			case strings.HasPrefix(k, "ROOTWATCH_"):
				if !envFlags[k] {
					t.Errorf("%s: environment %s is not the variable of any %s flag", name, k, name)
				}
			case awsEnv[k]:
			case strings.Contains(cfgText, "${"+k):
				// referenced by the mounted config file
			default:
				t.Errorf("%s: environment %s is neither a %s variable, an AWS SDK variable nor referenced by its config", name, k, cmd.EnvPrefix)
			}
		}
		env := envList(svc.Environment)
		switch binary {
		case "alert":
			code, out, errOut := runCmd(t, "alert", env, "--check-config", "--config", cfgFile)
			if code != 0 || !strings.HasPrefix(out, "config ok") {
				t.Errorf("alert --check-config --config %s: exit %d\n%s%s", cfgFile, code, out, errOut)
			}
		case "ingest":
			// Everything is parsed (flags, environment, the strict config
			// file) before the sink is looked at: a bad sink given last
			// proves the rest loaded.
			var args []string
			for _, a := range svc.Command {
				if host, ok := mounts[a]; ok {
					a = host // the container path, where the mount puts it
				}
				args = append(args, a)
			}
			code, _, errOut := runCmd(t, binary, env, append(args, "--sink", "not-a-sink")...)
			if code != 2 || !strings.HasPrefix(errOut, "ingest: --sink: want kafka or stdout, got \"not-a-sink\"\n") {
				t.Errorf("ingest with the compose command, environment and %s did not load: exit %d\n%s", cfgFile, code, errOut)
			}
		}
		// Healthchecks probe the port the service listens on (a one-shot
		// has none: it exits when done).
		oneShot := svc.Restart == "no"
		if oneShot && svc.Healthcheck != nil {
			t.Errorf("%s: a one-shot with a healthcheck", name)
		} else if oneShot {
		} else if svc.Healthcheck == nil || len(svc.Healthcheck.Test) < 3 {
			t.Errorf("%s: no healthcheck", name)
		} else {
			probe := strings.Join(svc.Healthcheck.Test, " ")
			m := regexp.MustCompile(`httpcheck http://127\.0\.0\.1:(\d+)/(healthz|readyz)$`).FindStringSubmatch(probe)
			if m == nil {
				t.Errorf("%s: healthcheck %q is not httpcheck on /healthz or /readyz", name, probe)
			} else if !regexp.MustCompile(`(?m)^listen: *"?:` + m[1] + `"?`).MatchString(cfgText) {
				t.Errorf("%s: healthcheck port %s is not the listen address in its config", name, m[1])
			}
		}
		switch {
		case name == binary && (svc.Build == nil || svc.Build.Target != name):
			t.Errorf("%s: not built from the Dockerfile target %s", name, name)
		case name != binary && svc.Image != c.Services[binary].Image:
			t.Errorf("%s: image %q, want the %s service's %q", name, svc.Image, binary, c.Services[binary].Image)
		case name != binary && !slices.Equal(svc.Profiles, []string{"backfill"}):
			t.Errorf("%s: profiles %v, want [backfill] (started on request only)", name, svc.Profiles)
		}
	}
	// Kafka is the official image in KRaft mode; the S3+SQS stand-in wires the notification.
	k := c.Services["kafka"]
	if !strings.HasPrefix(k.Image, "apache/kafka:") || !strings.Contains(k.Environment["KAFKA_PROCESS_ROLES"], "controller") {
		t.Errorf("kafka: want apache/kafka in KRaft mode (process roles with controller), got %s %q", k.Image, k.Environment["KAFKA_PROCESS_ROLES"])
	}
	ls := c.Services["localstack"]
	if !strings.HasPrefix(ls.Image, "localstack/localstack:") || !strings.Contains(ls.Environment["SERVICES"], "sqs") {
		t.Errorf("localstack: %s %v", ls.Image, ls.Environment)
	}
	initScript := ""
	for _, v := range ls.Volumes {
		if strings.Contains(v, "/etc/localstack/init/ready.d/") {
			initScript = filepath.Join(root, strings.Split(v, ":")[0])
		}
	}
	b, err := os.ReadFile(initScript)
	if err != nil {
		t.Fatalf("localstack init script: %v", err)
	}
	src := c.Services["ingest"].Environment["ROOTWATCH_INGEST_SOURCE"]
	queue := src[strings.LastIndex(src, "/")+1:]
	plan := c.Services["backfill-plan"].Environment["ROOTWATCH_INGEST_SOURCE"]
	planBucket, _, _ := strings.Cut(strings.TrimPrefix(plan, "s3://"), "/")
	for _, want := range []string{"create-bucket", "create-queue", "put-bucket-notification-configuration", "QueueConfigurations", "s3:ObjectCreated:*", "QUEUE=" + queue, "BUCKET=" + planBucket} {
		if !strings.Contains(string(b), want) {
			t.Errorf("localstack init script lacks %q", want)
		}
	}
	if st, err := os.Stat(initScript); err == nil && st.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable (LocalStack runs it directly)", initScript)
	}
}

// The Dockerfile builds static binaries and runs them as a non-root user on
// a distroless or scratch base, with a stage per compose target.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := string(b)
	if !strings.Contains(d, "CGO_ENABLED=0") {
		t.Error("Dockerfile: binaries are not built with CGO_ENABLED=0")
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)(?: AS (\S+))?`).FindAllStringSubmatch(d, -1)
	stages := map[string]string{}
	for _, f := range froms {
		stages[f[2]] = f[1]
	}
	if !strings.HasPrefix(stages["runtime"], "gcr.io/distroless/static") && stages["runtime"] != "scratch" {
		t.Errorf("runtime stage is %q, want distroless/static or scratch", stages["runtime"])
	}
	users := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(d, -1)
	if len(users) == 0 {
		t.Error("Dockerfile: no USER")
	}
	for _, u := range users {
		if u[1] == "root" || u[1] == "0" || strings.HasPrefix(u[1], "0:") {
			t.Errorf("Dockerfile runs as %s", u[1])
		}
	}
	for _, target := range []string{"ingest", "alert", "audit"} {
		if stages[target] != "runtime" {
			t.Errorf("stage %s: want FROM runtime, got %q", target, stages[target])
		}
		if !strings.Contains(d, "./cmd/"+target) || !strings.Contains(d, `ENTRYPOINT ["/usr/local/bin/`+target+`"]`) {
			t.Errorf("stage %s: not built or no entrypoint", target)
		}
	}
	if !strings.Contains(d, "./deploy/httpcheck") {
		t.Error("Dockerfile does not build the healthcheck binary")
	}
}

// docker compose validates the file itself when it is installed.
func TestDockerComposeConfig(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker not installed: docker compose config not run")
	}
	if out, err := exec.Command("docker", "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("docker compose not available (%s): docker compose config not run", strings.TrimSpace(string(out)))
	}
	cmd := exec.Command("docker", "compose", "config", "-q")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker compose config -q: %v\n%s", err, out)
	}
}

package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
	"rootwatch/internal/source"
)

// loadJSON reads a file of the repository as generic JSON.
func loadJSON(t *testing.T, rel string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return v
}

// normal is v as encoding/json sees it, so YAML and JSON values compare.
func normal(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

// matchPattern evaluates an EventBridge event pattern on an event, for the
// part of the pattern language deploy/ uses: nested objects, arrays of
// exact string values (a field matches when its value, or an element of
// it, equals one of them), and "$or" (an array of two or more objects, each
// a pattern for the object it stands in; the object matches when one of
// them does, and every other field of the object matches too). A field the
// pattern names and the event lacks does not match. Any other construct
// (prefix, anything-but, exists, an "$or" of fewer than two objects, ...)
// fails the test: teach it here before putting it in a pattern.
func matchPattern(t *testing.T, pattern, event any) bool {
	t.Helper()
	switch p := pattern.(type) {
	case map[string]any:
		e, ok := event.(map[string]any)
		if !ok {
			return false
		}
		for k, sub := range p {
			if k == "$or" {
				if !matchOr(t, sub, e) {
					return false
				}
				continue
			}
			v, ok := e[k]
			if !ok || !matchPattern(t, sub, v) {
				return false
			}
		}
		return true
	case []any:
		values := []any{event}
		if arr, ok := event.([]any); ok {
			values = arr
		}
		for _, want := range p {
			w, ok := want.(string)
			if !ok {
				t.Fatalf("pattern value %v: only exact strings are understood by this test", want)
			}
			for _, v := range values {
				if s, ok := v.(string); ok && s == w {
					return true
				}
			}
		}
		return false
	}
	t.Fatalf("pattern node %T %v: want an object or an array of values", pattern, pattern)
	return false
}

// matchOr evaluates the value of an "$or" on the event object it stands
// in: EventBridge reads "$or" as the OR of its branches only when it is an
// array of at least two objects (else it is a field named "$or"), which
// this test refuses.
func matchOr(t *testing.T, branches any, event map[string]any) bool {
	t.Helper()
	arr, ok := branches.([]any)
	if !ok || len(arr) < 2 {
		t.Fatalf(`pattern "$or": %v: want an array of two or more objects`, branches)
	}
	matched := false
	for _, b := range arr {
		if _, ok := b.(map[string]any); !ok {
			t.Fatalf(`pattern "$or" branch %v: want an object`, b)
		}
		if matchPattern(t, b, event) { // every branch is checked, so a malformed one fails the test
			matched = true
		}
	}
	return matched
}

// composeSampleEvent is deploy/compose/sample-root-event.json as
// send-root-event.sh fills it in.
func composeSampleEvent(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "deploy/compose/sample-root-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("EVENT_ID", "0e1d2c3b-4a59-4687-8796-a5b4c3d2e1f0", "EVENT_TIME", "2026-12-01T12:00:00Z").Replace(string(b))
}

// The pattern sends the queue every documented shape of root activity
// (API call, console sign-in success and failure, an assumed-root session
// action) and the sts:AssumeRoot calls that open such sessions (successful
// or failed), and nothing else that the fixtures hold: not service events,
// even one naming the root identity, nor other identities, nor a call
// that merely mentions AssumeRoot.
func TestEventBridgePatternSendsOnlyRootActivity(t *testing.T) {
	pattern := loadJSON(t, "deploy/eventbridge/root-activity-pattern.json")
	check := func(name, body string, want bool) {
		var ev any
		if err := json.Unmarshal([]byte(body), &ev); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := matchPattern(t, pattern, ev); got != want {
			t.Errorf("%s: pattern matches %v, want %v", name, got, want)
		}
	}
	sessions := 0
	for _, ev := range fixtures.Events {
		if ev.Rule != "" && !ev.Pattern {
			t.Errorf("fixture %s makes a %s finding the pattern is said to miss", ev.Name, ev.Rule)
		}
		if ev.Rule == string(match.RuleRootSessionIssued) {
			sessions++
		}
		check(ev.Name, ev.Body, ev.Pattern)
	}
	if sessions < 2 {
		t.Fatalf("%d AssumeRoot fixtures, want a successful and a failed one", sessions)
	}
	check("compose sample", composeSampleEvent(t), true)
	// The check can fail: an IAM user's sign-in is not sent, nor an
	// AssumeRoot named by another service or published under another
	// detail-type.
	check("IAM user sign-in", strings.Replace(fixtures.EventNamed("root console sign-in").Body, `"type": "Root"`, `"type": "IAMUser"`, 1), false)
	assumeRoot := fixtures.EventNamed("AssumeRoot call").Body
	check("AssumeRoot from iam", strings.Replace(assumeRoot, `"eventSource":"sts.amazonaws.com"`, `"eventSource":"iam.amazonaws.com"`, 1), false)
	check("AssumeRoot as a service event", strings.Replace(assumeRoot, `"detail-type": "AWS API Call via CloudTrail"`, `"detail-type": "AWS Service Event via CloudTrail"`, 1), false)
	check("AssumeRoot as a console action", strings.Replace(assumeRoot, `"detail-type": "AWS API Call via CloudTrail"`, `"detail-type": "AWS Console Action via CloudTrail"`, 1), false)
}

// matchPattern understands "$or" as EventBridge does: any branch, and
// every field beside it.
func TestMatchPatternOr(t *testing.T) {
	pattern := map[string]any{
		"source": []any{"aws.sts"},
		"$or": []any{
			map[string]any{"a": []any{"1"}},
			map[string]any{"b": []any{"2"}, "c": map[string]any{"d": []any{"3"}}},
		},
	}
	for _, c := range []struct {
		event string
		want  bool
	}{
		{`{"source":"aws.sts","a":"1"}`, true},
		{`{"source":"aws.sts","b":"2","c":{"d":"3"}}`, true},
		{`{"source":"aws.sts","b":"2","c":{"d":"4"}}`, false}, // a branch's fields are ANDed
		{`{"source":"aws.iam","a":"1"}`, false},               // the fields beside "$or" still apply
		{`{"source":"aws.sts"}`, false},
	} {
		var ev any
		if err := json.Unmarshal([]byte(c.event), &ev); err != nil {
			t.Fatal(err)
		}
		if got := matchPattern(t, pattern, ev); got != c.want {
			t.Errorf("%s: matches %v, want %v", c.event, got, c.want)
		}
	}
}

// cfnTemplate is a CloudFormation template read as plain YAML (the
// templates use the long form of intrinsic functions).
type cfnTemplate struct {
	Parameters map[string]any `yaml:"Parameters"`
	Conditions map[string]any `yaml:"Conditions"`
	Resources  map[string]struct {
		Type       string         `yaml:"Type"`
		Condition  string         `yaml:"Condition"`
		Properties map[string]any `yaml:"Properties"`
	} `yaml:"Resources"`
	Outputs map[string]any `yaml:"Outputs"`
}

func loadTemplate(t *testing.T, rel string) cfnTemplate {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	var c cfnTemplate
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(c.Resources) == 0 {
		t.Fatalf("%s: no resources", rel)
	}
	return c
}

// refsResolve reports every Ref, Fn::GetAtt, Fn::If condition and Fn::Sub
// variable in v that names nothing the template defines.
func (c cfnTemplate) refsResolve(t *testing.T, rel string, v any) {
	t.Helper()
	defined := func(name string) bool {
		_, p := c.Parameters[name]
		_, r := c.Resources[name]
		return p || r || strings.HasPrefix(name, "AWS::")
	}
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			switch k {
			case "Ref":
				if s, _ := sub.(string); !defined(s) {
					t.Errorf("%s: Ref %v names nothing", rel, sub)
				}
			case "Fn::GetAtt":
				if a, _ := sub.([]any); len(a) != 2 || c.Resources[fmt.Sprint(a[0])].Type == "" {
					t.Errorf("%s: Fn::GetAtt %v names no resource", rel, sub)
				}
			case "Fn::If":
				if a, _ := sub.([]any); len(a) != 3 || c.Conditions[fmt.Sprint(a[0])] == nil {
					t.Errorf("%s: Fn::If %v names no condition", rel, sub)
				}
			case "Fn::Sub":
				s, _ := sub.(string)
				for _, part := range strings.Split(s, "${")[1:] {
					if name := part[:strings.Index(part, "}")]; !defined(name) {
						t.Errorf("%s: Fn::Sub %q names %s, which is not defined", rel, s, name)
					}
				}
			}
			c.refsResolve(t, rel, sub)
		}
	case []any:
		for _, sub := range x {
			c.refsResolve(t, rel, sub)
		}
	}
}

// The CloudFormation templates: every reference resolves; every rule uses
// the pattern file and receives read-only calls too; the queue's policy
// lets exactly its rules (and the trail bucket) send to it; the forwarder
// sends to the bus with a role that may only put events there.
func TestEventBridgeTemplates(t *testing.T) {
	pattern := loadJSON(t, "deploy/eventbridge/root-activity-pattern.json")
	rulesTo := map[string][]string{} // target description -> rule resources
	for _, rel := range []string{"deploy/eventbridge/realtime-queue.yaml", "deploy/eventbridge/realtime-forwarder.yaml"} {
		c := loadTemplate(t, rel)
		c.refsResolve(t, rel, normal(t, c.Resources))
		c.refsResolve(t, rel, normal(t, c.Outputs))
		rules := 0
		for name, r := range c.Resources {
			if r.Type != "AWS::Events::Rule" {
				continue
			}
			rules++
			p := r.Properties
			if !reflect.DeepEqual(normal(t, p["EventPattern"]), pattern) {
				t.Errorf("%s %s: EventPattern differs from root-activity-pattern.json", rel, name)
			}
			if p["State"] != "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" {
				t.Errorf("%s %s: State %v; read-only root calls would not reach the queue", rel, name, p["State"])
			}
			for _, tg := range p["Targets"].([]any) {
				tgt := normal(t, tg).(map[string]any)
				b, _ := json.Marshal(tgt["Arn"])
				rulesTo[string(b)] = append(rulesTo[string(b)], name)
				if strings.Contains(rel, "forwarder") {
					role, _ := json.Marshal(tgt["RoleArn"])
					if string(b) != `{"Ref":"RootActivityBusArn"}` || string(role) != `{"Fn::GetAtt":["ForwarderRole","Arn"]}` {
						t.Errorf("%s %s: target %s with role %s, want the bus with ForwarderRole", rel, name, b, role)
					}
				}
			}
		}
		if rules == 0 {
			t.Errorf("%s: no rule", rel)
		}
		if strings.Contains(rel, "forwarder") {
			role, _ := json.Marshal(normal(t, c.Resources["ForwarderRole"].Properties["Policies"]))
			if !strings.Contains(string(role), `"Action":"events:PutEvents","Effect":"Allow","Resource":{"Ref":"RootActivityBusArn"}`) ||
				strings.Count(string(role), `"Action"`) != 1 {
				t.Errorf("forwarder role may do more than put events on the bus: %s", role)
			}
		}
		if strings.Contains(rel, "queue") {
			queueRules := rulesTo[`{"Fn::GetAtt":["Queue","Arn"]}`]
			sort.Strings(queueRules)
			pol := normal(t, c.Resources["QueuePolicy"].Properties["PolicyDocument"]).(map[string]any)
			principals := map[string]bool{}
			for _, st := range pol["Statement"].([]any) {
				s := st.(map[string]any)
				principal := s["Principal"].(map[string]any)["Service"].(string)
				principals[principal] = true
				if s["Action"] != "sqs:SendMessage" || s["Effect"] != "Allow" {
					t.Errorf("queue policy %v: want Allow sqs:SendMessage only", s["Sid"])
				}
				if principal == "events.amazonaws.com" {
					var allowed []string
					for _, a := range s["Condition"].(map[string]any)["ArnEquals"].(map[string]any)["aws:SourceArn"].([]any) {
						arn := a.(map[string]any)
						if cond, ok := arn["Fn::If"].([]any); ok { // a rule that exists only under a condition
							arn = cond[1].(map[string]any)
							rule := fmt.Sprint(arn["Fn::GetAtt"].([]any)[0])
							if got := c.Resources[rule].Condition; got != cond[0] {
								t.Errorf("queue policy allows %s under condition %v, but the rule exists under %q", rule, cond[0], got)
							}
						}
						allowed = append(allowed, fmt.Sprint(arn["Fn::GetAtt"].([]any)[0]))
					}
					sort.Strings(allowed)
					if !slices.Equal(allowed, queueRules) {
						t.Errorf("queue policy lets rules %v send; the rules targeting the queue are %v", allowed, queueRules)
					}
				}
			}
			if !principals["s3.amazonaws.com"] || !principals["events.amazonaws.com"] || len(principals) != 2 {
				t.Errorf("queue policy principals %v, want S3 and EventBridge", principals)
			}
			if len(queueRules) != 2 {
				t.Errorf("rules targeting the queue: %v, want the local and the forwarded one", queueRules)
			}
		}
	}
}

// The queue policy for a hand-made set-up: S3, EventBridge and SNS may
// send, each only from its named source; the rule ARNs are those of the
// templates' rules.
func TestEventBridgeQueuePolicy(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy/eventbridge/queue-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var p policyDoc
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&p); err != nil || p.Version != "2012-10-17" {
		t.Fatalf("queue-policy.json: %v (version %q)", err, p.Version)
	}
	var raw struct {
		Statement []struct {
			Principal struct{ Service string }
		}
	}
	json.Unmarshal(b, &raw)
	var services []string
	for i, s := range p.Statement {
		services = append(services, raw.Statement[i].Principal.Service)
		if got := strs(t, s.Action); s.Effect != "Allow" || !slices.Equal(got, []string{"sqs:SendMessage"}) {
			t.Errorf("%s: %s %v, want Allow sqs:SendMessage", s.Sid, s.Effect, got)
		}
		cond, _ := json.Marshal(s.Condition)
		if !strings.Contains(string(cond), `"aws:SourceArn"`) {
			t.Errorf("%s: no aws:SourceArn condition: any %s resource could send", s.Sid, raw.Statement[i].Principal.Service)
		}
	}
	sort.Strings(services)
	if !slices.Equal(services, []string{"events.amazonaws.com", "s3.amazonaws.com", "sns.amazonaws.com"}) {
		t.Errorf("principals %v", services)
	}
	for _, rule := range []string{"rule/rootwatch-root-activity\"", "rule/rootwatch-root-activity/rootwatch-root-activity\""} {
		if !strings.Contains(string(b), rule) {
			t.Errorf("queue-policy.json does not name %s (the templates' rules)", rule)
		}
	}
}

// cfn-lint, when installed, finds nothing in the templates.
func TestEventBridgeTemplatesLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint not installed: the templates were not linted")
	}
	cmd := exec.Command(lint, "deploy/eventbridge/realtime-queue.yaml", "deploy/eventbridge/realtime-forwarder.yaml")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cfn-lint: %v\n%s", err, out)
	}
}

// docker compose wires the real-time path as the templates do, and its
// sample event is an EventBridge CloudTrail event of root activity that
// ingest takes as such.
func TestComposeRealtimePath(t *testing.T) {
	c := loadCompose(t)
	ls := c.Services["localstack"]
	if !strings.Contains(ls.Environment["SERVICES"], "events") {
		t.Errorf("localstack SERVICES %q lacks events", ls.Environment["SERVICES"])
	}
	mounts := map[string]string{}
	for _, v := range ls.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, parts[0])); err != nil {
			t.Errorf("localstack mounts %s: %v", parts[0], err)
		}
		mounts[parts[1]] = parts[0]
	}
	init, err := os.ReadFile(filepath.Join(root, "deploy/compose/localstack-init.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"events put-rule", "events put-targets", `"Service":"events.amazonaws.com"`, "aws:SourceArn"} {
		if !strings.Contains(string(init), want) {
			t.Errorf("localstack init script lacks %q", want)
		}
	}
	send := mustRead(t, "deploy/compose/send-root-event.sh")
	for _, want := range []struct{ container, repo, usedBy string }{
		{"/etc/localstack/rootwatch/root-activity-pattern.json", "./deploy/eventbridge/root-activity-pattern.json", string(init)},
		{"/etc/localstack/rootwatch/sample-root-event.json", "./deploy/compose/sample-root-event.json", send},
		{"/etc/localstack/rootwatch/send-root-event.sh", "./deploy/compose/send-root-event.sh", mustRead(t, "docker-compose.yml")},
	} {
		if mounts[want.container] != want.repo {
			t.Errorf("%s is mounted from %q, want %s", want.container, mounts[want.container], want.repo)
		}
		if strings.Count(want.usedBy, want.container) == 0 {
			t.Errorf("%s is mounted but not used", want.container)
		}
	}
	if st, err := os.Stat(filepath.Join(root, "deploy/compose/send-root-event.sh")); err != nil || st.Mode()&0o111 == 0 {
		t.Errorf("deploy/compose/send-root-event.sh is not executable: %v", err)
	}
	n, err := source.ParseNotification([]byte(composeSampleEvent(t)))
	if err != nil || n.Event == nil || n.Format != source.FormatEventBridgeCloudTrail {
		t.Fatalf("the compose sample event: %+v, %v", n, err)
	}
	if f, ok := match.Find(n.Event.Record, match.ObjectRef{}, time.Now()); !ok || f.Category != match.CategoryConsoleLogin {
		t.Fatalf("the compose sample event is not a root console sign-in: %v %+v", ok, f)
	}
}

func mustRead(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// policyDoc is an IAM identity policy document.
type policyDoc struct {
	Version   string
	Statement []struct {
		Sid         string
		Effect      string
		Action      json.RawMessage
		Resource    json.RawMessage
		NotResource json.RawMessage
		Condition   map[string]map[string]any
	}
}

// strs decodes a policy field that is a string or a list of strings.
func strs(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		t.Fatalf("policy field %s: %v", raw, err)
	}
	return many
}

// sdkOps lists the operations of an AWS SDK service client, from its
// api_op_<Operation>.go files.
func sdkOps(t *testing.T, module string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	files, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "api_op_*.go"))
	ops := map[string]bool{}
	for _, f := range files {
		ops[strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "api_op_"), ".go")] = true
	}
	if len(ops) < 10 {
		t.Fatalf("%s: found only %d operations", module, len(ops))
	}
	return ops
}

// iamAction names the IAM action an SDK operation needs.
func iamAction(prefix, op string) string {
	switch prefix + ":" + op {
	case "sqs:DeleteMessageBatch":
		return "sqs:DeleteMessage"
	case "sqs:ChangeMessageVisibilityBatch":
		return "sqs:ChangeMessageVisibility"
	case "sqs:SendMessageBatch":
		return "sqs:SendMessage"
	case "s3:ListObjectsV2", "s3:ListObjects":
		return "s3:ListBucket"
	case "s3:HeadObject":
		return "s3:GetObject"
	}
	return prefix + ":" + op
}

// calledActions finds the SDK operations called (".Op(") in the non-test Go
// files of dirs, for the given services (IAM prefix -> SDK module).
func calledActions(t *testing.T, dirs []string, services map[string]string) []string {
	t.Helper()
	ops := map[string]map[string]bool{}
	for prefix, mod := range services {
		ops[prefix] = sdkOps(t, mod)
	}
	call := regexp.MustCompile(`\.([A-Z][A-Za-z0-9]+)\(`)
	set := map[string]bool{}
	for _, d := range dirs {
		files, _ := filepath.Glob(filepath.Join(root, d, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range call.FindAllStringSubmatch(string(b), -1) {
				for prefix, o := range ops {
					// Only files that use the service's SDK package call it.
					if o[m[1]] && strings.Contains(string(b), services[prefix]) {
						set[iamAction(prefix, m[1])] = true
					}
				}
			}
		}
	}
	var out []string
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Each policy is a valid, least-privilege identity policy that grants
// exactly the AWS calls the code makes (plus kms:Decrypt, which S3 makes
// for ingest on SSE-KMS trails).
func TestIAMPoliciesMatchTheCode(t *testing.T) {
	cases := []struct {
		file     string
		dirs     []string
		services map[string]string
		extra    []string
	}{
		{"iam/ingest-policy.json", []string{"internal/source", "internal/pipeline", "internal/kafka", "cmd/ingest"},
			map[string]string{"s3": "github.com/aws/aws-sdk-go-v2/service/s3", "sqs": "github.com/aws/aws-sdk-go-v2/service/sqs"},
			[]string{"kms:Decrypt"}},
		{"iam/alert-policy.json", []string{"internal/channel", "internal/alert", "cmd/alert"},
			map[string]string{"sns": "github.com/aws/aws-sdk-go-v2/service/sns", "ses": "github.com/aws/aws-sdk-go-v2/service/sesv2"},
			nil},
	}
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join(root, "deploy", c.file))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var p policyDoc
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("%s: not a policy document: %v", c.file, err)
		}
		if p.Version != "2012-10-17" || len(p.Statement) == 0 {
			t.Fatalf("%s: version %q, %d statements", c.file, p.Version, len(p.Statement))
		}
		granted := map[string]bool{}
		sids := map[string]bool{}
		for i, s := range p.Statement {
			if s.Effect != "Allow" || s.Sid == "" || sids[s.Sid] {
				t.Errorf("%s statement %d: effect %q, sid %q (want Allow and a unique Sid)", c.file, i, s.Effect, s.Sid)
			}
			sids[s.Sid] = true
			res, notRes := strs(t, s.Resource), strs(t, s.NotResource)
			if len(res) == 0 && len(notRes) == 0 {
				t.Errorf("%s %s: no Resource", c.file, s.Sid)
			}
			for _, r := range res {
				if r == "*" || !strings.HasPrefix(r, "arn:aws:") {
					t.Errorf("%s %s: resource %q is not a scoped ARN", c.file, s.Sid, r)
				}
			}
			for _, a := range strs(t, s.Action) {
				if strings.Contains(a, "*") {
					t.Errorf("%s %s: wildcard action %q", c.file, s.Sid, a)
				}
				granted[a] = true
			}
		}
		var got []string
		for a := range granted {
			got = append(got, a)
		}
		sort.Strings(got)
		want := append(calledActions(t, c.dirs, c.services), c.extra...)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s grants %v; the code calls %v", c.file, got, want)
		}
	}
}

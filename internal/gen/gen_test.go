package gen

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
)

// collect generates cfg into memory: key -> uncompressed content.
func collect(t *testing.T, cfg Config) (map[string][]byte, []string, Truth) {
	t.Helper()
	files := map[string][]byte{}
	var order []string
	tr, err := Generate(cfg, func(key string, gz []byte) error {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return err
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return err
		}
		if _, dup := files[key]; dup {
			t.Errorf("key %s emitted twice", key)
		}
		files[key] = b
		order = append(order, key)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return files, order, tr
}

// isRootByRule applies the rule of docs/rule.md to a decoded record,
// independently of the generator.
func isRootByRule(rec map[string]any) bool {
	ui, ok := rec["userIdentity"].(map[string]any)
	if !ok || ui["type"] != "Root" {
		return false
	}
	if inv, present := ui["invokedBy"]; present && inv != nil {
		return false
	}
	return rec["eventType"] != "AwsServiceEvent"
}

// categoryOf classifies a decoded root record by the precedence documented
// on RootEvent.Category, independently of the generator's own labels.
func categoryOf(rec map[string]any) match.Category {
	name, _ := rec["eventName"].(string)
	errCode, _ := rec["errorCode"].(string)
	_, failed := rec["errorMessage"]
	ui := rec["userIdentity"].(map[string]any)
	sc, _ := ui["sessionContext"].(map[string]any)
	assumed := sc != nil && sc["assumedRoot"] == "true"
	cred := map[string]bool{"CreateAccessKey": true, "DeleteAccessKey": true, "UpdateAccessKey": true,
		"DeleteLoginProfile": true, "PasswordUpdated": true, "CreateVirtualMFADevice": true,
		"EnableMFADevice": true, "DeactivateMFADevice": true, "UploadSigningCertificate": true}
	switch {
	case name == "ConsoleLogin" && !failed:
		return match.CategoryConsoleLogin
	case name == "ConsoleLogin":
		return match.CategoryConsoleLoginFailed
	case assumed:
		return match.CategoryAssumedRoot
	case cred[name] && errCode == "":
		return match.CategoryCredentialChange
	case errCode != "":
		return match.CategoryDenied
	case rec["readOnly"] == false:
		return match.CategoryMutating
	}
	return match.CategoryReadOnly
}

func TestRecordsAreValidCloudTrail(t *testing.T) {
	cfg := Config{Seed: 7, Files: 30, RecordsPerFile: 80, OrgID: "o-a1b2c3d4e5", Prefix: "trails/"}
	files, _, tr := collect(t, cfg)
	if len(files) != 30 || tr.Files != 30 {
		t.Fatalf("got %d files, truth says %d; want 30", len(files), tr.Files)
	}
	var records, size int64
	types := map[string]int{}
	eventTypes := map[string]int{}
	for key, b := range files {
		k, ok := cloudtrail.ParseKey(key)
		if !ok || k.Kind != cloudtrail.KindLog || k.OrgID != cfg.OrgID || k.Prefix != "trails/" {
			t.Fatalf("key %s does not parse as an org log file key: %+v ok=%v", key, k, ok)
		}
		base := k.Account + "_CloudTrail_" + k.Region + "_" + k.Date.Format("20060102") + "T"
		if !strings.HasPrefix(k.File, base) || !strings.HasSuffix(k.File, ".json.gz") || len(k.File) != len(base)+len("HHmmZ_")+16+len(".json.gz") {
			t.Errorf("file name %s is not in AWS's format (want prefix %s)", k.File, base)
		}
		var doc struct {
			Records []json.RawMessage
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: not valid JSON: %v", key, err)
		}
		if len(doc.Records) == 0 {
			t.Fatalf("%s: no Records", key)
		}
		for _, raw := range doc.Records {
			records++
			size += int64(len(raw))
			var rec map[string]any
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatalf("%s: record: %v", key, err)
			}
			for _, f := range []string{"eventVersion", "eventTime", "eventSource", "eventName", "awsRegion", "eventID", "eventType", "recipientAccountId"} {
				if _, ok := rec[f].(string); !ok {
					t.Fatalf("%s: record lacks string %s: %s", key, f, raw)
				}
			}
			if rec["recipientAccountId"] != k.Account {
				t.Fatalf("record for %v in %s's file", rec["recipientAccountId"], k.Account)
			}
			if _, err := time.Parse(time.RFC3339, rec["eventTime"].(string)); err != nil {
				t.Fatalf("eventTime: %v", err)
			}
			if ui, ok := rec["userIdentity"].(map[string]any); ok {
				typ, _ := ui["type"].(string)
				types[typ]++
			}
			eventTypes[rec["eventType"].(string)]++
		}
	}
	if int64(tr.Records) != records {
		t.Errorf("truth counts %d records, files hold %d", tr.Records, records)
	}
	if avg := size / records; avg < 1000 || avg > 2000 {
		t.Errorf("average record is %d bytes, want 1-2 KB", avg)
	}
	for _, typ := range []string{"IAMUser", "AssumedRole", "AWSService", "AWSAccount", "FederatedUser", ""} {
		if types[typ] == 0 {
			t.Errorf("no userIdentity of type %q in %d records", typ, records)
		}
	}
	for _, et := range []string{"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent"} {
		if eventTypes[et] == 0 {
			t.Errorf("no eventType %s", et)
		}
	}
}

func TestTruthMatchesRule(t *testing.T) {
	cfg := Config{Seed: 3, Files: 60, RecordsPerFile: 100, RootShare: 0.05, LookalikeShare: 0.1}
	files, _, tr := collect(t, cfg)
	var found []string
	cats := map[string]match.Category{}
	var lookalikes, withRoot int
	kinds := map[string]int{}
	for key, b := range files {
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		for _, raw := range doc.Records {
			var rec map[string]any
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			if isRootByRule(rec) {
				id := rec["eventID"].(string)
				found = append(found, id)
				cats[id] = categoryOf(rec)
				if ui := rec["userIdentity"].(map[string]any); ui["invokedBy"] == nil && bytes.Contains(raw, []byte(`"invokedBy":null`)) {
					kinds["root with invokedBy null"]++
				}
				continue
			}
			if bytes.Contains(raw, []byte("Root")) {
				withRoot++
			}
			if bytes.Contains(raw, []byte(`\"Root\"`)) {
				kinds["escaped \"Root\""]++
			}
			ui, _ := rec["userIdentity"].(map[string]any)
			sc, _ := ui["sessionContext"].(map[string]any)
			issuer, _ := sc["sessionIssuer"].(map[string]any)
			switch {
			case ui["type"] == "Root" && ui["invokedBy"] != nil:
				kinds["root invokedBy a service"]++
				lookalikes++
			case ui["type"] == "Root":
				kinds["root service event"]++
				lookalikes++
			case ui["type"] == "AssumedRole" && issuer["userName"] == "Root":
				kinds["role named Root"]++
			case ui["type"] == "FederatedUser" && issuer["type"] == "Root":
				kinds["session issued by root"]++
			case rec["eventName"] == "ListRoots" || rec["eventName"] == "CreateOrganizationalUnit":
				kinds["organizations root"]++
			case bytes.Contains(raw, []byte(`"type":"Root"`)):
				kinds["nested \"type\":\"Root\""]++
			}
		}
	}
	for _, k := range []string{"root with invokedBy null", "escaped \"Root\"", "root invokedBy a service", "root service event",
		"role named Root", "session issued by root", "organizations root", "nested \"type\":\"Root\""} {
		if kinds[k] == 0 {
			t.Errorf("no record of the kind %q: %v", k, kinds)
		}
	}
	slices.Sort(found)
	want := tr.EventIDs()
	if !slices.Equal(found, want) {
		t.Fatalf("rule applied with encoding/json finds %d root records, truth lists %d", len(found), len(want))
	}
	if len(want) < 100 {
		t.Fatalf("only %d root records at RootShare 0.05 over %d records", len(want), tr.Records)
	}
	// Look-alikes: Root identities the rule rejects, and "Root" elsewhere.
	if lookalikes == 0 || withRoot < int(tr.Lookalikes)/2 {
		t.Errorf("look-alikes: %d Root identities rejected by the rule, %d non-root records mention Root, truth says %d", lookalikes, withRoot, tr.Lookalikes)
	}
	seen := map[match.Category]int{}
	for _, r := range tr.Root {
		if cats[r.EventID] != r.Category {
			t.Errorf("%s: truth category %s, record says %s", r.EventID, r.Category, cats[r.EventID])
		}
		if _, ok := files[r.Key]; !ok {
			t.Errorf("%s: truth names unknown key %s", r.EventID, r.Key)
		}
		seen[r.Category]++
	}
	for _, c := range []match.Category{match.CategoryConsoleLogin, match.CategoryConsoleLoginFailed,
		match.CategoryCredentialChange, match.CategoryAssumedRoot, match.CategoryDenied,
		match.CategoryMutating, match.CategoryReadOnly} {
		if seen[c] == 0 {
			t.Errorf("no root record of category %s among %d", c, len(tr.Root))
		}
	}
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 11, Files: 12, RecordsPerFile: 50, Digests: true}
	hash := func(workers int, seed uint64) string {
		c := cfg
		c.Workers, c.Seed = workers, seed
		h := sha256.New()
		_, err := Generate(c, func(key string, gz []byte) error {
			h.Write([]byte(key))
			h.Write(gz)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	a, b := hash(1, 11), hash(4, 11)
	if a != b {
		t.Errorf("same seed, 1 vs 4 workers: output differs")
	}
	if c := hash(2, 12); c == a {
		t.Errorf("seeds 11 and 12 give the same output")
	}
}

func TestTargetBytesAndDir(t *testing.T) {
	dir := t.TempDir()
	const target = 3 << 20
	tr, err := GenerateDir(Config{Seed: 5, TargetBytes: target, RecordsPerFile: 100}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Bytes < target {
		t.Fatalf("wrote %d bytes, want at least %d", tr.Bytes, target)
	}
	var raw, gz int64
	n := 0
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		gz += int64(len(b))
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return err
		}
		m, err := io.Copy(io.Discard, zr)
		raw += m
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != tr.Files || raw != tr.Bytes || gz != tr.GzBytes {
		t.Errorf("on disk: %d files, %d bytes, %d gz; truth: %d, %d, %d", n, raw, gz, tr.Files, tr.Bytes, tr.GzBytes)
	}
	// The last file is the one that crossed the target.
	if tr.Bytes-target > 2*200*2100 {
		t.Errorf("overshot the target by %d bytes", tr.Bytes-target)
	}
}

func TestDigests(t *testing.T) {
	files, order, tr := collect(t, Config{Seed: 9, Files: 40, RecordsPerFile: 20, Digests: true, Bucket: "b1"})
	if tr.Digests == 0 {
		t.Fatal("no digests")
	}
	listed := map[string]bool{}
	digests := 0
	for _, key := range order {
		if !cloudtrail.IsDigest(key) {
			continue
		}
		digests++
		k, ok := cloudtrail.ParseKey(key)
		if !ok || k.Kind != cloudtrail.KindDigest {
			t.Fatalf("digest key %s does not parse: %+v", key, k)
		}
		var d struct {
			AwsAccountID   string `json:"awsAccountId"`
			DigestS3Object string `json:"digestS3Object"`
			LogFiles       []struct {
				S3Bucket, S3Object, HashValue, HashAlgorithm string
			} `json:"logFiles"`
		}
		if err := json.Unmarshal(files[key], &d); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if d.DigestS3Object != key || d.AwsAccountID != k.Account {
			t.Errorf("%s: digest names %s / %s", key, d.DigestS3Object, d.AwsAccountID)
		}
		for _, lf := range d.LogFiles {
			body, ok := files[lf.S3Object]
			if !ok || lf.S3Bucket != "b1" {
				t.Fatalf("digest lists unknown file s3://%s/%s", lf.S3Bucket, lf.S3Object)
			}
			sum := sha256.Sum256(body)
			if lf.HashValue != hex.EncodeToString(sum[:]) || lf.HashAlgorithm != "SHA-256" {
				t.Errorf("%s: hash %s, want SHA-256 of the uncompressed file", lf.S3Object, lf.HashValue)
			}
			listed[lf.S3Object] = true
		}
	}
	if digests != tr.Digests || len(listed) != tr.Files {
		t.Errorf("%d digests listing %d files; truth %d digests, %d files", digests, len(listed), tr.Digests, tr.Files)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := Generate(Config{Seed: 1}, func(string, []byte) error { return nil }); err == nil {
		t.Error("no Files and no TargetBytes: want an error")
	}
	if _, err := Generate(Config{Files: 1, Accounts: []string{"12345"}}, func(string, []byte) error { return nil }); err == nil {
		t.Error("bad account id: want an error")
	}
	if _, err := Generate(Config{Files: 3, Level: 42}, func(string, []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "level 42") {
		t.Errorf("gzip level 42: got %v, want an error naming the level", err)
	}
	calls := 0
	boom := io.ErrShortWrite
	_, err := Generate(Config{Seed: 1, Files: 50, RecordsPerFile: 5}, func(string, []byte) error {
		calls++
		if calls == 3 {
			return boom
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), boom.Error()) || calls != 3 {
		t.Errorf("emit error: got %v after %d calls, want it returned after 3", err, calls)
	}
}

// TestLevelIsHonoured: the gzip level of a Config decides the bytes, whatever
// was generated before in the process (pooled writers keep their level).
func TestLevelIsHonoured(t *testing.T) {
	gzBytes := func(level int) []byte {
		var out []byte
		if _, err := Generate(Config{Seed: 3, Files: 4, RecordsPerFile: 50, Level: level, Workers: 1}, func(_ string, gz []byte) error {
			out = append(out, gz...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	fast := gzBytes(gzip.BestSpeed)
	best := gzBytes(gzip.BestCompression) // runs after BestSpeed writers were pooled
	again := gzBytes(gzip.BestSpeed)      // and after BestCompression ones
	if bytes.Equal(fast, best) {
		t.Error("level 9 wrote the same bytes as level 1: a pooled writer's level was used")
	}
	if !bytes.Equal(fast, again) {
		t.Error("the same Config wrote different bytes after another level ran")
	}
}

func BenchmarkGenerate(b *testing.B) {
	var n int64
	for b.Loop() {
		tr, err := Generate(Config{Seed: 1, Files: 20, RecordsPerFile: 200}, func(string, []byte) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		n = tr.Bytes
	}
	b.SetBytes(n)
}

// The world is coherent about centralised-root sessions: every action of
// one (a root event of category assumed-root) carries the access key of an
// sts:AssumeRoot call the generator also wrote, in the management
// account's log, for that member account, issued before the action and
// not expired at it, with a task policy that allows it; the calls are
// findings of rule root-session-issued, never root events; and
// "AssumeRoot" also appears where it is no such call.
func TestSessionsAreCoherent(t *testing.T) {
	cfg := Defaults(Config{Seed: 9, Files: 90, RecordsPerFile: 100, RootShare: 0.05, LookalikeShare: 0.1})
	files, order, tr := collect(t, cfg)
	pos := map[string]int{}
	for i, k := range order {
		pos[k] = i
	}
	mgmt := cfg.Accounts[0]
	allows := map[string][]string{
		"IAMAuditRootUserCredentials":  {"ListAccessKeys", "GetLoginProfile", "ListMFADevices"},
		"IAMCreateRootUserPassword":    {"GetLoginProfile", "CreateLoginProfile"},
		"IAMDeleteRootUserCredentials": {"ListAccessKeys", "DeleteLoginProfile", "DeleteAccessKey"},
		"S3UnlockBucketPolicy":         {"DeleteBucketPolicy"},
		"SQSUnlockQueuePolicy":         {"SetQueueAttributes"},
	}
	calls := map[string]match.Finding{} // access key -> the AssumeRoot call's finding
	callKey := map[string]string{}      // access key -> the file holding the call
	actions := map[string]map[string]any{}
	mentions := 0
	for key, b := range files {
		var doc struct{ Records []json.RawMessage }
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for _, raw := range doc.Records {
			f, ok := match.Find(raw, match.ObjectRef{Key: key}, time.Now())
			var rec map[string]any
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			switch {
			case ok && f.Rule == match.RuleRootSessionIssued:
				if f.Session == nil || f.Session.AccessKeyID == "" || calls[f.Session.AccessKeyID].EventID != "" {
					t.Fatalf("AssumeRoot call without a key of its own: %s", raw)
				}
				calls[f.Session.AccessKeyID], callKey[f.Session.AccessKeyID] = f, key
			case ok && f.AssumedRoot:
				actions[f.EventID] = rec
			case !ok && bytes.Contains(raw, []byte("AssumeRoot")):
				mentions++
			}
		}
	}
	if mentions == 0 {
		t.Errorf("no record mentions AssumeRoot without being an sts:AssumeRoot call")
	}
	if len(calls) != len(tr.Sessions) {
		t.Errorf("%d AssumeRoot calls in the files, truth lists %d", len(calls), len(tr.Sessions))
	}
	for _, s := range tr.Sessions {
		c, ok := calls[s.AccessKeyID]
		if !ok || c.EventID != s.EventID || callKey[s.AccessKeyID] != s.Key || c.AccountID != mgmt || c.Session.TargetAccountID != s.Target || s.Target == mgmt {
			t.Errorf("truth session %+v: call %+v in %s", s, c, callKey[s.AccessKeyID])
		}
		if d := c.Session.Expiration.Sub(c.Session.IssuedAt); d != 15*time.Minute {
			t.Errorf("session %s lasts %s, want 15m", s.AccessKeyID, d)
		}
	}
	used := map[string]bool{}
	for _, r := range tr.Root {
		if _, isCall := calls[r.Session]; r.Category != match.CategoryAssumedRoot {
			if r.Session != "" {
				t.Errorf("%s: category %s with session %s", r.EventID, r.Category, r.Session)
			}
			continue
		} else if !isCall {
			t.Errorf("%s: session action with key %q that no AssumeRoot call issued", r.EventID, r.Session)
			continue
		}
		rec, c := actions[r.EventID], calls[r.Session]
		ui := rec["userIdentity"].(map[string]any)
		at, _ := time.Parse(time.RFC3339, rec["eventTime"].(string))
		name := rec["eventName"].(string)
		if ui["accessKeyId"] != r.Session || ui["accountId"] != c.Session.TargetAccountID ||
			!at.After(c.Session.IssuedAt) || !at.Before(c.Session.Expiration) ||
			!slices.Contains(allows[c.Session.TaskPolicy()], name) {
			t.Errorf("action %s %s at %s in %v with key %v does not fit its session %+v", r.EventID, name, at, ui["accountId"], ui["accessKeyId"], c.Session)
		}
		if pos[callKey[r.Session]] > pos[r.Key] {
			t.Errorf("session %s: the call's file comes after the action's", r.Session)
		}
		used[r.Session] = true
	}
	if len(used) < 5 {
		t.Errorf("only %d sessions used", len(used))
	}
	if len(used) > len(tr.Sessions) {
		t.Errorf("%d sessions used, %d calls", len(used), len(tr.Sessions))
	}
	t.Logf("%d sessions, %d used, %d root events, %d look-alike mentions", len(tr.Sessions), len(used), len(tr.Root), mentions)
}

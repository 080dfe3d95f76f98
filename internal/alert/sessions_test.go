package alert

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"rootwatch/internal/channel"
	"rootwatch/internal/config"
	"rootwatch/internal/fixtures"
	"rootwatch/internal/match"
)

// The sessions of these tests are written from AWS's documented examples
// (internal/fixtures: the AssumeRoot event in the management account, the
// session's actions in the member account) and matched by internal/match,
// as ingest does.

const sessionsConfig = `
source: "-"
grouping: {group_interval: 10ms}
channels: [{name: pager, type: console}, {name: audit, type: console}]
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {channels: [pager]}
`

// found matches a fixture record as ingest does.
func found(t testing.TB, raw string) match.Finding {
	t.Helper()
	f, ok := match.Find([]byte(raw), match.ObjectRef{Bucket: "trail", Key: "k"}, baseTime)
	if !ok {
		t.Fatalf("record not matched: %s", raw)
	}
	return f
}

// issue is the AssumeRoot finding of s; act one action of s.
func issue(t testing.TB, s fixtures.Session) match.Finding {
	return found(t, fixtures.AssumeRootRecord(s))
}

func act(t testing.TB, s fixtures.Session, id, name, ip, region string, after time.Duration) match.Finding {
	return found(t, fixtures.SessionAction(s, id, name, ip, region, s.Issued.Add(after)))
}

func runStdin(t *testing.T, s *Service, fs ...match.Finding) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.RunStdin(ctx, strings.NewReader(lines(t, fs))); err != nil {
		t.Fatal(err)
	}
}

// byCategory keeps the notifications of one incident category.
func byCategory(ns []channel.Notification, c match.Category) []channel.Notification {
	var out []channel.Notification
	for _, n := range ns {
		if n.Incident.Category == c {
			out = append(out, n)
		}
	}
	return out
}

func hasNote(n channel.Notification, want string) bool {
	for _, note := range n.Notes {
		if strings.Contains(note, want) {
			return true
		}
	}
	return false
}

const janeOpened = "opened by arn:aws:sts::111111111111:assumed-role/Admin/jane from 192.0.2.1 for S3UnlockBucketPolicy"

// checkOneSessionIncident: one incident for the session, paged once, and
// (at open, or in the update that follows) naming who opened it.
func checkOneSessionIncident(t *testing.T, ns []channel.Notification, wantOpenNamesIssuer bool) channel.Notification {
	t.Helper()
	sess := byCategory(ns, match.CategoryAssumedRoot)
	if len(byIncident(sess)) != 1 {
		t.Fatalf("want one incident for the session, got %d: %+v", len(byIncident(sess)), sess)
	}
	if k := kinds(sess); k[channel.KindOpen] != 1 {
		t.Fatalf("the session paged %d times", k[channel.KindOpen])
	}
	open := sess[0]
	if got := hasNote(open, janeOpened); got != wantOpenNamesIssuer {
		t.Errorf("open names the issuer: %v, want %v; notes %q", got, wantOpenNamesIssuer, open.Notes)
	}
	if !wantOpenNamesIssuer && !hasNote(open, "not known yet") {
		t.Errorf("open does not say the issuer is not known yet: %q", open.Notes)
	}
	last := sess[len(sess)-1]
	if !hasNote(last, janeOpened) {
		t.Errorf("the last notification does not name the issuer: %q", last.Notes)
	}
	return last
}

// AssumeRoot first, then the session's actions in two regions: one page,
// naming who opened the session.
func TestSessionIssuerKnownFirst(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	jane := fixtures.DefaultSession()
	runStdin(t, s, issue(t, jane),
		act(t, jane, "a1", "GetBucketPolicy", jane.CallerIP, "us-west-2", time.Minute),
		act(t, jane, "a2", "DeleteBucketPolicy", jane.CallerIP, "eu-west-1", 2*time.Minute))
	last := checkOneSessionIncident(t, pager.notes(), true)
	if last.Incident.Count != 3 || last.Incident.NotRoot != 1 || last.Incident.AccountID != fixtures.MemberAccount { // the call and two actions
		t.Errorf("incident %+v", last.Incident)
	}
	names := map[string]bool{}
	for _, n := range pager.notes() {
		for _, f := range n.Findings {
			names[f.EventName+"/"+f.Region] = true
			if f.EventName != "AssumeRoot" && (f.Session == nil || f.Session.CallerARN != jane.Caller) {
				t.Errorf("action %s not enriched with its session: %+v", f.EventID, f.Session)
			}
		}
	}
	for _, want := range []string{"AssumeRoot/us-west-2", "GetBucketPolicy/us-west-2", "DeleteBucketPolicy/eu-west-1"} {
		if !names[want] {
			t.Errorf("no notification carried %s: %v", want, names)
		}
	}
	if n := len(byCategory(pager.notes(), match.CategorySessionFailed)) + len(byCategory(pager.notes(), CategoryUnusualTaskPolicy)) +
		len(byCategory(pager.notes(), CategorySessionIPMismatch)); n != 0 {
		t.Errorf("a usual session from one address raised %d notices", n)
	}
	if v := value(t, s.m.joins.WithLabelValues("at-open")); v != 1 {
		t.Errorf("joins at open: %v", v)
	}
	// Root use is the member account's, from the actions; never the caller's.
	ru := s.RootUses()
	if len(ru) != 1 || ru[0].AccountID != fixtures.MemberAccount || ru[0].EventID != "a2" {
		t.Errorf("root uses %+v", ru)
	}
}

// The actions first, the AssumeRoot call after (logs of different accounts
// arrive in any order): the page says the issuer is not known yet and the
// same incident is updated when it is.
func TestSessionIssuerArrivesLate(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	jane := fixtures.DefaultSession()
	runStdin(t, s,
		act(t, jane, "a1", "GetBucketPolicy", jane.CallerIP, "us-west-2", time.Minute),
		act(t, jane, "a2", "DeleteBucketPolicy", jane.CallerIP, "us-east-1", 2*time.Minute),
		issue(t, jane))
	last := checkOneSessionIncident(t, pager.notes(), false)
	if last.Kind != channel.KindUpdate || last.Incident.Count != 3 || last.Findings[len(last.Findings)-1].EventName != "AssumeRoot" {
		t.Errorf("the update does not carry the AssumeRoot call: %s %+v", last.Kind, last.Findings)
	}
	// The call is never counted as a root event, in any notification.
	if m := channel.Render(&last); last.Incident.NotRoot != 1 || !strings.HasSuffix(m.Title.In(channel.Plain), " root event and 1 sts:AssumeRoot call") ||
		strings.Contains(m.Title.In(channel.Plain), fmt.Sprintf("%d more root events", len(last.Findings))) {
		t.Errorf("update counts the AssumeRoot call as %q (incident %+v)", m.Title.In(channel.Plain), last.Incident)
	}
	if v := value(t, s.m.joins.WithLabelValues("late")); v != 1 {
		t.Errorf("late joins: %v", v)
	}
}

// Two sessions of two issuers in one member account: an incident each,
// each naming its own issuer.
func TestSessionsOfTwoIssuers(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	jane := fixtures.DefaultSession()
	bob := jane
	bob.Caller, bob.CallerIP, bob.KeyID, bob.IssueID, bob.TaskPolicy = "arn:aws:sts::111111111111:assumed-role/Admin/bob", "198.51.100.20",
		"ASIABOBEXAMPLE000001", "issue-bob", "IAMDeleteRootUserCredentials"
	runStdin(t, s, issue(t, jane), issue(t, bob),
		act(t, jane, "j1", "DeleteBucketPolicy", jane.CallerIP, "us-west-2", time.Minute),
		act(t, bob, "b1", "DeleteLoginProfile", bob.CallerIP, "us-east-1", time.Minute))
	incs := byIncident(byCategory(pager.notes(), match.CategoryAssumedRoot))
	if len(incs) != 2 {
		t.Fatalf("want an incident per session, got %d", len(incs))
	}
	for _, ns := range incs {
		key := ""
		for _, f := range ns[0].Findings {
			if f.EventName != "AssumeRoot" {
				key = f.AccessKeyID
			}
		}
		want := janeOpened
		if key == bob.KeyID {
			want = "opened by arn:aws:sts::111111111111:assumed-role/Admin/bob from 198.51.100.20 for IAMDeleteRootUserCredentials"
		}
		if !hasNote(ns[0], want) {
			t.Errorf("session %s: notes %q, want %q", key, ns[0].Notes, want)
		}
	}
}

// A failed AssumeRoot call is an alert of its own (not root use), naming
// who tried; the session is not opened.
func TestFailedAssumeRoot(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	failed := fixtures.DefaultSession()
	failed.ErrorCode, failed.ErrorMessage = "AccessDenied", "not authorized to perform sts:AssumeRoot"
	runStdin(t, s, issue(t, failed))
	ns := byCategory(pager.notes(), match.CategorySessionFailed)
	if len(ns) != 1 || ns[0].Incident.AccountID != fixtures.ManagementAccount || ns[0].Incident.Severity != match.SeverityHigh {
		t.Fatalf("failed AssumeRoot: %+v", pager.notes())
	}
	if !hasNote(ns[0], "sts:AssumeRoot failed (AccessDenied): called by "+failed.Caller+" from 192.0.2.1 for S3UnlockBucketPolicy (account 222222222222") {
		t.Errorf("notes %q", ns[0].Notes)
	}
	if got := channel.Render(&ns[0]).Title.In(channel.Plain); !strings.Contains(got, "Failed AssumeRoot call") {
		t.Errorf("title %q", got)
	}
	if len(s.RootUses()) != 0 || len(audit.notes()) != 0 || len(s.Status().Sessions) != 0 {
		t.Errorf("a failed call counted as root use (%v), a compliance notice (%d) or a session (%v)", s.RootUses(), len(audit.notes()), s.Status().Sessions)
	}
}

// A task policy the organisation does not expect is an alert; the expected
// ones are not. Unusual-policy alerts are routed by task policy and caller.
func TestUnusualTaskPolicy(t *testing.T) {
	pager, audit, iam := newRecorder("pager"), newRecorder("audit"), newRecorder("iam")
	s := newService(t, testConfig(t, `
source: "-"
grouping: {group_interval: 10ms}
sessions: {expected_task_policies: [S3UnlockBucketPolicy, "arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy"]}
channels: [{name: pager, type: console}, {name: audit, type: console}, {name: iam, type: console}]
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {match: {categories: [unusual-task-policy], task_policies: ["IAM*"], callers: ["arn:aws:sts::111111111111:assumed-role/Admin/*"]}, channels: [iam]}
  - {channels: [pager]}
`), pager, audit, iam)
	usual := fixtures.DefaultSession()
	sqs := usual
	sqs.KeyID, sqs.IssueID, sqs.TaskPolicy = "ASIASQSEXAMPLE000001", "issue-sqs", "SQSUnlockQueuePolicy"
	odd := usual
	odd.KeyID, odd.IssueID, odd.TaskPolicy, odd.CallerIP = "ASIAODDEXAMPLE000001", "issue-odd", "IAMCreateRootUserPassword", "203.0.113.77"
	runStdin(t, s, issue(t, usual), issue(t, sqs), issue(t, odd))
	if n := len(pager.notes()); n != 0 {
		t.Errorf("usual sessions paged: %+v", pager.notes())
	}
	ns := iam.notes()
	if len(ns) != 1 || ns[0].Incident.Category != CategoryUnusualTaskPolicy || ns[0].Findings[0].EventID != "issue-odd" {
		t.Fatalf("unusual policy alert: %+v", ns)
	}
	if !hasNote(ns[0], "unusual task policy IAMCreateRootUserPassword (expected: S3UnlockBucketPolicy, SQSUnlockQueuePolicy): opened by "+odd.Caller+" from 203.0.113.77") {
		t.Errorf("notes %q", ns[0].Notes)
	}
	if v := value(t, s.m.findings.WithLabelValues("session")); v != 2 {
		t.Errorf("usual sessions recorded: %v", v)
	}
	if got := len(s.Status().Sessions); got != 3 {
		t.Errorf("session table holds %d sessions, want 3", got)
	}
}

// A session used from another address than the one it was opened from is
// an alert, once per session and address, in both arrival orders.
func TestSessionUsedFromAnotherIP(t *testing.T) {
	for _, late := range []bool{false, true} {
		pager, audit := newRecorder("pager"), newRecorder("audit")
		s := newService(t, testConfig(t, sessionsConfig), pager, audit)
		jane := fixtures.DefaultSession()
		acts := []match.Finding{
			act(t, jane, "a1", "GetBucketPolicy", jane.CallerIP, "us-west-2", time.Minute),
			act(t, jane, "a2", "DeleteBucketPolicy", "198.51.100.99", "us-west-2", 2*time.Minute),
			act(t, jane, "a3", "GetBucketPolicy", "198.51.100.99", "us-west-2", 3*time.Minute),
			act(t, jane, "a4", "GetBucketPolicy", "AWS Internal", "us-west-2", 4*time.Minute),
		}
		fs := append([]match.Finding{issue(t, jane)}, acts...)
		if late {
			fs = append(acts, issue(t, jane))
		}
		runStdin(t, s, fs...)
		ns := byCategory(pager.notes(), CategorySessionIPMismatch)
		if len(ns) != 1 {
			t.Fatalf("late=%v: want one IP notice, got %+v", late, ns)
		}
		if !hasNote(ns[0], "the session was opened from 192.0.2.1 and used from 198.51.100.99 (DeleteBucketPolicy in account 222222222222") ||
			!hasNote(ns[0], janeOpened) {
			t.Errorf("late=%v: notes %q", late, ns[0].Notes)
		}
		checkOneSessionIncident(t, pager.notes(), !late)
	}
}

// Silences and routes match who opened a session and its task policy; a
// session whose issuer is not known matches neither (it pages).
func TestSilenceAndRouteBySession(t *testing.T) {
	pager, audit, iam := newRecorder("pager"), newRecorder("audit"), newRecorder("iam")
	s := newService(t, testConfig(t, `
source: "-"
grouping: {group_interval: 10ms}
channels: [{name: pager, type: console}, {name: audit, type: console}, {name: iam, type: console}]
silences:
  - {match: {callers: ["arn:aws:sts::111111111111:assumed-role/Admin/jane"]}, until: 2999-01-01T00:00:00Z, reason: jane's runbook}
routes:
  - {match: {categories: [compliance]}, channels: [audit]}
  - {match: {task_policies: ["arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials"]}, channels: [iam]}
  - {channels: [pager]}
`), pager, audit, iam)
	jane := fixtures.DefaultSession()
	bob := jane
	bob.Caller, bob.KeyID, bob.IssueID, bob.TaskPolicy = "arn:aws:sts::111111111111:assumed-role/Admin/bob", "ASIABOBEXAMPLE000001", "issue-bob", "IAMDeleteRootUserCredentials"
	unknown := jane
	unknown.KeyID = "ASIAUNKNOWN000000001"
	runStdin(t, s, issue(t, jane), issue(t, bob),
		act(t, jane, "j1", "DeleteBucketPolicy", jane.CallerIP, "us-west-2", time.Minute),
		act(t, bob, "b1", "DeleteLoginProfile", bob.CallerIP, "us-west-2", time.Minute),
		act(t, unknown, "u1", "DeleteBucketPolicy", jane.CallerIP, "us-west-2", time.Minute))
	if v := value(t, s.m.findings.WithLabelValues("silenced")); v != 1 {
		t.Errorf("silenced %v, want jane's action", v)
	}
	if ns := iam.notes(); len(ns) != 1 || ns[0].Findings[0].EventID != "b1" && ns[0].Findings[1].EventID != "b1" {
		t.Errorf("bob's session routed by task policy: %+v", ns)
	}
	p := byCategory(pager.notes(), match.CategoryAssumedRoot)
	if len(p) != 1 || p[0].Findings[0].EventID != "u1" || !hasNote(p[0], "not known yet") {
		t.Errorf("the session of unknown issuer pages: %+v", p)
	}
}

// Configuration errors name the key and say what is wanted.
func TestSessionConfigErrors(t *testing.T) {
	var c Config
	err := config.Decode([]byte(`
source: "-"
channels: [{name: pager, type: console}]
sessions: {expected_task_policies: ["S3 Unlock"]}
routes:
  - {match: {task_policies: ["arn:aws:iam::aws:policy/AdministratorAccess"], callers: [jane]}, channels: [pager]}
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDefaults()
	err = c.Validate()
	for _, want := range []string{
		`sessions.expected_task_policies[0]: "S3 Unlock" is not a task policy`,
		`routes[0].match.task_policies[0]: "arn:aws:iam::aws:policy/AdministratorAccess" is not the ARN of a root-task policy`,
		`routes[0].match.callers[0]: "jane" is not an ARN`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
	var d Config
	d.SetDefaults()
	if strings.Join(d.Sessions.ExpectedTaskPolicies, ",") != strings.Join(RootTaskPolicies, ",") {
		t.Errorf("default expected task policies: %v", d.Sessions.ExpectedTaskPolicies)
	}
}

// Issued sessions and the session fields of incidents survive a restore,
// and expire after the dedup TTL.
func TestSessionStateRoundTrip(t *testing.T) {
	cfg := testConfig(t, sessionsConfig)
	r, p := compileRules(cfg), &params{window: time.Hour, dedupTTL: 24 * time.Hour, maxFindings: 20, unusedAfter: 7 * 24 * time.Hour}
	now := baseTime
	st := newPartState(0)
	jane := fixtures.DefaultSession()
	a := act(t, jane, "a1", "DeleteBucketPolicy", "198.51.100.99", "us-west-2", time.Minute)
	st.ingest(r, p, &a, now, nil)
	i := issue(t, jane)
	res := st.ingest(r, p, &i, now, nil)
	if res.outcome != OutcomeSession || res.joinedLate != 1 || len(res.notices) != 1 {
		t.Fatalf("AssumeRoot after its action: %+v", res)
	}
	recs, err := st.records()
	if err != nil {
		t.Fatal(err)
	}
	back := newPartState(0)
	for _, rec := range recs {
		if err := back.apply(rec, now); err != nil {
			t.Fatal(err)
		}
	}
	back.finishRestore()
	if back.issuer(jane.KeyID) == nil || back.issuer(jane.KeyID).Session.CallerARN != jane.Caller {
		t.Fatalf("issued session not restored")
	}
	var sessInc *incident
	for _, inc := range back.incidents {
		if inc.SessionKey == jane.KeyID {
			sessInc = inc
		}
	}
	if sessInc == nil || sessInc.Issuer == nil || len(sessInc.NoticedIPs) != 1 || sessInc.isNotice() {
		t.Fatalf("session incident not restored: %+v", sessInc)
	}
	notices := 0
	for _, inc := range back.incidents {
		if inc.isNotice() && inc.Category == CategorySessionIPMismatch {
			notices++
		}
	}
	if notices != 1 {
		t.Errorf("%d notices restored", notices)
	}
	// Past the TTL the session is forgotten, and a tombstone says so.
	back.expire(now.Add(25*time.Hour), time.Hour)
	recs, _ = back.records()
	tomb := false
	for _, rec := range recs {
		tomb = tomb || (rec.Key == prefixSession+jane.KeyID && rec.Value == nil)
	}
	if !tomb || back.issuer(jane.KeyID) != nil {
		t.Errorf("session not expired: tombstone %v", tomb)
	}
}

// The status page and GET /api/status show the sessions known and, on a
// session incident, who opened it.
func TestStatusShowsSessions(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	jane := fixtures.DefaultSession()
	runStdin(t, s, issue(t, jane), act(t, jane, "a1", "DeleteBucketPolicy", jane.CallerIP, "us-west-2", time.Minute))
	st := s.Status()
	if len(st.Sessions) != 1 || st.Sessions[0].CallerARN != jane.Caller || st.Sessions[0].AccessKeyID != jane.KeyID {
		t.Fatalf("sessions %+v", st.Sessions)
	}
	var sess *FleetIncident
	for i := range st.Incidents {
		if st.Incidents[i].AccessKeyID == jane.KeyID {
			sess = &st.Incidents[i]
		}
	}
	if sess == nil || !strings.HasPrefix(sess.OpenedBy, janeOpened) || sess.Count != 2 || sess.Channels[0] != "pager" {
		t.Fatalf("session incident %+v", sess)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	body, _ := getPage(t, srv.URL+"/")
	for _, want := range []string{"Centralised root sessions", "<code>" + jane.Caller + "</code>", "S3UnlockBucketPolicy", "session <code>" + jane.KeyID + "</code>", janeOpened} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

// byEventBridge is the real-time copy of a finding: the same record,
// without an object, path eventbridge, as internal/pipeline/realtime.go
// writes it.
func byEventBridge(f match.Finding) match.Finding {
	f.Path, f.Object = match.PathEventBridge, match.ObjectRef{}
	return f
}

// With the real-time path, the AssumeRoot call and the session's actions
// arrive first through EventBridge (the call as the documented
// EventBridge event of internal/fixtures), then again from their log
// files. The action is joined with its issuer when its incident opens:
// one page, naming who opened the session, no update owed; each log
// file's copy is a duplicate, absorbed like any finding's (measured,
// enriching the incident's real-time copy of the action).
func TestSessionByEventBridgeThenS3(t *testing.T) {
	pager, audit := newRecorder("pager"), newRecorder("audit")
	s := newService(t, testConfig(t, sessionsConfig), pager, audit)
	jane := fixtures.DefaultSession()
	ev := fixtures.EventNamed("AssumeRoot call")
	if ev.EventID() != jane.IssueID {
		t.Fatalf("the EventBridge fixture is not the default session's call: %s", ev.EventID())
	}
	ebIssue := byEventBridge(found(t, ev.Detail()))
	s3Issue := issue(t, jane)
	s3Act := act(t, jane, "a1", "DeleteBucketPolicy", jane.CallerIP, "us-west-2", time.Minute)
	ebAct := byEventBridge(s3Act)
	if ebIssue.Rule != match.RuleRootSessionIssued || ebIssue.EventID != s3Issue.EventID || s3Issue.Path != match.PathS3 {
		t.Fatalf("copies of the call: %s %s %s / %s %s", ebIssue.Rule, ebIssue.EventID, ebIssue.Path, s3Issue.EventID, s3Issue.Path)
	}
	runStdin(t, s, ebIssue, ebAct, s3Issue, s3Act)

	last := checkOneSessionIncident(t, pager.notes(), true)
	if k := kinds(pager.notes()); k[channel.KindOpen] != 1 || len(pager.notes()) != 1 {
		t.Errorf("notifications %v, want the one page", k)
	}
	if last.Incident.Count != 2 { // the call and the action, each once
		t.Errorf("incident counts %d findings, want 2", last.Incident.Count)
	}
	for _, c := range []struct {
		what string
		m    prometheus.Metric
		want float64
	}{
		{"joins at open", s.m.joins.WithLabelValues("at-open"), 1},
		{"late joins", s.m.joins.WithLabelValues("late"), 0},
		{"duplicates (the two log files' copies)", s.m.findings.WithLabelValues("duplicate"), 2},
		{"session calls recorded", s.m.findings.WithLabelValues("session"), 1},
		{"first arrivals by eventbridge", s.m.firstArrivals.WithLabelValues("eventbridge"), 2},
		{"first arrivals by s3", s.m.firstArrivals.WithLabelValues("s3"), 0},
		{"enriched copies (the action's)", s.m.enriched, 1},
	} {
		if v := value(t, c.m); v != c.want {
			t.Errorf("%s: %v, want %v", c.what, v, c.want)
		}
	}
	// The call is never root use: only the member account's action is.
	if ru := s.RootUses(); len(ru) != 1 || ru[0].AccountID != fixtures.MemberAccount || ru[0].EventID != "a1" {
		t.Errorf("root uses %+v, want only the member account's action", ru)
	}
}

// An unusual task policy's alert keeps its category when the log file's
// copy of the call replaces the real-time one: the copies are the same
// call (no "copies differ"), and the incident's stored finding stays an
// unusual-task-policy alert.
func TestUnusualTaskPolicyByEventBridgeThenS3(t *testing.T) {
	s := newService(t, testConfig(t, sessionsConfig+"sessions: {expected_task_policies: [IAMAuditRootUserCredentials]}\n"), newRecorder("pager"), newRecorder("audit"))
	jane := fixtures.DefaultSession() // S3UnlockBucketPolicy: not expected here
	s3Issue := issue(t, jane)
	ebIssue := byEventBridge(s3Issue)
	st := newPartState(0)
	t0 := time.Now().UTC()
	res := st.ingest(s.rules, &s.params, &ebIssue, t0, nil)
	if res.outcome != OutcomeOpened || res.inc == nil || res.inc.Category != CategoryUnusualTaskPolicy {
		t.Fatalf("real-time copy: outcome %s, incident %+v", res.outcome, res.inc)
	}
	st.trackCopies(&ebIssue, res, t0, s.params.dedupTTL)
	id := res.inc.ID
	t1 := t0.Add(5 * time.Minute)
	res = st.ingest(s.rules, &s.params, &s3Issue, t1, nil)
	c := st.trackCopies(&s3Issue, res, t1, s.params.dedupTTL)
	if res.outcome != OutcomeDuplicate || !c.second || !c.enriched || c.differs {
		t.Fatalf("log file's copy: outcome %s, %+v; want an enriching duplicate whose copies agree", res.outcome, c)
	}
	got := st.incidents[id].Recent[0].Finding
	if got.Category != CategoryUnusualTaskPolicy || got.Severity != match.SeverityHigh || got.Object != s3Issue.Object || got.Rule != match.RuleRootSessionIssued {
		t.Errorf("stored copy after the merge: %s/%s rule %s object %+v", got.Category, got.Severity, got.Rule, got.Object)
	}
}

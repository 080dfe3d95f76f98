package channel

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSlackBotThreadsFollowUps(t *testing.T) {
	f := fakeSlackAPI(t)
	ch := mustBuild(t, providerCases()[1].config(f.srv.URL), testDeps(t))
	ctx := testCtx(t)

	open := sampleNotification(KindOpen)
	st, err := ch.Send(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	if st["thread_ts"] == "" || st["channel"] != "C0SECOPS" {
		t.Fatalf("open state = %v, want thread_ts and channel", st)
	}
	if got := f.last().json(t)["thread_ts"]; got != nil {
		t.Errorf("open posted into a thread: %v", got)
	}
	if f.last().Header.Get("Authorization") != "Bearer "+slackToken {
		t.Errorf("Authorization = %q", f.last().Header.Get("Authorization"))
	}

	for _, kind := range []Kind{KindUpdate, KindRepeat, KindResolve} {
		n := sampleNotification(kind, sampleFinding(2), sampleFinding(3))
		n.State = st
		st2, err := ch.Send(ctx, n)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		body := f.last().json(t)
		if body["thread_ts"] != st["thread_ts"] {
			t.Errorf("%s: thread_ts = %v, want the open's %q", kind, body["thread_ts"], st["thread_ts"])
		}
		if bc, _ := body["reply_broadcast"].(bool); bc != (kind != KindUpdate) {
			t.Errorf("%s: reply_broadcast = %v", kind, bc)
		}
		if st2["thread_ts"] != st["thread_ts"] {
			t.Errorf("%s: state thread_ts changed to %q", kind, st2["thread_ts"])
		}
	}
	if text, _ := f.requests()[1].json(t)["text"].(string); !strings.Contains(text, "2 more root events: ConsoleLogin") {
		t.Errorf("update text = %q, want the follow-up summary", text)
	}
}

func TestSlackBotOKFalseIsPermanent(t *testing.T) {
	f := fakeSlackAPI(t)
	cfg := strings.Replace(providerCases()[1].config(f.srv.URL), "C0SECOPS", "C0GONE", 1)
	ch := mustBuild(t, cfg, testDeps(t))
	_, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
	if err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("err = %v, want channel_not_found", err)
	}
	if retry, _ := Retryable(err); retry {
		t.Errorf("channel_not_found is retryable")
	}
}

func TestSlackWebhook(t *testing.T) {
	f := fakeSlackWebhook(t)
	ch := mustBuild(t, providerCases()[0].config(f.srv.URL), testDeps(t))
	st, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 0 {
		t.Errorf("webhook state = %v, want none (webhooks cannot thread)", st)
	}
	body := f.last().json(t)
	blocks, _ := body["blocks"].([]any)
	if len(blocks) < 3 {
		t.Fatalf("blocks = %v", blocks)
	}
	hdr := blocks[0].(map[string]any)
	if hdr["type"] != "header" || hdr["text"].(map[string]any)["type"] != "plain_text" {
		t.Errorf("first block = %v, want a plain_text header", hdr)
	}
	if text, _ := body["text"].(string); !strings.Contains(text, "Root console sign-in in account 123456789012") {
		t.Errorf("fallback text = %q", text)
	}
}

func TestPagerDutyDedupAndResolve(t *testing.T) {
	f := fakePagerDuty(t)
	ch := mustBuild(t, providerCases()[2].config(f.srv.URL), testDeps(t))
	ctx := testCtx(t)
	st, err := ch.Send(ctx, sampleNotification(KindOpen))
	if err != nil {
		t.Fatal(err)
	}
	open := f.last().json(t)
	if open["event_action"] != "trigger" || open["routing_key"] != pdRoutingKey {
		t.Errorf("open = %v", open)
	}
	if open["dedup_key"] != "rootwatch/inc-2026-11-21-abc123" || st["dedup_key"] != open["dedup_key"] {
		t.Errorf("dedup_key = %v, state %v", open["dedup_key"], st)
	}
	pl := open["payload"].(map[string]any)
	if pl["severity"] != "critical" || pl["source"] == "" || pl["timestamp"] != "2026-11-21T19:00:01Z" {
		t.Errorf("payload = %v", pl)
	}
	fs := pl["custom_details"].(map[string]any)["findings"].([]any)
	if fs[0].(map[string]any)["eventName"] != "ConsoleLogin" {
		t.Errorf("custom_details.findings = %v", fs)
	}

	up := sampleNotification(KindUpdate, sampleFinding(2))
	up.State = st
	if _, err := ch.Send(ctx, up); err != nil {
		t.Fatal(err)
	}
	if got := f.last().json(t); got["event_action"] != "trigger" || got["dedup_key"] != open["dedup_key"] {
		t.Errorf("update = %v, want a trigger with the same dedup_key", got)
	}
	res := sampleNotification(KindResolve)
	res.State = st
	if _, err := ch.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	if got := f.last().json(t); got["event_action"] != "resolve" || got["dedup_key"] != open["dedup_key"] {
		t.Errorf("resolve = %v", got)
	}
}

func TestPagerDutySeverityMapping(t *testing.T) {
	for sev, want := range map[string]string{"critical": "critical", "high": "error", "medium": "warning", "low": "info", "": "info"} {
		if got := pdSeverity(matchSeverity(sev)); got != want {
			t.Errorf("pdSeverity(%q) = %q, want %q", sev, got, want)
		}
	}
}

func TestServiceNowLooksUpBeforeCreating(t *testing.T) {
	f := fakeServiceNow(t)
	ch := mustBuild(t, providerCases()[3].config(f.srv.URL), testDeps(t))
	ctx := testCtx(t)
	open := sampleNotification(KindOpen)
	st, err := ch.Send(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	rs := f.requests()
	if len(rs) != 2 || rs[0].Method != http.MethodGet || rs[1].Method != http.MethodPost {
		t.Fatalf("requests = %v, want GET lookup then POST", methods(rs))
	}
	q, _ := url.ParseQuery(rs[0].RawQuery)
	if q.Get("sysparm_query") != "correlation_id=rootwatch:inc-2026-11-21-abc123" {
		t.Errorf("lookup query = %q", q.Get("sysparm_query"))
	}
	created := rs[1].json(t)
	if created["urgency"] != "1" || created["impact"] != "1" || created["assignment_group"] != "SecOps" {
		t.Errorf("create body = %v", created)
	}
	if st["sys_id"] == "" || !strings.HasPrefix(st["number"], "INC") {
		t.Fatalf("state = %v", st)
	}

	// A retried open (its first answer lost) finds the incident and creates nothing.
	st2, err := ch.Send(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	if st2["sys_id"] != st["sys_id"] {
		t.Errorf("retried open state = %v, want %v", st2, st)
	}
	posts := 0
	for _, r := range f.requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("%d incidents created, want 1", posts)
	}

	up := sampleNotification(KindUpdate, sampleFinding(2))
	up.State = st
	if _, err := ch.Send(ctx, up); err != nil {
		t.Fatal(err)
	}
	last := f.last()
	if last.Method != http.MethodPatch || last.Path != "/api/now/table/incident/"+st["sys_id"] {
		t.Errorf("update = %s %s, want PATCH on the sys_id", last.Method, last.Path)
	}
	if notes, _ := last.json(t)["work_notes"].(string); !strings.Contains(notes, "1 more root event: ConsoleLogin") {
		t.Errorf("work_notes = %q", notes)
	}
	res := sampleNotification(KindResolve)
	res.State = st
	if _, err := ch.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	if b := f.last().json(t); b["state"] != "6" || b["close_code"] == "" {
		t.Errorf("resolve body = %v", b)
	}
}

func TestServiceNowOAuth(t *testing.T) {
	var got string
	f := newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		got = r.Header.Get("Authorization")
		answer(w, 200, `{"result":[{"sys_id":"0123456789abcdef0123456789abcdef","number":"INC0010001"}]}`)
	})
	ch := mustBuild(t, "name: snow\ntype: servicenow\nbase_url: "+f.srv.URL+"\noauth_token: tok-SECRET-1\n", testDeps(t))
	if _, err := ch.Send(testCtx(t), sampleNotification(KindOpen)); err != nil {
		t.Fatal(err)
	}
	if got != "Bearer tok-SECRET-1" {
		t.Errorf("Authorization = %q", got)
	}
}

func TestZendeskTicketAndComments(t *testing.T) {
	f := fakeZendesk(t)
	ch := mustBuild(t, providerCases()[4].config(f.srv.URL), testDeps(t))
	ctx := testCtx(t)
	open := sampleNotification(KindOpen)
	st, err := ch.Send(ctx, open)
	if err != nil {
		t.Fatal(err)
	}
	first := f.last()
	if first.Header.Get("Idempotency-Key") != open.IdempotencyKey {
		t.Errorf("Idempotency-Key = %q, want %q", first.Header.Get("Idempotency-Key"), open.IdempotencyKey)
	}
	tk := first.json(t)["ticket"].(map[string]any)
	if tk["priority"] != "urgent" || !strings.Contains(strings.Join(toStrings(tk["tags"]), ","), "aws") {
		t.Errorf("ticket = %v", tk)
	}
	// The same notification retried gets the same ticket.
	st2, err := ch.Send(ctx, open)
	if err != nil || st2["ticket_id"] != st["ticket_id"] {
		t.Fatalf("retried open: %v, %v; want ticket %s", st2, err, st["ticket_id"])
	}
	up := sampleNotification(KindUpdate, sampleFinding(2))
	up.State = st
	if _, err := ch.Send(ctx, up); err != nil {
		t.Fatal(err)
	}
	last := f.last()
	if last.Method != http.MethodPut || last.Path != "/api/v2/tickets/"+st["ticket_id"]+".json" {
		t.Errorf("update = %s %s", last.Method, last.Path)
	}
	c := last.json(t)["ticket"].(map[string]any)["comment"].(map[string]any)
	if c["public"] != false || !strings.Contains(c["body"].(string), "1 more root event") {
		t.Errorf("comment = %v", c)
	}
	res := sampleNotification(KindResolve)
	res.State = st
	if _, err := ch.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	if s := f.last().json(t)["ticket"].(map[string]any)["status"]; s != "solved" {
		t.Errorf("resolve status = %v", s)
	}
}

func TestTwilioSMS(t *testing.T) {
	f := fakeTwilio(t)
	ch := mustBuild(t, providerCases()[5].config(f.srv.URL), testDeps(t))
	fs := []match_Finding{sampleFinding(1), sampleFinding(2), sampleFinding(3)}
	st, err := ch.Send(testCtx(t), sampleNotification(KindOpen, fs...))
	if err != nil {
		t.Fatal(err)
	}
	if st["message_sid"] == "" {
		t.Errorf("state = %v", st)
	}
	v, _ := url.ParseQuery(string(f.last().Body))
	if v.Get("To") != "+14155550199" || v.Get("From") != "+14155550100" {
		t.Errorf("form = %v", v)
	}
	body := v.Get("Body")
	if len(body) > 160 || !isGSM7(body) || !strings.Contains(body, "(+2 more)") {
		t.Errorf("Body = %q (%d chars), want <= 160 GSM-7 with the count", body, len(body))
	}
}

func TestTeamsAdaptiveCard(t *testing.T) {
	f := fakeTeams(t)
	ch := mustBuild(t, providerCases()[6].config(f.srv.URL), testDeps(t))
	if _, err := ch.Send(testCtx(t), sampleNotification(KindOpen)); err != nil {
		t.Fatal(err)
	}
	body := string(f.last().Body)
	if !strings.Contains(body, `"contentUrl":null`) || !strings.Contains(body, "FactSet") {
		t.Errorf("card = %s", body)
	}
}

func TestOpsgenieAliasNotesClose(t *testing.T) {
	f := fakeOpsgenie(t)
	ch := mustBuild(t, providerCases()[7].config(f.srv.URL), testDeps(t))
	ctx := testCtx(t)
	st, err := ch.Send(ctx, sampleNotification(KindOpen))
	if err != nil {
		t.Fatal(err)
	}
	created := f.last().json(t)
	if created["alias"] != "rootwatch-inc-2026-11-21-abc123" || st["alias"] != created["alias"] || created["priority"] != "P1" {
		t.Errorf("create = %v, state %v", created, st)
	}
	up := sampleNotification(KindUpdate, sampleFinding(2))
	up.State = st
	if _, err := ch.Send(ctx, up); err != nil {
		t.Fatal(err)
	}
	if p := f.last().Path; p != "/v2/alerts/"+st["alias"]+"/notes" {
		t.Errorf("update path = %s", p)
	}
	res := sampleNotification(KindResolve)
	res.State = st
	if _, err := ch.Send(ctx, res); err != nil {
		t.Fatal(err)
	}
	if p := f.last().Path; p != "/v2/alerts/"+st["alias"]+"/close" {
		t.Errorf("resolve path = %s", p)
	}
}

func TestWebhookSignedBody(t *testing.T) {
	f := fakeWebhook(t)
	ch := mustBuild(t, providerCases()[8].config(f.srv.URL), testDeps(t))
	n := sampleNotification(KindOpen)
	if _, err := ch.Send(testCtx(t), n); err != nil {
		t.Fatal(err)
	}
	last := f.last()
	if last.Header.Get("Idempotency-Key") != n.IdempotencyKey {
		t.Errorf("Idempotency-Key = %q", last.Header.Get("Idempotency-Key"))
	}
	if want := Signature([]byte(webhookSecret), last.Body); last.Header.Get("X-Rootwatch-Signature") != want {
		t.Errorf("signature = %q, want %q", last.Header.Get("X-Rootwatch-Signature"), want)
	}
	b := last.json(t)
	if b["incident"].(map[string]any)["id"] != n.Incident.ID || len(b["findings"].([]any)) != 1 || b["kind"] != "open" {
		t.Errorf("body = %v", b)
	}
}

// TestRetryPolicyAgainstProviders runs every HTTP channel through the shared
// RetryPolicy: 429 with Retry-After then 503 are retried (the wait honours
// Retry-After) and the third try succeeds; the provider's invalid-request
// answer stops after one attempt.
func TestRetryPolicyAgainstProviders(t *testing.T) {
	for _, pc := range providerCases() {
		t.Run(pc.typ, func(t *testing.T) {
			f := pc.fake(t)
			ch := mustBuild(t, pc.config(f.srv.URL), testDeps(t))
			sl := &fakeSleep{}
			p := RetryPolicy{Sleep: sl.sleep, MaxAttempts: 5}

			f.failNext(pc.rateLimited, status(503, "", `{"error":"unavailable"}`))
			res := p.Do(testCtx(t), ch, sampleNotification(KindOpen))
			if res.Err != nil || res.Attempts != 3 {
				t.Fatalf("Do = %d attempts, err %v; want success on the 3rd", res.Attempts, res.Err)
			}
			if len(sl.waits) != 2 || sl.waits[0] < 7*time.Second {
				t.Errorf("waits = %v, want 2 with the first >= Retry-After 7s", sl.waits)
			}

			sl.waits = nil
			f.failNext(pc.badRequest)
			res = p.Do(testCtx(t), ch, sampleNotification(KindOpen))
			if res.Err == nil || res.Attempts != 1 || len(sl.waits) != 0 {
				t.Fatalf("Do on invalid request = %d attempts, err %v; want 1 attempt and an error", res.Attempts, res.Err)
			}
			if retry, _ := Retryable(res.Err); retry {
				t.Errorf("invalid request is retryable: %v", res.Err)
			}
			var he *HTTPError
			if errors.As(res.Err, &he) && !utf8.ValidString(he.Body) {
				t.Errorf("error body not valid UTF-8: %q", he.Body)
			}
		})
	}
}

func methods(rs []recorded) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func isGSM7(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e || strings.ContainsRune(gsm7Unsafe, r) {
			return false
		}
	}
	return true
}

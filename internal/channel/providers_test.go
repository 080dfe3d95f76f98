package channel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Test secrets. Each is distinctive so that a leak into an error is found.
const (
	slackHookPath   = "/services/T0SECRETA/B0SECRETB/XsEcReTwEbHoOkToKeN123"
	slackToken      = "xoxb-1111-2222-SeCrEtBoTtOkEn"
	pdRoutingKey    = "R0UT1NGKEYSECRET0123456789abcdef" // 32 characters
	snPassword      = "sn-Pa55w0rd-SECRET"
	zdToken         = "zdApiTokenSECRET0123456789"
	twilioSIDTest   = "AC0123456789abcdef0123456789abcdef"
	twilioToken     = "twilioAuthTokenSECRET0123"
	teamsPath       = "/workflows/0123abcd/triggers/manual/paths/invoke"
	teamsSig        = "TeAmSsIgNaTuReSECRET_0123456789"
	opsgenieKey     = "eb243592-SECRET-4f4a-9cfd-opsgeniekey"
	webhookSecret   = "whsec-HMAC-SECRET-0123"
	webhookURLToken = "wh-url-token-SECRET-0123"
)

// secretsOf are the values that must never appear in an error.
var allSecrets = []string{
	slackHookPath, "XsEcReTwEbHoOkToKeN123", slackToken, pdRoutingKey, snPassword,
	zdToken, twilioToken, teamsSig, opsgenieKey, webhookSecret, webhookURLToken,
	base64.StdEncoding.EncodeToString([]byte("admin:" + snPassword)),
	base64.StdEncoding.EncodeToString([]byte("agent@example.com/token:" + zdToken)),
	base64.StdEncoding.EncodeToString([]byte(twilioSIDTest + ":" + twilioToken)),
}

// providerCase is one HTTP channel with its fake provider.
type providerCase struct {
	typ    string
	fake   func(t *testing.T) *fake
	config func(base string) string
	// badRequest is the provider's real answer to an invalid request (not retryable).
	badRequest func(w http.ResponseWriter)
	// rateLimited is the provider's real 429 answer.
	rateLimited func(w http.ResponseWriter)
	// rendered extracts the human-readable text the provider would show.
	rendered func(t *testing.T, r recorded) string
}

func providerCases() []providerCase {
	return []providerCase{
		{
			typ: "slack-webhook", fake: fakeSlackWebhook,
			config: func(base string) string {
				return fmt.Sprintf("name: slack-hook\ntype: slack\nwebhook_url: https://hooks.slack.com%s\nbase_url: %s\n", slackHookPath, base)
			},
			badRequest: func(w http.ResponseWriter) { w.WriteHeader(400); fmt.Fprint(w, "invalid_payload") },
			rateLimited: func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(429)
				fmt.Fprint(w, "rate_limited")
			},
			rendered: func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "slack-bot", fake: fakeSlackAPI,
			config: func(base string) string {
				return fmt.Sprintf("name: slack-bot\ntype: slack\ntoken: %s\nchannel: C0SECOPS\nbase_url: %s\n", slackToken, base)
			},
			badRequest:  status(200, "", `{"ok":false,"error":"channel_not_found"}`),
			rateLimited: status(429, "7", `{"ok":false,"error":"ratelimited"}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "pagerduty", fake: fakePagerDuty,
			config: func(base string) string {
				return fmt.Sprintf("name: pd\ntype: pagerduty\nrouting_key: %s\nbase_url: %s\n", pdRoutingKey, base)
			},
			badRequest:  status(400, "", `{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}`),
			rateLimited: status(429, "7", `{"status":"throttle event","message":"Requests for this service are arriving too quickly. Please retry later."}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "servicenow", fake: fakeServiceNow,
			config: func(base string) string {
				return fmt.Sprintf("name: snow\ntype: servicenow\ninstance_url: https://acme.service-now.com\nbase_url: %s\nusername: admin\npassword: %s\nassignment_group: SecOps\n", base, snPassword)
			},
			badRequest:  status(400, "", `{"error":{"message":"Invalid request","detail":"Exception while reading request"},"status":"failure"}`),
			rateLimited: status(429, "7", `{"error":{"message":"Rate limit exceeded","detail":"Too many requests"},"status":"failure"}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "zendesk", fake: fakeZendesk,
			config: func(base string) string {
				return fmt.Sprintf("name: zd\ntype: zendesk\nurl: https://acme.zendesk.com\nbase_url: %s\nemail: agent@example.com\napi_token: %s\ntags: [aws]\n", base, zdToken)
			},
			badRequest:  status(422, "", `{"error":"RecordInvalid","description":"Record validation errors","details":{"base":[{"description":"Subject: cannot be blank"}]}}`),
			rateLimited: status(429, "7", `{"error":"APIRateLimitExceeded","description":"Rate limit exceeded"}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "twilio", fake: fakeTwilio,
			config: func(base string) string {
				return fmt.Sprintf("name: sms\ntype: twilio\naccount_sid: %s\nauth_token: %s\nfrom: \"+14155550100\"\nto: \"+14155550199\"\nbase_url: %s\n", twilioSIDTest, twilioToken, base)
			},
			badRequest:  status(400, "", `{"code":21211,"message":"The 'To' number +1 is not a valid phone number.","more_info":"https://www.twilio.com/docs/errors/21211","status":400}`),
			rateLimited: status(429, "7", `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`),
			rendered: func(t *testing.T, r recorded) string {
				v, err := url.ParseQuery(string(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				return v.Get("Body")
			},
		},
		{
			typ: "teams", fake: fakeTeams,
			config: func(base string) string {
				return fmt.Sprintf("name: teams\ntype: teams\nwebhook_url: \"https://prod-00.westeurope.logic.azure.com:443%s?api-version=2016-06-01&sp=%%2Ftriggers%%2Fmanual%%2Frun&sv=1.0&sig=%s\"\nbase_url: %s\n", teamsPath, teamsSig, base)
			},
			badRequest:  status(400, "", `{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition."}}`),
			rateLimited: status(429, "7", `{"error":{"code":"WorkflowRequestsThrottled","message":"Number of requests exceeded the limit."}}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "opsgenie", fake: fakeOpsgenie,
			config: func(base string) string {
				return fmt.Sprintf("name: og\ntype: opsgenie\napi_key: %s\nbase_url: %s\nteam: SecOps\n", opsgenieKey, base)
			},
			badRequest:  status(422, "", `{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"5c3a0e8a-0000-4000-8000-000000000001"}`),
			rateLimited: status(429, "7", `{"message":"You are making too many requests! To avoid errors, we recommend you limit requests.","took":0.001,"requestId":"5c3a0e8a-0000-4000-8000-000000000002"}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
		{
			typ: "webhook", fake: fakeWebhook,
			config: func(base string) string {
				return fmt.Sprintf("name: hook\ntype: webhook\nurl: https://hooks.example.com/rootwatch?token=%s\nbase_url: %s\nsecret: %s\n", webhookURLToken, base, webhookSecret)
			},
			badRequest:  status(400, "", `{"error":"bad request"}`),
			rateLimited: status(429, "7", `{"error":"slow down"}`),
			rendered:    func(t *testing.T, r recorded) string { return string(r.Body) },
		},
	}
}

// --- fakes, one per provider contract -------------------------------------

// Slack incoming webhooks: POST JSON to the hook URL; 200 "ok" (text/html).
func fakeSlackWebhook(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost, "slack webhook method %s", r.Method)
		expect(t, r.URL.Path == slackHookPath, "slack webhook path %s", r.URL.Path)
		expect(t, isJSON(r), "slack webhook content type %q", r.Header.Get("Content-Type"))
		var m struct {
			Text   string            `json:"text"`
			Blocks []json.RawMessage `json:"blocks"`
		}
		if !expect(t, json.Unmarshal(body, &m) == nil && m.Text != "" && len(m.Blocks) > 0 && len(m.Blocks) <= 50, "slack webhook body needs text and 1-50 blocks: %s", body) {
			w.WriteHeader(400)
			fmt.Fprint(w, "invalid_payload")
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "ok")
	})
}

// Slack chat.postMessage: POST /api/chat.postMessage, Bearer token, JSON;
// HTTP 200 with {"ok":true,"channel","ts"} or {"ok":false,"error"}.
func fakeSlackAPI(t *testing.T) *fake {
	var mu sync.Mutex
	seq := 0
	threads := map[string]bool{}
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost, "method %s", r.Method)
		expect(t, r.URL.Path == "/api/chat.postMessage", "path %s", r.URL.Path)
		if r.Header.Get("Authorization") != "Bearer "+slackToken {
			answer(w, 200, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		var m struct {
			Channel  string            `json:"channel"`
			Text     string            `json:"text"`
			Blocks   []json.RawMessage `json:"blocks"`
			ThreadTS string            `json:"thread_ts"`
		}
		if err := json.Unmarshal(body, &m); err != nil || m.Text == "" || len(m.Blocks) == 0 {
			answer(w, 200, `{"ok":false,"error":"invalid_arguments"}`)
			return
		}
		if m.Channel != "C0SECOPS" {
			answer(w, 200, `{"ok":false,"error":"channel_not_found"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if m.ThreadTS != "" && !threads[m.ThreadTS] {
			answer(w, 200, `{"ok":false,"error":"thread_not_found"}`)
			return
		}
		seq++
		ts := fmt.Sprintf("1763753400.%06d", seq)
		if m.ThreadTS == "" {
			threads[ts] = true
		}
		answer(w, 200, fmt.Sprintf(`{"ok":true,"channel":"C0SECOPS","ts":%q,"message":{"type":"message","text":"...","ts":%q}}`, ts, ts))
	})
}

// PagerDuty Events API v2: POST /v2/enqueue; 202 {"status":"success",...}.
func fakePagerDuty(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == "/v2/enqueue", "%s %s", r.Method, r.URL.Path)
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		var ev struct {
			RoutingKey  string `json:"routing_key"`
			EventAction string `json:"event_action"`
			DedupKey    string `json:"dedup_key"`
			Payload     *struct {
				Summary       string         `json:"summary"`
				Source        string         `json:"source"`
				Severity      string         `json:"severity"`
				CustomDetails map[string]any `json:"custom_details"`
			} `json:"payload"`
		}
		var errs []string
		if err := json.Unmarshal(body, &ev); err != nil {
			errs = append(errs, "Invalid JSON")
		}
		if len(ev.RoutingKey) != 32 {
			errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
		}
		switch ev.EventAction {
		case "trigger":
			if ev.Payload == nil || ev.Payload.Summary == "" || ev.Payload.Source == "" || len(ev.Payload.Summary) > 1024 {
				errs = append(errs, "'payload' is invalid or missing")
			} else if s := ev.Payload.Severity; s != "critical" && s != "error" && s != "warning" && s != "info" {
				errs = append(errs, "'payload.severity' is invalid")
			}
		case "acknowledge", "resolve":
			if ev.DedupKey == "" {
				errs = append(errs, "'dedup_key' is required")
			}
		default:
			errs = append(errs, "'event_action' is invalid")
		}
		if len(ev.DedupKey) > 255 {
			errs = append(errs, "'dedup_key' is too long")
		}
		if len(errs) > 0 {
			b, _ := json.Marshal(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
			answer(w, 400, string(b))
			return
		}
		answer(w, 202, fmt.Sprintf(`{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey))
	})
}

// ServiceNow Table API on the incident table, with basic auth.
func fakeServiceNow(t *testing.T) *fake {
	var mu sync.Mutex
	byCorr := map[string]string{} // correlation_id -> sys_id
	bySys := map[string]bool{}
	seq := 0
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != snPassword {
			answer(w, 401, `{"error":{"message":"User Not Authenticated","detail":"Required to provide Auth information"},"status":"failure"}`)
			return
		}
		expect(t, strings.Contains(r.Header.Get("Accept"), "application/json"), "Accept %q", r.Header.Get("Accept"))
		mu.Lock()
		defer mu.Unlock()
		const table = "/api/now/table/incident"
		switch {
		case r.Method == http.MethodGet && r.URL.Path == table:
			q := r.URL.Query().Get("sysparm_query")
			corr, ok := strings.CutPrefix(q, "correlation_id=")
			expect(t, ok, "lookup query %q", q)
			if sys, found := byCorr[corr]; found {
				answer(w, 200, fmt.Sprintf(`{"result":[{"sys_id":%q,"number":"INC0010001"}]}`, sys))
				return
			}
			answer(w, 200, `{"result":[]}`)
		case r.Method == http.MethodPost && r.URL.Path == table:
			expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
			var in map[string]string
			if json.Unmarshal(body, &in) != nil || in["short_description"] == "" || in["correlation_id"] == "" {
				answer(w, 400, `{"error":{"message":"Invalid request","detail":"missing fields"},"status":"failure"}`)
				return
			}
			expect(t, in["urgency"] != "" && in["impact"] != "", "urgency/impact missing: %v", in)
			seq++
			sys := fmt.Sprintf("%032x", seq)
			byCorr[in["correlation_id"]] = sys
			bySys[sys] = true
			answer(w, 201, fmt.Sprintf(`{"result":{"sys_id":%q,"number":"INC%07d","correlation_id":%q,"state":"1"}}`, sys, 10000+seq, in["correlation_id"]))
		case r.Method == http.MethodPatch && strings.HasPrefix(r.URL.Path, table+"/"):
			sys := strings.TrimPrefix(r.URL.Path, table+"/")
			if !bySys[sys] {
				answer(w, 404, `{"error":{"message":"No Record found","detail":"Record doesn't exist or ACL restricts the record retrieval"},"status":"failure"}`)
				return
			}
			var in map[string]string
			expect(t, json.Unmarshal(body, &in) == nil && in["work_notes"] != "", "PATCH without work_notes: %s", body)
			answer(w, 200, fmt.Sprintf(`{"result":{"sys_id":%q,"number":"INC0010001"}}`, sys))
		default:
			t.Errorf("contract: unexpected %s %s", r.Method, r.URL.Path)
			answer(w, 400, `{"error":{"message":"Invalid request"},"status":"failure"}`)
		}
	})
}

// Zendesk Tickets API with email/token basic auth and Idempotency-Key.
func fakeZendesk(t *testing.T) *fake {
	var mu sync.Mutex
	byKey := map[string]int{}
	tickets := map[string]bool{}
	seq := 35436
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		if u, p, ok := r.BasicAuth(); !ok || u != "agent@example.com/token" || p != zdToken {
			answer(w, 401, `{"error":"Couldn't authenticate you"}`)
			return
		}
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		var in struct {
			Ticket struct {
				Subject string `json:"subject"`
				Comment *struct {
					Body   string `json:"body"`
					Public *bool  `json:"public"`
				} `json:"comment"`
				Priority string   `json:"priority"`
				Tags     []string `json:"tags"`
				Status   string   `json:"status"`
			} `json:"ticket"`
		}
		if json.Unmarshal(body, &in) != nil || in.Ticket.Comment == nil || in.Ticket.Comment.Body == "" {
			answer(w, 422, `{"error":"RecordInvalid","description":"Record validation errors","details":{"base":[{"description":"Description: cannot be blank"}]}}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/tickets.json":
			key := r.Header.Get("Idempotency-Key")
			expect(t, key != "", "create without Idempotency-Key")
			expect(t, in.Ticket.Subject != "", "create without subject")
			expect(t, in.Ticket.Priority == "urgent" || in.Ticket.Priority == "high" || in.Ticket.Priority == "normal" || in.Ticket.Priority == "low", "priority %q", in.Ticket.Priority)
			id, seen := byKey[key]
			if !seen {
				seq++
				id = seq
				byKey[key] = id
				tickets[fmt.Sprint(id)] = true
			}
			w.Header().Set("x-idempotency-lookup", map[bool]string{true: "hit", false: "miss"}[seen])
			answer(w, 201, fmt.Sprintf(`{"ticket":{"id":%d,"url":"https://acme.zendesk.com/api/v2/tickets/%d.json","status":"new"}}`, id, id))
		case r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/api/v2/tickets/") && strings.HasSuffix(r.URL.Path, ".json"):
			id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v2/tickets/"), ".json")
			if !tickets[id] {
				answer(w, 404, `{"error":"RecordNotFound","description":"Not found"}`)
				return
			}
			answer(w, 200, fmt.Sprintf(`{"ticket":{"id":%s,"status":"open"},"audit":{"id":1}}`, id))
		default:
			t.Errorf("contract: unexpected %s %s", r.Method, r.URL.Path)
			answer(w, 404, `{"error":"InvalidEndpoint","description":"Not found"}`)
		}
	})
}

// Twilio Messages API: form-encoded, basic auth SID:token, 201 JSON.
func fakeTwilio(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == "/2010-04-01/Accounts/"+twilioSIDTest+"/Messages.json", "%s %s", r.Method, r.URL.Path)
		if u, p, ok := r.BasicAuth(); !ok || u != twilioSIDTest || p != twilioToken {
			answer(w, 401, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
			return
		}
		expect(t, r.Header.Get("Content-Type") == "application/x-www-form-urlencoded", "content type %q", r.Header.Get("Content-Type"))
		v, err := url.ParseQuery(string(body))
		if err != nil || v.Get("To") == "" || v.Get("Body") == "" || (v.Get("From") == "" && v.Get("MessagingServiceSid") == "") {
			answer(w, 400, `{"code":21604,"message":"A 'To' phone number is required.","more_info":"https://www.twilio.com/docs/errors/21604","status":400}`)
			return
		}
		answer(w, 201, `{"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","to":"+14155550199","from":"+14155550100","num_segments":"1"}`)
	})
}

// Teams Workflows webhook: POST the message envelope; 202 Accepted.
func fakeTeams(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == teamsPath, "%s %s", r.Method, r.URL.Path)
		if r.URL.Query().Get("sig") != teamsSig {
			answer(w, 401, `{"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be authenticated"}}`)
			return
		}
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		var m struct {
			Type        string `json:"type"`
			Attachments []struct {
				ContentType string `json:"contentType"`
				Content     struct {
					Type    string            `json:"type"`
					Version string            `json:"version"`
					Body    []json.RawMessage `json:"body"`
				} `json:"content"`
			} `json:"attachments"`
		}
		ok := json.Unmarshal(body, &m) == nil && m.Type == "message" && len(m.Attachments) == 1 &&
			m.Attachments[0].ContentType == "application/vnd.microsoft.card.adaptive" &&
			m.Attachments[0].Content.Type == "AdaptiveCard" && m.Attachments[0].Content.Version != "" && len(m.Attachments[0].Content.Body) > 0
		if !expect(t, ok, "teams envelope: %s", body) {
			answer(w, 400, `{"error":{"code":"InvalidRequestContent","message":"bad envelope"}}`)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
}

// Opsgenie Alert API: GenieKey auth, 202 {"result","took","requestId"}.
func fakeOpsgenie(t *testing.T) *fake {
	var mu sync.Mutex
	alerts := map[string]bool{}
	ok := func(w http.ResponseWriter) {
		answer(w, 202, `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}`)
	}
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		if r.Header.Get("Authorization") != "GenieKey "+opsgenieKey {
			answer(w, 401, `{"message":"Could not authenticate","took":0.0,"requestId":"x"}`)
			return
		}
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		expect(t, r.Method == http.MethodPost, "method %s", r.Method)
		var in map[string]any
		if json.Unmarshal(body, &in) != nil {
			answer(w, 422, `{"message":"Request body is not processable.","took":0.0,"requestId":"x"}`)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/v2/alerts":
			msg, _ := in["message"].(string)
			alias, _ := in["alias"].(string)
			if msg == "" || len([]rune(msg)) > 130 || len(alias) > 512 {
				answer(w, 422, `{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"x"}`)
				return
			}
			p, _ := in["priority"].(string)
			expect(t, p >= "P1" && p <= "P5" && len(p) == 2, "priority %q", p)
			alerts[alias] = true
			ok(w)
		case strings.HasPrefix(r.URL.Path, "/v2/alerts/") && (strings.HasSuffix(r.URL.Path, "/notes") || strings.HasSuffix(r.URL.Path, "/close")):
			expect(t, r.URL.Query().Get("identifierType") == "alias", "identifierType %q", r.URL.RawQuery)
			alias := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/alerts/"), "/notes"), "/close")
			expect(t, alerts[alias], "note/close for unknown alias %q", alias)
			if strings.HasSuffix(r.URL.Path, "/notes") {
				note, _ := in["note"].(string)
				expect(t, note != "" && len(note) <= 25000, "note length %d", len(note))
			}
			ok(w)
		default:
			t.Errorf("contract: unexpected %s %s", r.Method, r.URL.Path)
			answer(w, 404, `{"message":"not found","took":0,"requestId":"x"}`)
		}
	})
}

// The generic webhook: a receiver that verifies the signature.
func fakeWebhook(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == "/rootwatch", "%s %s", r.Method, r.URL.Path)
		expect(t, r.URL.Query().Get("token") == webhookURLToken, "token query lost")
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		mac := hmac.New(sha256.New, []byte(webhookSecret))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("X-Rootwatch-Signature")), []byte(want)) {
			answer(w, 401, `{"error":"bad signature"}`)
			return
		}
		expect(t, r.Header.Get("Idempotency-Key") != "", "no Idempotency-Key")
		answer(w, 200, `{"received":true}`)
	})
}

package channel

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

func awsDeps(t *testing.T) Deps {
	d := testDeps(t)
	d.AWS = aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
		HTTPClient:  &http.Client{},
	}
	return d
}

// fakeSNS speaks the SNS query protocol: form-encoded Action=Publish with
// SigV4, XML answers.
func fakeSNS(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == "/", "%s %s", r.Method, r.URL.Path)
		expect(t, strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded"), "content type %q", r.Header.Get("Content-Type"))
		expect(t, strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "authorization %q", r.Header.Get("Authorization"))
		expect(t, strings.Contains(r.Header.Get("Authorization"), "/us-east-1/sns/aws4_request"), "signing scope %q", r.Header.Get("Authorization"))
		v, _ := url.ParseQuery(string(body))
		expect(t, v.Get("Action") == "Publish" && v.Get("Version") == "2010-03-31", "action %v", v)
		if v.Get("Message") == "" || (v.Get("PhoneNumber") == "" && v.Get("TopicArn") == "") {
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(400)
			fmt.Fprint(w, `<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: Message</Message></Error><RequestId>9f3c6c9a-0000-4000-8000-000000000001</RequestId></ErrorResponse>`)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId></PublishResult><ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata></PublishResponse>`)
	})
}

func snsError(status int, code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s happened</Message></Error><RequestId>x</RequestId></ErrorResponse>`, code, code)
	}
}

func TestSNSSMSPublish(t *testing.T) {
	f := fakeSNS(t)
	ch := mustBuild(t, "name: sms\ntype: sns-sms\nphone_number: \"+14155550199\"\nbase_url: "+f.srv.URL+"\n", awsDeps(t))
	n := sampleNotification(KindOpen, sampleFinding(1), sampleFinding(2))
	st, err := ch.Send(testCtx(t), n)
	if err != nil {
		t.Fatal(err)
	}
	if st["message_id"] != "94f20ce6-13c5-43a0-9a9e-ca52d816e90b" {
		t.Errorf("state = %v", st)
	}
	v, _ := url.ParseQuery(string(f.last().Body))
	if v.Get("PhoneNumber") != "+14155550199" {
		t.Errorf("PhoneNumber = %q", v.Get("PhoneNumber"))
	}
	if v.Get("MessageAttributes.entry.1.Name") != "AWS.SNS.SMS.SMSType" ||
		v.Get("MessageAttributes.entry.1.Value.DataType") != "String" ||
		v.Get("MessageAttributes.entry.1.Value.StringValue") != "Transactional" {
		t.Errorf("attributes = %v", v)
	}
	if msg := v.Get("Message"); len(msg) > 160 || !isGSM7(msg) || !strings.Contains(msg, "ConsoleLogin from 203.0.113.9 (+1 more)") {
		t.Errorf("Message = %q", msg)
	}
}

func TestSNSTopicPublish(t *testing.T) {
	f := fakeSNS(t)
	ch := mustBuild(t, "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:root-alerts\nbase_url: "+f.srv.URL+"\n", awsDeps(t))
	if _, err := ch.Send(testCtx(t), sampleNotification(KindOpen)); err != nil {
		t.Fatal(err)
	}
	v, _ := url.ParseQuery(string(f.last().Body))
	if v.Get("TopicArn") != "arn:aws:sns:us-east-1:123456789012:root-alerts" {
		t.Errorf("TopicArn = %q", v.Get("TopicArn"))
	}
	if s := v.Get("Subject"); s == "" || len(s) >= 100 || strings.ContainsAny(s, "\r\n") {
		t.Errorf("Subject = %q", s)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(v.Get("Message")), &body); err != nil {
		t.Fatalf("Message is not JSON: %v", err)
	}
	if body["kind"] != "open" || body["incident"].(map[string]any)["accountId"] != "123456789012" {
		t.Errorf("Message = %v", body)
	}
	attrs := map[string]string{}
	for i := 1; v.Get(fmt.Sprintf("MessageAttributes.entry.%d.Name", i)) != ""; i++ {
		attrs[v.Get(fmt.Sprintf("MessageAttributes.entry.%d.Name", i))] = v.Get(fmt.Sprintf("MessageAttributes.entry.%d.Value.StringValue", i))
	}
	if attrs["severity"] != "critical" || attrs["kind"] != "open" {
		t.Errorf("attributes = %v", attrs)
	}
}

func TestSNSErrorsClassified(t *testing.T) {
	f := fakeSNS(t)
	ch := mustBuild(t, "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:root-alerts\nbase_url: "+f.srv.URL+"\n", awsDeps(t))
	sl := &fakeSleep{}
	p := RetryPolicy{Sleep: sl.sleep}
	f.failNext(snsError(400, "Throttling"), snsError(500, "InternalError"))
	if res := p.Do(testCtx(t), ch, sampleNotification(KindOpen)); res.Err != nil || res.Attempts != 3 {
		t.Fatalf("throttled then 500: %d attempts, %v", res.Attempts, res.Err)
	}
	f.failNext(snsError(404, "NotFound"))
	res := p.Do(testCtx(t), ch, sampleNotification(KindOpen))
	if res.Err == nil || res.Attempts != 1 || !strings.Contains(res.Err.Error(), "NotFound") {
		t.Fatalf("NotFound: %d attempts, %v; want one attempt", res.Attempts, res.Err)
	}
}

// fakeSESv2 speaks SES v2's REST-JSON protocol.
func fakeSESv2(t *testing.T) *fake {
	return newFake(t, func(f *fake, w http.ResponseWriter, r *http.Request, body []byte) {
		expect(t, r.Method == http.MethodPost && r.URL.Path == "/v2/email/outbound-emails", "%s %s", r.Method, r.URL.Path)
		expect(t, isJSON(r), "content type %q", r.Header.Get("Content-Type"))
		expect(t, strings.Contains(r.Header.Get("Authorization"), "/us-east-1/ses/aws4_request"), "signing scope %q", r.Header.Get("Authorization"))
		var in struct {
			FromEmailAddress string
			Destination      struct{ ToAddresses []string }
			Content          struct {
				Simple struct {
					Subject struct{ Data, Charset string }
					Body    struct{ Text, Html struct{ Data string } }
				}
			}
		}
		if json.Unmarshal(body, &in) != nil || in.FromEmailAddress == "" || len(in.Destination.ToAddresses) == 0 || in.Content.Simple.Subject.Data == "" {
			w.Header().Set("X-Amzn-ErrorType", "BadRequestException")
			answer(w, 400, `{"message":"Missing required field"}`)
			return
		}
		answer(w, 200, `{"MessageId":"0100018c-ses-message-id"}`)
	})
}

func TestSESSendEmail(t *testing.T) {
	f := fakeSESv2(t)
	ch := mustBuild(t, "name: ses\ntype: ses\nfrom: rootwatch@example.com\nto: [secops@example.com]\nconfiguration_set: alerts\nbase_url: "+f.srv.URL+"\n", awsDeps(t))
	st, err := ch.Send(testCtx(t), sampleNotification(KindOpen))
	if err != nil {
		t.Fatal(err)
	}
	if st["message_id"] != "0100018c-ses-message-id" {
		t.Errorf("state = %v", st)
	}
	b := f.last().json(t)
	simple := b["Content"].(map[string]any)["Simple"].(map[string]any)
	body := simple["Body"].(map[string]any)
	if !strings.Contains(body["Html"].(map[string]any)["Data"].(string), "<table>") || body["Text"].(map[string]any)["Data"] == "" {
		t.Errorf("body = %v", body)
	}
	if b["ConfigurationSetName"] != "alerts" {
		t.Errorf("ConfigurationSetName = %v", b["ConfigurationSetName"])
	}

	sl := &fakeSleep{}
	f.failNext(func(w http.ResponseWriter) {
		w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
		answer(w, 429, `{"message":"Too many requests"}`)
	})
	if res := (RetryPolicy{Sleep: sl.sleep}).Do(testCtx(t), ch, sampleNotification(KindOpen)); res.Err != nil || res.Attempts != 2 {
		t.Fatalf("429 then ok: %d attempts, %v", res.Attempts, res.Err)
	}
	f.failNext(func(w http.ResponseWriter) {
		w.Header().Set("X-Amzn-ErrorType", "MessageRejected")
		answer(w, 400, `{"message":"Email address is not verified."}`)
	})
	if res := (RetryPolicy{Sleep: sl.sleep}).Do(testCtx(t), ch, sampleNotification(KindOpen)); res.Err == nil || res.Attempts != 1 {
		t.Fatalf("MessageRejected: %d attempts, %v; want one", res.Attempts, res.Err)
	}
}

// A send to SNS or SES that gets no answer, or a 2xx answer that cannot be
// read, is transient: retried like a 5xx, and the last error says which.
func TestAWSNoAnswerAndUnreadableAnswerRetried(t *testing.T) {
	hangUp := func(w http.ResponseWriter) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			c.Close()
		}
	}
	garbage := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, "<html>not an AWS answer")
	}
	empty := func(w http.ResponseWriter) { w.WriteHeader(200) }
	for _, tc := range []struct {
		name string
		typ  string
	}{{"sns", "sns"}, {"ses", "ses"}, {"sns-sms", "sns-sms"}} {
		for _, fault := range []struct {
			name   string
			answer func(w http.ResponseWriter)
			reason string
		}{
			{"no answer", hangUp, "no answer (transient)"},
			{"unreadable 200", garbage, "HTTP 200 with an unreadable answer (transient)"},
			{"empty 200", empty, "without a MessageId (transient)"},
		} {
			t.Run(tc.name+"/"+fault.name, func(t *testing.T) {
				var f *fake
				var cfg string
				switch tc.typ {
				case "ses":
					f = fakeSESv2(t)
					cfg = "name: ses\ntype: ses\nfrom: a@example.com\nto: [b@example.com]\nbase_url: " + f.srv.URL + "\n"
				case "sns":
					f = fakeSNS(t)
					cfg = "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:t\nbase_url: " + f.srv.URL + "\n"
				default:
					f = fakeSNS(t)
					cfg = "name: sms\ntype: sns-sms\nphone_number: \"+14155550199\"\nbase_url: " + f.srv.URL + "\n"
				}
				ch := mustBuild(t, cfg, awsDeps(t))
				sl := &fakeSleep{}
				p := RetryPolicy{MaxAttempts: 2, Sleep: sl.sleep}
				f.failNext(fault.answer)
				if res := p.Do(testCtx(t), ch, sampleNotification(KindOpen)); res.Err != nil || res.Attempts != 2 {
					t.Fatalf("%s then ok: %d attempts, %v; want success on the second", fault.name, res.Attempts, res.Err)
				}
				f.failNext(fault.answer, fault.answer)
				res := p.Do(testCtx(t), ch, sampleNotification(KindOpen))
				if res.Err == nil || res.Attempts != 2 || !strings.Contains(res.Err.Error(), fault.reason) {
					t.Fatalf("%s twice: %d attempts, %v; want 2 attempts and an error saying %q", fault.name, res.Attempts, res.Err, fault.reason)
				}
			})
		}
	}
}

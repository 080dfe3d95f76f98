package channel

import (
	"fmt"
	"net/http"
	"testing"
)

// A provider that answers only 5xx never has a notification delivered: every
// channel reports an error (never nil, which would count as delivered and
// let alert commit past the finding), the error is retryable, and the retry
// policy tries again before giving up. Every channel type is covered: the
// HTTP providers and the AWS APIs (SNS topic, SNS SMS, SES).
func TestServerErrorIsNeverDelivered(t *testing.T) {
	type target struct {
		name   string
		fake   func(*testing.T) *fake
		config func(base string) string
		deps   func(*testing.T) Deps
		answer func(code int) func(http.ResponseWriter)
	}
	var targets []target
	for _, pc := range providerCases() {
		targets = append(targets, target{pc.typ, pc.fake, pc.config, testDeps,
			func(code int) func(http.ResponseWriter) { return status(code, "", `{"error":"server error"}`) }})
	}
	awsAnswer := func(code int) func(http.ResponseWriter) { return snsError(code, "InternalError") }
	targets = append(targets,
		target{"sns", fakeSNS, func(base string) string {
			return "name: topic\ntype: sns\ntopic_arn: arn:aws:sns:us-east-1:123456789012:root-alerts\nbase_url: " + base + "\n"
		}, awsDeps, awsAnswer},
		target{"sns-sms", fakeSNS, func(base string) string {
			return "name: sms\ntype: sns-sms\nphone_number: \"+15555550100\"\nbase_url: " + base + "\n"
		}, awsDeps, awsAnswer},
		target{"ses", fakeSESv2, func(base string) string {
			return "name: mail\ntype: ses\nfrom: rootwatch@example.com\nto: [\"secops@example.com\"]\nbase_url: " + base + "\n"
		}, awsDeps, func(code int) func(http.ResponseWriter) {
			return status(code, "", `{"message":"internal failure"}`)
		}},
	)
	for _, tg := range targets {
		for _, code := range []int{500, 502, 503, 504} {
			t.Run(fmt.Sprintf("%s/%d", tg.name, code), func(t *testing.T) {
				f := tg.fake(t)
				ch := mustBuild(t, tg.config(f.srv.URL), tg.deps(t))
				for range 64 { // more than the SDK's own retries times our attempts
					f.failNext(tg.answer(code))
				}
				sl := &fakeSleep{}
				refused := 0
				for _, kind := range []Kind{KindOpen, KindUpdate, KindResolve} {
					before := len(f.requests())
					_, err := ch.Send(testCtx(t), sampleNotification(kind))
					asked := len(f.requests()) > before
					switch {
					case err == nil && asked:
						t.Fatalf("%s: Send answered by %d returned no error: counted as delivered", kind, code)
					case err == nil:
						// Nothing to send (e.g. resolving a ticket never opened): no request, nothing delivered.
					default:
						refused++
						if retry, _ := Retryable(err); !retry {
							t.Errorf("%s: %d is not retryable: %v", kind, code, err)
						}
					}
				}
				if refused == 0 {
					t.Fatal("no notification reached the provider; the test proved nothing")
				}
				res := RetryPolicy{Sleep: sl.sleep, MaxAttempts: 2}.Do(testCtx(t), ch, sampleNotification(KindOpen))
				if res.Err == nil {
					t.Fatalf("RetryPolicy.Do delivered against a server answering only %d", code)
				}
				if res.Attempts != 2 {
					t.Errorf("RetryPolicy.Do made %d attempts against %d, want 2", res.Attempts, code)
				}
			})
		}
	}
}

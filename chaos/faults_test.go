package chaos

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"rootwatch/internal/source/s3test"
)

func bitten(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// TestFaultyS3Bites: a 500 period bites when one object was refused as
// often as the SDK tries (its retries were outlasted), a hang bites when a
// GET is held, and the after-GET callback runs once, with the key, after
// the answer.
func TestFaultyS3Bites(t *testing.T) {
	fs3 := NewFaultyS3()
	srv := httptest.NewServer(fs3)
	defer srv.Close()
	c := s3test.NewClient(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bkt")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bkt"), Key: aws.String("dir/k"), Body: strings.NewReader("x")}); err != nil {
		t.Fatal(err)
	}
	get := func() (int, error) {
		resp, err := http.Get(srv.URL + "/bkt/dir/k")
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	keys := make(chan string, 2)
	fs3.AfterGet.Arm(func(k string) { keys <- k })
	bit := fs3.Set(S3Err500)
	for i := range 3 {
		if bitten(bit) {
			t.Fatalf("500 period bit after %d refusals, want 3", i)
		}
		if st, err := get(); err != nil || st != 500 {
			t.Fatalf("GET: %d %v, want 500", st, err)
		}
	}
	if !bitten(bit) {
		t.Error("three 500s to one object: the period did not bite")
	}
	if k := <-keys; k != "dir/k" {
		t.Errorf("after-GET callback got %q, want dir/k", k)
	}
	if len(keys) != 0 || fs3.AfterGet.Disarm() {
		t.Error("after-GET callback ran more than once, or stayed armed")
	}

	bit = fs3.Set(S3Hang)
	done := make(chan int)
	go func() { st, _ := get(); done <- st }()
	select {
	case <-bit:
	case <-time.After(10 * time.Second):
		t.Fatal("a held GET did not make the hang bite")
	}
	fs3.Set(S3OK)
	if st := <-done; st != http.StatusServiceUnavailable {
		t.Errorf("held GET ended with %d, want 503", st)
	}
	if st, err := get(); err != nil || st != 200 {
		t.Errorf("GET after the faults: %d %v", st, err)
	}
}

// TestRecorderBites: a channel fault bites on the first request answered
// with it, and the after-2xx callback runs after a 2xx only.
func TestRecorderBites(t *testing.T) {
	rec, err := NewRecorder("")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	post := func(ch string) int {
		resp, err := http.Post(srv.URL+"/hook/"+ch, "application/json",
			strings.NewReader(`{"kind":"open","incident":{"id":"inc-1","category":"consoleLogin"},"findings":[{"eventID":"e1"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	acked := make(chan Delivery, 1)
	rec.AfterOK.Arm(func(d Delivery) { acked <- d })
	bit := rec.Set("hook-a", Chan500)
	if post("hook-b") != 200 || bitten(bit) {
		t.Fatal("a request to the other channel made hook-a's fault bite")
	}
	if d := <-acked; d.Channel != "hook-b" || d.Incident != "inc-1" || d.Category != "consoleLogin" || len(d.EventIDs) != 1 {
		t.Errorf("after-2xx callback got %+v", d)
	}
	rec.AfterOK.Arm(func(d Delivery) { acked <- d })
	if post("hook-a") != 500 || !bitten(bit) {
		t.Error("a 500 answered did not make the fault bite")
	}
	if len(acked) != 0 {
		t.Error("after-2xx callback ran after a 500")
	}
	if !rec.AfterOK.Disarm() {
		t.Error("after-2xx callback no longer armed after a 500")
	}
}

// TestSQSRecorder: receives map receipt handles to messages, and only the
// deletes the server confirmed are recorded, at the time they arrived.
func TestSQSRecorder(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "AmazonSQS.ReceiveMessage":
			io.WriteString(w, `{"Messages":[{"MessageId":"m1","ReceiptHandle":"h1","Body":"x"},{"MessageId":"m2","ReceiptHandle":"h2","Body":"y"}]}`)
		case "AmazonSQS.DeleteMessageBatch":
			io.WriteString(w, `{"Successful":[{"Id":"0"}],"Failed":[{"Id":"1","Code":"ReceiptHandleIsInvalid","SenderFault":true}]}`)
		case "AmazonSQS.DeleteMessage":
			w.WriteHeader(http.StatusBadRequest)
		}
	}))
	defer backend.Close()
	rec := NewSQSRecorder(backend.URL)
	proxy := httptest.NewServer(rec)
	defer proxy.Close()
	call := func(target, body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, proxy.URL+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", target)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := call("AmazonSQS.ReceiveMessage", `{}`); st != 200 || !strings.Contains(body, `"m1"`) {
		t.Fatalf("receive through the proxy: %d %s", st, body)
	}
	before := time.Now()
	call("AmazonSQS.DeleteMessageBatch", `{"Entries":[{"Id":"0","ReceiptHandle":"h2"},{"Id":"1","ReceiptHandle":"h1"}]}`)
	call("AmazonSQS.DeleteMessage", `{"ReceiptHandle":"h1"}`) // refused by the server
	d := rec.Deletes()
	if len(d) != 1 || d[0].MessageID != "m2" || d[0].At.Before(before) {
		t.Errorf("deletes %+v, want m2 only", d)
	}
}

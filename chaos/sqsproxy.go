package chaos

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"
)

// SQSRecorder is a recording proxy in front of the SQS server (fauxqs).
// ingest is given it as its --sqs-endpoint; it forwards every request
// unchanged and notes, on the driver's clock, which message each receipt
// handle belongs to and when each message was deleted (the moment the
// delete reached it, for deletes the server confirmed). The judge compares
// each delete with what the broker had appended by then.
type SQSRecorder struct {
	target string
	client *http.Client

	mu       sync.Mutex
	handles  map[string]string    // receipt handle -> message id
	received map[string]time.Time // message id -> first receive
	deleted  map[string]bool
	deletes  []SQSDelete
}

// SQSDelete is one message deletion the SQS server confirmed.
type SQSDelete struct {
	At        time.Time // when the delete request reached the proxy
	MessageID string    // "" when the receipt handle was never seen in a receive
	Handle    string
}

// NewSQSRecorder forwards to target (http://host:port of the SQS server).
func NewSQSRecorder(target string) *SQSRecorder {
	return &SQSRecorder{target: target, client: &http.Client{},
		handles: map[string]string{}, received: map[string]time.Time{}, deleted: map[string]bool{}}
}

// Deletes returns the confirmed deletes so far, in the order they arrived.
func (s *SQSRecorder) Deletes() []SQSDelete {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SQSDelete(nil), s.deletes...)
}

// ServeHTTP forwards one SQS API call (JSON protocol) and records receives
// and deletes.
func (s *SQSRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "chaos proxy: read request: "+err.Error(), http.StatusBadGateway)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, s.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "chaos proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := s.client.Do(req)
	if err != nil {
		http.Error(w, "chaos proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, "chaos proxy: read answer: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(out)
	if resp.StatusCode/100 == 2 {
		s.note(at, r.Header.Get("X-Amz-Target"), body, out)
	}
}

// note records what a successful call means for the ledger.
func (s *SQSRecorder) note(at time.Time, target string, req, resp []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch target {
	case "AmazonSQS.ReceiveMessage":
		var out struct {
			Messages []struct{ MessageId, ReceiptHandle string }
		}
		if json.Unmarshal(resp, &out) == nil {
			for _, m := range out.Messages {
				s.handles[m.ReceiptHandle] = m.MessageId
				if _, ok := s.received[m.MessageId]; !ok {
					s.received[m.MessageId] = at
				}
			}
		}
	case "AmazonSQS.DeleteMessage":
		var in struct{ ReceiptHandle string }
		if json.Unmarshal(req, &in) == nil {
			s.deleteLocked(at, in.ReceiptHandle)
		}
	case "AmazonSQS.DeleteMessageBatch":
		var in struct {
			Entries []struct{ Id, ReceiptHandle string }
		}
		var out struct {
			Successful []struct{ Id string }
		}
		if json.Unmarshal(req, &in) == nil && json.Unmarshal(resp, &out) == nil {
			ok := map[string]bool{}
			for _, e := range out.Successful {
				ok[e.Id] = true
			}
			for _, e := range in.Entries {
				if ok[e.Id] {
					s.deleteLocked(at, e.ReceiptHandle)
				}
			}
		}
	}
}

func (s *SQSRecorder) deleteLocked(at time.Time, handle string) {
	id := s.handles[handle]
	s.deletes = append(s.deletes, SQSDelete{At: at, MessageID: id, Handle: handle})
	if id != "" {
		s.deleted[id] = true
	}
}

package chaos

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ChannelFault is how the recorder answers a channel's webhook.
type ChannelFault int

// The channel faults.
const (
	ChanOK   ChannelFault = iota
	Chan429               // 429 with Retry-After: 1
	Chan500               // 500
	ChanHang              // no answer until the client gives up (its delivery.timeout)
	numChanFaults
)

func (f ChannelFault) String() string {
	return [...]string{"ok", "429", "500", "hang"}[f]
}

// Delivery is one webhook request the recorder received: a line of the ledger.
type Delivery struct {
	At             time.Time `json:"at"`
	Channel        string    `json:"channel"`
	Status         int       `json:"status"` // what the recorder answered; 0: hung until the client left
	IdempotencyKey string    `json:"idempotencyKey"`
	Kind           string    `json:"kind"`
	Incident       string    `json:"incident"`
	Category       string    `json:"category"` // the incident's ("compliance" for a compliance notification)
	EventIDs       []string  `json:"eventIDs"`
}

// Delivered reports whether the sender was told the notification arrived.
func (d Delivery) Delivered() bool { return d.Status >= 200 && d.Status < 300 }

// Recorder is the fake channel: an HTTP server for alert's webhook channels
// (POST /hook/<channel>) that appends every request, with the eventIDs its
// body carries, to a ledger (memory and a JSON-lines file), and answers
// with the fault currently set for that channel. It tells when a fault
// period bit (a request was answered with the fault, or held), and can run
// a callback right after the next 2xx it answers (the chaos run SIGKILLs
// alert there: a notification sent, its delivery not yet logged).
type Recorder struct {
	// AfterOK runs once, after the next request answered 2xx is flushed to
	// the sender, with that request's ledger line.
	AfterOK oneShot[Delivery]

	mu     sync.Mutex
	faults map[string]ChannelFault
	bits   map[string]*bite
	change chan struct{}
	ledger []Delivery
	file   *os.File
	enc    *json.Encoder
}

// NewRecorder writes its ledger to path ("" for memory only).
func NewRecorder(path string) (*Recorder, error) {
	r := &Recorder{faults: map[string]ChannelFault{}, bits: map[string]*bite{}, change: make(chan struct{})}
	if path != "" {
		f, err := os.Create(path)
		if err != nil {
			return nil, err
		}
		r.file, r.enc = f, json.NewEncoder(f)
	}
	return r, nil
}

// Close closes the ledger file.
func (r *Recorder) Close() error {
	if r.file == nil {
		return nil
	}
	return r.file.Close()
}

// Set switches the fault of one channel and starts a new period; the
// returned channel is closed when the period bites.
func (r *Recorder) Set(ch string, f ChannelFault) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults[ch] = f
	r.bits[ch] = newBite()
	close(r.change)
	r.change = make(chan struct{})
	return r.bits[ch].C()
}

// Ledger returns a copy of every delivery so far.
func (r *Recorder) Ledger() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.ledger...)
}

func (r *Recorder) record(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ledger = append(r.ledger, d)
	if r.enc != nil {
		r.enc.Encode(d)
	}
}

// webhookBody is the part of the webhook channel's body (docs/channels.md) the ledger needs.
type webhookBody struct {
	Kind     string `json:"kind"`
	Incident struct {
		ID       string `json:"id"`
		Category string `json:"category"`
	} `json:"incident"`
	Findings []struct {
		EventID string `json:"eventID"`
	} `json:"findings"`
}

// ServeHTTP records a webhook delivery and answers with the channel's fault.
func (r *Recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ch, ok := strings.CutPrefix(req.URL.Path, "/hook/")
	if !ok || req.Method != http.MethodPost {
		http.NotFound(w, req)
		return
	}
	b, err := io.ReadAll(io.LimitReader(req.Body, 64<<20))
	if err != nil {
		return
	}
	var body webhookBody
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	d := Delivery{At: time.Now(), Channel: ch, IdempotencyKey: req.Header.Get("Idempotency-Key"),
		Kind: body.Kind, Incident: body.Incident.ID, Category: body.Incident.Category}
	for _, f := range body.Findings {
		d.EventIDs = append(d.EventIDs, f.EventID)
	}
	r.mu.Lock()
	f, change, bit := r.faults[ch], r.change, r.bits[ch]
	r.mu.Unlock()
	if f != ChanOK && bit != nil {
		bit.hit()
	}
	switch f {
	case Chan429:
		d.Status = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
	case Chan500:
		d.Status = http.StatusInternalServerError
	case ChanHang:
		t := time.NewTimer(2 * time.Minute)
		defer t.Stop()
		select {
		case <-req.Context().Done():
		case <-change:
		case <-t.C:
		}
		// Whatever happens now, the sender has either given up or gets a 503:
		// never a success it did not wait for.
		d.Status = 0
		r.record(d)
		http.Error(w, "chaos: hang ended", http.StatusServiceUnavailable)
		return
	default:
		d.Status = http.StatusOK
	}
	r.record(d)
	w.WriteHeader(d.Status)
	if d.Delivered() {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		r.AfterOK.Fire(d)
	}
}

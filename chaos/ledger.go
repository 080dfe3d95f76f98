package chaos

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"rootwatch/internal/gen"
)

// pairKey names one (channel, eventID) obligation.
func pairKey(ch, id string) string { return ch + "/" + id }

// dlqReader follows the two DLQ topics from their start: cloudtrail.dlq
// (objects ingest could not read: every root event in them is accounted
// for, with the reason) and rootwatch.alerts.dlq (notifications alert
// parked: the findings they carry are accounted for on that channel).
type dlqReader struct {
	brokers []string

	mu      sync.Mutex
	cl      *kgo.Client
	objects map[string]string // object key -> reason
	parked  map[string]string // channel/eventID -> reason
}

func (d *dlqReader) poll(wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(d.brokers...), kgo.ConsumeTopics(topicDLQ, topicAlertDL),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
			kgo.MetadataMinAge(250*time.Millisecond))
		if err != nil {
			return
		}
		d.cl, d.objects, d.parked = cl, map[string]string{}, map[string]string{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for ctx.Err() == nil {
		fs := d.cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			switch r.Topic {
			case topicDLQ:
				var e struct {
					Reason string `json:"reason"`
					Object *struct {
						Key string `json:"key"`
					} `json:"object"`
				}
				if json.Unmarshal(r.Value, &e) == nil && e.Object != nil {
					d.objects[e.Object.Key] = e.Reason
				}
			case topicAlertDL:
				var e struct {
					Stage    string `json:"stage"`
					Reason   string `json:"reason"`
					Channel  string `json:"channel"`
					Findings []struct {
						EventID string `json:"eventID"`
					} `json:"findings"`
				}
				if json.Unmarshal(r.Value, &e) == nil && e.Stage == "deliver" {
					for _, f := range e.Findings {
						d.parked[pairKey(e.Channel, f.EventID)] = "alert: " + e.Reason
					}
				}
			}
		})
	}
}

// accounted polls briefly and returns channel/eventID -> DLQ reason.
func (d *dlqReader) accounted(keyOf map[string]string) map[string]string {
	d.poll(700 * time.Millisecond)
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]string{}
	for k, v := range d.parked {
		out[k] = v
	}
	for id, key := range keyOf {
		if reason, ok := d.objects[key]; ok {
			for _, c := range Channels {
				out[pairKey(c, id)] = "ingest: " + reason
			}
		}
	}
	return out
}

func (d *dlqReader) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != nil {
		d.cl.Close()
	}
}

// delivered maps channel/eventID to the times it was delivered (2xx).
func delivered(ledger []Delivery) map[string][]time.Time {
	out := map[string][]time.Time{}
	for _, d := range ledger {
		if !d.Delivered() {
			continue
		}
		for _, id := range d.EventIDs {
			k := pairKey(d.Channel, id)
			out[k] = append(out[k], d.At)
		}
	}
	return out
}

// missingPairs lists the (channel, event) pairs not delivered and not dead-lettered.
func missingPairs(root []gen.RootEvent, ledger []Delivery, dlq map[string]string) []string {
	got := delivered(ledger)
	var out []string
	for _, r := range root {
		for _, c := range Channels {
			k := pairKey(c, r.EventID)
			if len(got[k]) == 0 && dlq[k] == "" {
				out = append(out, k)
			}
		}
	}
	return out
}

// account fills r from the ledger and the DLQs.
func account(r *Result, root []gen.RootEvent, ledger []Delivery, dl *dlqReader, keyOf map[string]string, sent *sentLog) {
	dlq := dl.accounted(keyOf)
	dl.close()
	accountWith(r, root, ledger, dlq, sent)
}

// accountWith fills r from the ledger and the DLQ pairs (channel/eventID -> reason).
func accountWith(r *Result, root []gen.RootEvent, ledger []Delivery, dlq map[string]string, sent *sentLog) {
	got := delivered(ledger)
	r.LostIDs = missingPairs(root, ledger, dlq)
	r.Lost = len(r.LostIDs)
	for _, d := range ledger {
		r.Attempts++
		if d.Delivered() {
			r.Deliveries++
		}
	}
	var lat []time.Duration
	sent.mu.Lock()
	defer sent.mu.Unlock()
	for _, ev := range root {
		for _, c := range Channels {
			k := pairKey(c, ev.EventID)
			ts := got[k]
			if len(ts) == 0 {
				if reason := dlq[k]; reason != "" {
					r.DeadLettered++
					r.DLQReasons[reason]++
				}
				continue
			}
			if len(ts) > 1 {
				r.Duplicated[c]++
			}
			first := ts[0]
			for _, t := range ts[1:] {
				if t.Before(first) {
					first = t
				}
			}
			if s, ok := sent.at[ev.Key]; ok {
				lat = append(lat, max(first.Sub(s), 0))
			}
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		r.P50 = lat[n/2]
		r.P99 = lat[min(n-1, n*99/100)]
		r.Max = lat[n-1]
	}
}

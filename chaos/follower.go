package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"rootwatch/internal/match"
)

// follower reads, from their start, every topic the judge needs: what
// ingest wrote (records, findings, its DLQ) and what alert wrote (its
// state and DLQ). The broker stamps each record with the time it appended
// it (chaos/broker --log-append-time), so the follower's own pace does not
// matter: the judge compares those times with deletes and commits.
type follower struct {
	cl     *kgo.Client
	topics []string

	mu   sync.Mutex
	next map[string]map[int32]int64 // topic -> partition -> next offset to read
	view kafkaView
}

// kafkaView is what the follower has read, as plain data for the judge.
// Times are the broker's append times (unix milliseconds).
type kafkaView struct {
	Records  map[string]int64     // eventID -> first append in cloudtrail.records
	Copies   map[string]int       // eventID -> times it was appended to cloudtrail.records
	Findings map[string]int64     // eventID -> first append in cloudtrail.root-activity (rule cis-root)
	Context  int                  // findings of another rule (not root activity)
	ByOffset map[int32][]offEvent // findings partition -> findings in offset order
	ObjDLQ   []objectDLQ          // cloudtrail.dlq entries naming an object
	MsgDLQ   []messageDLQ         // cloudtrail.dlq entries naming no object
	Parks    []park               // rootwatch.alerts.dlq entries of stage deliver
	// Incidents holds every version of each incident alert wrote to its
	// state topic, in append order.
	Incidents map[string][]incidentVersion
	Bad       []string // records the follower could not read (a finding of its own)
	// Items are the fleet backfill's work items (cloudtrail.backfill), in
	// the order read.
	Items []planItem
}

// planItem is one work item of the plan topic, where it is, and what it names.
type planItem struct {
	Partition           int32
	Offset, Seq         int64
	Prefix, After, Last string
	Objects             int
}

type offEvent struct {
	Offset  int64
	EventID string
}

type objectDLQ struct {
	At             int64
	Key, Reason    string
	Error          string
	RecordsWritten int64
	Item           string // the fleet work item that named the object, if any
}

type messageDLQ struct {
	At                      int64
	MessageID, Reason, Body string
}

type park struct {
	At                          int64
	Channel, Incident, Category string
	Reason                      string
	EventIDs                    []string
}

// incidentVersion is one state record of an incident: which finding has
// which sequence number, and per channel what the delivery log says.
type incidentVersion struct {
	At       int64
	Category string
	Seq      map[string]int // eventID -> seq
	Sent     map[string]int // channel -> Count covered by the last successful send
	Parked   map[string]int // channel -> Count at which delivery was given up
}

// owed reports whether this version of the incident says eventID is still
// to be sent to channel (neither sent nor parked).
func (v incidentVersion) owed(eventID, channel string) bool {
	seq, ok := v.Seq[eventID]
	return ok && seq > v.Sent[channel] && seq > v.Parked[channel]
}

// newFollower reads topics from the broker at direct, whatever address the
// broker advertises (the chaos proxy's).
func newFollower(direct string, topics ...string) (*follower, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	cl, err := kgo.NewClient(kgo.SeedBrokers(direct), kgo.ConsumeTopics(topics...),
		kgo.Dialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, direct)
		}),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second))
	if err != nil {
		return nil, err
	}
	f := &follower{cl: cl, topics: topics, next: map[string]map[int32]int64{}}
	f.view = kafkaView{Records: map[string]int64{}, Copies: map[string]int{}, Findings: map[string]int64{}, ByOffset: map[int32][]offEvent{},
		Incidents: map[string][]incidentVersion{}}
	return f, nil
}

// follow starts a follower of topics at direct, reading until stop (or ctx ends).
func follow(ctx context.Context, direct string, topics ...string) (f *follower, stop func(), err error) {
	f, err = newFollower(direct, topics...)
	if err != nil {
		return nil, nil, err
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.run(fctx)
	}()
	return f, func() {
		cancel()
		<-done
		f.close()
	}, nil
}

// run reads until ctx ends.
func (f *follower) run(ctx context.Context) {
	for ctx.Err() == nil {
		fs := f.cl.PollFetches(ctx)
		f.mu.Lock()
		fs.EachRecord(f.add)
		f.mu.Unlock()
	}
}

func (f *follower) close() { f.cl.Close() }

// add takes one record into the view (f.mu held).
func (f *follower) add(r *kgo.Record) {
	if f.next[r.Topic] == nil {
		f.next[r.Topic] = map[int32]int64{}
	}
	f.next[r.Topic][r.Partition] = r.Offset + 1
	at := r.Timestamp.UnixMilli()
	v := &f.view
	switch r.Topic {
	case topicRecords:
		if id := gjson.GetBytes(r.Value, "eventID").Str; id != "" {
			first(v.Records, id, at)
			v.Copies[id]++
		}
	case topicFinds:
		id := gjson.GetBytes(r.Value, "eventID").Str
		if id == "" {
			v.Bad = append(v.Bad, fmt.Sprintf("finding at %d/%d has no eventID", r.Partition, r.Offset))
			return
		}
		// Only root activity counts as a finding here; context findings
		// (an sts:AssumeRoot call, rule root-session-issued) are counted
		// apart and never held against the truth set's root events.
		if rule := gjson.GetBytes(r.Value, "rule").Str; rule != "" && rule != string(match.RuleCISRoot) {
			v.Context++
		} else {
			first(v.Findings, id, at)
		}
		v.ByOffset[r.Partition] = append(v.ByOffset[r.Partition], offEvent{r.Offset, id})
	case topicDLQ:
		var e struct {
			Reason, Error, Notification, MessageID, Item string
			RecordsProduced                              int64
			Object                                       *struct{ Key string }
		}
		if err := json.Unmarshal(r.Value, &e); err != nil {
			v.Bad = append(v.Bad, fmt.Sprintf("cloudtrail.dlq %d/%d: %v", r.Partition, r.Offset, err))
			return
		}
		if e.Object != nil {
			v.ObjDLQ = append(v.ObjDLQ, objectDLQ{At: at, Key: e.Object.Key, Reason: e.Reason, Error: e.Error, RecordsWritten: e.RecordsProduced, Item: e.Item})
		} else {
			v.MsgDLQ = append(v.MsgDLQ, messageDLQ{At: at, MessageID: e.MessageID, Reason: e.Reason, Body: e.Notification})
		}
	case topicPlan:
		var it struct {
			Seq                 int64
			Prefix, After, Last string
			Objects             int
		}
		if err := json.Unmarshal(r.Value, &it); err != nil {
			v.Bad = append(v.Bad, fmt.Sprintf("%s %d/%d: %v", topicPlan, r.Partition, r.Offset, err))
			return
		}
		v.Items = append(v.Items, planItem{Partition: r.Partition, Offset: r.Offset, Seq: it.Seq, Prefix: it.Prefix, After: it.After, Last: it.Last, Objects: it.Objects})
	case topicAlertDL:
		var e struct {
			Stage, Reason, Channel string
			Incident               *struct{ ID, Category string }
			Findings               []struct {
				EventID string `json:"eventID"`
			}
		}
		if err := json.Unmarshal(r.Value, &e); err != nil {
			v.Bad = append(v.Bad, fmt.Sprintf("%s %d/%d: %v", topicAlertDL, r.Partition, r.Offset, err))
			return
		}
		p := park{At: at, Channel: e.Channel, Reason: e.Stage + ": " + e.Reason}
		if e.Incident != nil {
			p.Incident, p.Category = e.Incident.ID, e.Incident.Category
		}
		for _, f := range e.Findings {
			p.EventIDs = append(p.EventIDs, f.EventID)
		}
		v.Parks = append(v.Parks, p)
	case topicState:
		id, ok := strings.CutPrefix(string(r.Key), "i/")
		if !ok || r.Value == nil {
			return // dedup entries, last root use, tombstones
		}
		var inc struct {
			Category string
			Recent   []struct {
				Seq     int
				Finding struct {
					EventID string `json:"eventID"`
				}
			}
			Out map[string]struct{ Sent, Parked int }
		}
		if err := json.Unmarshal(r.Value, &inc); err != nil {
			v.Bad = append(v.Bad, fmt.Sprintf("%s %d/%d: %v", topicState, r.Partition, r.Offset, err))
			return
		}
		iv := incidentVersion{At: at, Category: inc.Category, Seq: map[string]int{}, Sent: map[string]int{}, Parked: map[string]int{}}
		for _, sf := range inc.Recent {
			iv.Seq[sf.Finding.EventID] = sf.Seq
		}
		for ch, d := range inc.Out {
			iv.Sent[ch], iv.Parked[ch] = d.Sent, d.Parked
		}
		v.Incidents[id] = append(v.Incidents[id], iv)
	}
}

func first(m map[string]int64, k string, at int64) {
	if t, ok := m[k]; !ok || at < t {
		m[k] = at
	}
}

// snapshot copies the view.
func (f *follower) snapshot() kafkaView {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.view
	v.Records, v.Findings, v.Copies = maps.Clone(v.Records), maps.Clone(v.Findings), maps.Clone(v.Copies)
	v.Items = append([]planItem(nil), v.Items...)
	v.ByOffset = map[int32][]offEvent{}
	for p, l := range f.view.ByOffset {
		v.ByOffset[p] = append([]offEvent(nil), l...)
	}
	v.ObjDLQ = append([]objectDLQ(nil), v.ObjDLQ...)
	v.MsgDLQ = append([]messageDLQ(nil), v.MsgDLQ...)
	v.Parks = append([]park(nil), v.Parks...)
	v.Incidents = map[string][]incidentVersion{}
	for id, l := range f.view.Incidents {
		v.Incidents[id] = append([]incidentVersion(nil), l...)
	}
	v.Bad = append([]string(nil), v.Bad...)
	return v
}

// catchUp waits until the follower has read everything the broker held
// when it was called (its end offsets then), so that a judgement made
// afterwards sees every record appended before that moment.
func (f *follower) catchUp(ctx context.Context) error {
	ends, err := f.endOffsets(ctx)
	if err != nil {
		return err
	}
	for {
		f.mu.Lock()
		behind := ""
		for tp, end := range ends {
			if f.next[tp.topic][tp.partition] < end {
				behind = fmt.Sprintf("%s/%d at %d of %d", tp.topic, tp.partition, f.next[tp.topic][tp.partition], end)
				break
			}
		}
		f.mu.Unlock()
		if behind == "" {
			return nil
		}
		if !sleepFor(ctx, 50*time.Millisecond) {
			return fmt.Errorf("follower behind (%s): %w", behind, ctx.Err())
		}
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

// endOffsets asks the broker for the end offset of every partition of the
// followed topics that exist.
func (f *follower) endOffsets(ctx context.Context) (map[topicPartition]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	for _, t := range f.topics {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(t)
		meta.Topics = append(meta.Topics, mt)
	}
	mresp, err := meta.RequestWith(ctx, f.cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.ReplicaID = -1
	for _, t := range mresp.Topics {
		if t.ErrorCode != 0 || t.Topic == nil {
			continue // not created yet: nothing to wait for
		}
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = *t.Topic
		for _, p := range t.Partitions {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition = p.Partition
			lp.Timestamp = -1 // the end
			lt.Partitions = append(lt.Partitions, lp)
		}
		lo.Topics = append(lo.Topics, lt)
	}
	out := map[topicPartition]int64{}
	if len(lo.Topics) == 0 {
		return out, nil
	}
	lresp, err := lo.RequestWith(ctx, f.cl)
	if err != nil {
		return nil, fmt.Errorf("list offsets: %w", err)
	}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return nil, fmt.Errorf("list offsets %s/%d: error code %d", t.Topic, p.Partition, p.ErrorCode)
			}
			out[topicPartition{t.Topic, p.Partition}] = p.Offset
		}
	}
	return out, nil
}

// Package fleet spreads one backfill over many ingest processes through
// Kafka. A planner (RunPlan) lists the backfill once, as the
// single-process backfill does, and writes work items to a plan topic
// (default cloudtrail.backfill); workers (RunWorker) share the items in a
// consumer group, read each item's objects through the pipeline's Settler
// (the backfill's own per-object settling) and commit an item's offset
// only once Kafka acknowledged everything it produced; anyone can ask how
// far it is (ReadStatus) from Kafka alone. docs/backfill.md is the
// operator's guide.
package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"rootwatch/internal/source"
)

// Defaults of the plan topic and of its workers.
const (
	// DefaultTopic is the plan topic.
	DefaultTopic = "cloudtrail.backfill"
	// DefaultGroup is the consumer group of the workers.
	DefaultGroup = "rootwatch-backfill"
	// DefaultPartitions is how many partitions a created plan topic has:
	// the most workers that can share the work.
	DefaultPartitions = 64
	// DefaultItemObjects is the most objects in one work item. A worker
	// lists an item's keys with one ListObjectsV2 page (up to 1,000), and a
	// worker killed re-reads its items in flight: smaller items are finer,
	// larger ones fewer messages.
	DefaultItemObjects = 500
)

// positive is v, or def when v is not positive (an option left unset).
func positive[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// StateTopic is the compacted topic beside a plan topic that holds the
// planner's progress (partition 0) and every worker's counters (partition 1).
func StateTopic(plan string) string { return plan + ".state" }

// Item is one work item, the value of a plan topic message (JSON): a run
// of consecutive log files in one day folder,
// <prefix>AWSLogs/[o-id/]<account>/CloudTrail/<region>/YYYY/MM/DD/, from
// the key after After (the folder's first when empty) to Last, inclusive.
// A folder of more than the planner's --item-objects files is cut into
// several items. The worker lists the run again (one ListObjectsV2 page)
// and reads every file in it.
type Item struct {
	V      int    `json:"v"`
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
	After  string `json:"after,omitempty"`
	Last   string `json:"last"`
	// Objects and Bytes are what the planner listed (stored sizes), for
	// progress and sizing.
	Objects int   `json:"objects"`
	Bytes   int64 `json:"bytes"`
	// Seq numbers the items of a plan from 0, in listing order. Item Seq is
	// on partition Seq mod the plan topic's partitions, so every partition
	// holds its items in chronological order.
	Seq int64 `json:"seq"`
}

// itemVersion is the format of Item written by this code.
const itemVersion = 1

// Key is the message key of the item: its last object.
func (it Item) Key() []byte { return []byte(it.Bucket + "/" + it.Last) }

// String names the item for logs and errors.
func (it Item) String() string {
	return fmt.Sprintf("item %d (s3://%s/%s after %q to %q, %d objects)", it.Seq, it.Bucket, it.Prefix, it.After, it.Last, it.Objects)
}

// Partition is the plan topic partition of item seq among n.
func Partition(seq int64, n int) int { return int(seq % int64(n)) }

// DecodeItem reads a plan topic message value.
func DecodeItem(b []byte) (Item, error) {
	var it Item
	if err := json.Unmarshal(b, &it); err != nil {
		return it, fmt.Errorf("not a backfill work item: %w", err)
	}
	switch {
	case it.V != itemVersion:
		return it, fmt.Errorf("backfill work item version %d: this ingest reads version %d", it.V, itemVersion)
	case it.Bucket == "" || it.Last == "":
		return it, errors.New("backfill work item without bucket or last key")
	case !strings.HasPrefix(it.Last, it.Prefix) || it.After != "" && (!strings.HasPrefix(it.After, it.Prefix) || it.After >= it.Last):
		return it, fmt.Errorf("backfill work item: keys %q..%q are not a run in folder %q", it.After, it.Last, it.Prefix)
	}
	return it, nil
}

// builder cuts a listing (Backfill.Walk, in Position order) into items of
// at most max objects, each within one folder.
type builder struct {
	spec source.Backfill
	max  int
	// lastFolder and lastKey are the end of the item built last (or of the
	// plan so far when resuming): an item that follows in the same folder
	// starts after that key.
	lastFolder, lastKey string
	cur                 *planned
}

// planned is an item being built, with the Position of its last object.
type planned struct {
	Item
	pos source.Position
}

func newBuilder(spec source.Backfill, max int, after source.Position) *builder {
	b := &builder{spec: spec, max: max}
	if after.Day != "" {
		b.lastFolder, b.lastKey = spec.FolderPrefix(after.Folder()), after.Key
	}
	return b
}

// add takes the next listed object; it returns the item it completed, if any.
func (b *builder) add(l source.Listed) *planned {
	folder := b.spec.FolderPrefix(l.Pos.Folder())
	var out *planned
	if b.cur != nil && (b.cur.Prefix != folder || b.cur.Objects >= b.max) {
		out = b.flush()
	}
	if b.cur == nil {
		b.cur = &planned{Item: Item{V: itemVersion, Bucket: l.Object.Bucket, Prefix: folder}}
		if folder == b.lastFolder {
			b.cur.After = b.lastKey
		}
	}
	b.cur.Last, b.cur.pos = l.Object.Key, l.Pos
	b.cur.Objects++
	b.cur.Bytes += l.Object.Size
	return out
}

// flush returns the item being built (nil when none) and starts afresh.
func (b *builder) flush() *planned {
	p := b.cur
	if p != nil {
		b.lastFolder, b.lastKey = p.Prefix, p.Last
	}
	b.cur = nil
	return p
}

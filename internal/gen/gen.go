// Package gen writes realistic, deterministic CloudTrail log files: records
// shaped like AWS's (nested userIdentity and sessionContext, tlsDetails,
// resources, null responseElements, service events, console sign-ins), a
// configurable share of true root activity and of look-alikes that only seem
// to be root, in AWS's S3 key layout, gzipped. Member accounts' root
// activity includes the actions of centralised-root sessions, and the
// management account's log the sts:AssumeRoot calls that issued their keys
// (session.go), so the two can be joined. It records which eventIDs are
// root activity (the rule in docs/rule.md) and which are those calls, so
// tests and benchmarks can check exactly what a scanner found and what it
// wrongly flagged.
package gen

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"rootwatch/internal/match"
)

// Config says what to generate. The zero value of every field has a default
// (see Defaults), so Config{Seed: 1, Files: 10} is enough.
type Config struct {
	// Seed makes the output reproducible: the same Config writes the same
	// bytes under the same keys, whatever Workers is.
	Seed uint64
	// Accounts are 12-digit account ids; the first is the organisation's
	// management account. Default: three ids derived from Seed.
	Accounts []string
	// Regions the trail logs; global services (IAM, sign-in, Organizations)
	// only appear in us-east-1 files, as with AWS. Default: us-east-1,
	// eu-west-1, us-west-2.
	Regions []string
	// Start is the time of the first file; files follow in 5-minute steps.
	// Default: 2026-01-05T00:00:00Z.
	Start time.Time
	// Files is how many log files to write. When TargetBytes is set, Files
	// is an upper bound (0: none).
	Files int
	// TargetBytes, when > 0, stops after the file that brings the
	// uncompressed log bytes to at least this much.
	TargetBytes int64
	// RecordsPerFile is the mean number of records in a file (each file
	// holds between 1 and 2*RecordsPerFile-1). Default 200.
	RecordsPerFile int
	// RootShare is the probability that a record is true root activity.
	// Default 0.001; a negative value means none.
	RootShare float64
	// LookalikeShare is the probability that a record looks like root
	// activity but is not. Default 0.01; a negative value means none.
	LookalikeShare float64
	// OrgID, e.g. "o-a1b2c3d4e5", makes this an organisation trail: keys
	// carry AWSLogs/<OrgID>/. Empty: a single-account trail layout.
	OrgID string
	// Digests also writes one CloudTrail-Digest file per account, region
	// and hour, listing the log files with their SHA-256 (unsigned).
	Digests bool
	// Bucket is the trail bucket named in digest files. Default "rootwatch-trail".
	Bucket string
	// Prefix is prepended to every key (the trail's S3 key prefix); include
	// the trailing slash.
	Prefix string
	// Workers generate files in parallel. Default GOMAXPROCS. The output
	// does not depend on it.
	Workers int
	// Level is the gzip level. Default gzip.DefaultCompression.
	Level int
}

// Defaults returns cfg with every unset field filled in.
func Defaults(cfg Config) Config {
	if len(cfg.Accounts) == 0 {
		r := rand.New(rand.NewPCG(cfg.Seed, 0xacc0))
		for range 3 {
			cfg.Accounts = append(cfg.Accounts, fmt.Sprintf("%012d", 100000000000+r.Int64N(899999999999)))
		}
	}
	if len(cfg.Regions) == 0 {
		cfg.Regions = []string{"us-east-1", "eu-west-1", "us-west-2"}
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if cfg.RecordsPerFile <= 0 {
		cfg.RecordsPerFile = 200
	}
	if cfg.RootShare == 0 {
		cfg.RootShare = 0.001
	}
	if cfg.RootShare < 0 {
		cfg.RootShare = 0
	}
	if cfg.LookalikeShare == 0 {
		cfg.LookalikeShare = 0.01
	}
	if cfg.LookalikeShare < 0 {
		cfg.LookalikeShare = 0
	}
	if cfg.Bucket == "" {
		cfg.Bucket = "rootwatch-trail"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Level == 0 {
		cfg.Level = gzip.DefaultCompression
	}
	return cfg
}

// RootEvent is one record of true root activity the generator wrote.
type RootEvent struct {
	EventID string
	Key     string // the object key of the file that holds it
	// Category is what the generator meant the record to be, by the
	// precedence internal/match applies: console sign-in, failed sign-in,
	// assumed-root session, credential change, denied, mutating, read.
	Category match.Category
	// Session is, for an action of a centralised-root session (category
	// assumed-root), the access key its sts:AssumeRoot call issued (a
	// SessionEvent's AccessKeyID); "" for any other root event.
	Session string
}

// SessionEvent is one sts:AssumeRoot call the generator wrote: not root
// activity (a finding of rule root-session-issued), the call that opened a
// centralised-root session whose actions in the member account are root
// events carrying its key. Each is written in the management account's
// (the first account's) file of the first region of the 5-minute period
// its session is used in; a call is written when some file of its period
// holds an action of the session, so when Files or TargetBytes cut the
// period short, the call may have no action written.
type SessionEvent struct {
	EventID     string
	Key         string // the object key of the file that holds it
	AccessKeyID string // the session's key, on its actions too
	Target      string // the member account
}

// Truth is what was generated: counts, and every true root record.
type Truth struct {
	Files      int   // log files (not digests)
	Digests    int   // digest files
	Records    int64 // records in all log files
	Bytes      int64 // uncompressed bytes of all log files
	GzBytes    int64 // compressed bytes of all log files
	Lookalikes int64 // records written to look like root activity without being it
	Root       []RootEvent
	// Sessions are the sts:AssumeRoot calls written (not root activity).
	Sessions []SessionEvent
}

// EventIDs returns the eventIDs of true root activity, sorted.
func (t *Truth) EventIDs() []string {
	ids := make([]string, len(t.Root))
	for i, r := range t.Root {
		ids[i] = r.EventID
	}
	slices.Sort(ids)
	return ids
}

// FindingIDs returns, sorted, the eventIDs of every record the matcher
// makes a finding of (docs/rule.md): root activity (rule cis-root) and the
// sts:AssumeRoot calls that opened sessions (rule root-session-issued).
func (t *Truth) FindingIDs() []string {
	ids := t.EventIDs()
	for _, s := range t.Sessions {
		ids = append(ids, s.EventID)
	}
	slices.Sort(ids)
	return ids
}

// WriteIDs writes the sorted root eventIDs, one per line.
func (t *Truth) WriteIDs(w io.Writer) error {
	var b []byte
	for _, id := range t.EventIDs() {
		b = append(b, id...)
		b = append(b, '\n')
	}
	_, err := w.Write(b)
	return err
}

// EmitFunc receives one generated file: its object key and gzipped bytes.
// gz is only valid during the call. Files arrive in a deterministic order.
type EmitFunc func(key string, gz []byte) error

// Generate writes cfg's files through emit and returns what it wrote. It
// stops at the first error emit returns.
func Generate(cfg Config, emit EmitFunc) (Truth, error) {
	cfg = Defaults(cfg)
	if cfg.Files <= 0 && cfg.TargetBytes <= 0 {
		return Truth{}, errors.New("gen: set Files or TargetBytes")
	}
	for _, a := range cfg.Accounts {
		if len(a) != 12 || !isDigits(a) {
			return Truth{}, fmt.Errorf("gen: account %q is not a 12-digit id", a)
		}
	}
	// Checked here, not when a file is compressed: a pooled writer would
	// otherwise hide a bad level (the error then depended on what ran before).
	if _, err := gzip.NewWriterLevel(io.Discard, cfg.Level); err != nil {
		return Truth{}, fmt.Errorf("gen: gzip level %d: %w", cfg.Level, err)
	}
	w := newWorld(&cfg)

	type result struct {
		f   *file
		err error
	}
	// Files are made in parallel, handed out in index order; at most
	// 2*Workers are in flight, so memory stays bounded.
	inflight := 2 * cfg.Workers
	slots := make(chan chan result, inflight)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	go func() {
		defer close(slots)
		sem := make(chan struct{}, cfg.Workers)
		for i := 0; cfg.Files <= 0 || i < cfg.Files; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ch := make(chan result, 1)
			select {
			case slots <- ch:
			case <-stop:
				return
			}
			select {
			case sem <- struct{}{}:
			case <-stop:
				return
			}
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				f, err := w.makeFile(i)
				ch <- result{f, err}
			}(i)
		}
	}()
	finish := func() {
		close(stop)
		for range slots { // let the producer see stop and exit
		}
		wg.Wait()
	}

	var t Truth
	var digests digestSet
	for ch := range slots {
		r := <-ch
		if r.err != nil {
			finish()
			return t, r.err
		}
		f := r.f
		if err := emit(f.key, f.gz); err != nil {
			finish()
			return t, fmt.Errorf("emit %s: %w", f.key, err)
		}
		t.Files++
		t.Records += int64(f.records)
		t.Bytes += int64(f.raw)
		t.GzBytes += int64(len(f.gz))
		t.Lookalikes += int64(f.lookalikes)
		t.Root = append(t.Root, f.roots...)
		t.Sessions = append(t.Sessions, f.sessions...)
		if cfg.Digests {
			digests.add(f)
		}
		f.release()
		if cfg.TargetBytes > 0 && t.Bytes >= cfg.TargetBytes {
			break
		}
	}
	finish()
	if cfg.Digests {
		n, err := digests.emit(w, emit)
		t.Digests = n
		if err != nil {
			return t, err
		}
	}
	return t, nil
}

// GenerateDir writes cfg's files under dir, keys as relative paths.
func GenerateDir(cfg Config, dir string) (Truth, error) {
	made := map[string]bool{}
	return Generate(cfg, func(key string, gz []byte) error {
		p := filepath.Join(dir, filepath.FromSlash(key))
		d := filepath.Dir(p)
		if !made[d] {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			made[d] = true
		}
		return os.WriteFile(p, gz, 0o644)
	})
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// file is one generated log file.
type file struct {
	idx        int
	key        string
	account    string
	region     string
	end        time.Time // the time in the file name
	oldest     time.Time
	newest     time.Time
	records    int
	raw        int
	sum        [32]byte // SHA-256 of the uncompressed content, for digests
	gz         []byte
	gzbuf      *bytes.Buffer
	lookalikes int
	roots      []RootEvent
	sessions   []SessionEvent
}

var (
	rawPool = sync.Pool{New: func() any { return &buf{b: make([]byte, 0, 1<<20)} }}
	gzPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	// gzwPools holds one pool of gzip writers per level (level -> *sync.Pool):
	// Reset keeps a writer's level, so writers of different levels must
	// never mix, or the output would depend on what was generated before.
	gzwPools sync.Map
)

func gzwPool(level int) *sync.Pool {
	if p, ok := gzwPools.Load(level); ok {
		return p.(*sync.Pool)
	}
	p, _ := gzwPools.LoadOrStore(level, new(sync.Pool))
	return p.(*sync.Pool)
}

func (f *file) release() {
	if f.gzbuf != nil {
		f.gzbuf.Reset()
		gzPool.Put(f.gzbuf)
		f.gzbuf, f.gz = nil, nil
	}
}

// makeFile generates file number i. Its content depends only on the
// config and i.
func (w *world) makeFile(i int) (*file, error) {
	cfg := w.cfg
	acct := w.accounts[i%len(cfg.Accounts)]
	region := w.region(i)
	end := w.periodStart(i/w.slots() + 1)

	r := rand.New(rand.NewPCG(cfg.Seed, uint64(i)+0x9e3779b97f4a7c15))
	f := &file{idx: i, account: acct.id, region: region, end: end}
	f.key = w.logKey(acct.id, region, end, randString(r, alnum, 16))

	rb := rawPool.Get().(*buf)
	defer rawPool.Put(rb)
	rb.b = rb.b[:0]
	g := &fileGen{w: w, r: r, buf: rb, acct: acct, region: region, file: f,
		from: end.Add(-5 * time.Minute), span: 5 * time.Minute}

	p, n := w.plan(i)
	rb.b = append(rb.b, `{"Records":[`...)
	g.sessionCalls()
	for range n {
		g.record(p.next())
		rb.b = append(rb.b, ',')
	}
	rb.trim()
	rb.b = append(rb.b, ']', '}')
	f.records += n
	f.raw = len(rb.b)
	if cfg.Digests {
		f.sum = sha256.Sum256(rb.b)
	}

	gb := gzPool.Get().(*bytes.Buffer)
	gb.Reset()
	pool := gzwPool(cfg.Level)
	zw, _ := pool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzip.NewWriterLevel(gb, cfg.Level); err != nil {
			return nil, fmt.Errorf("gzip level %d: %w", cfg.Level, err)
		}
	} else {
		zw.Reset(gb)
	}
	if _, err := zw.Write(rb.b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	pool.Put(zw)
	f.gzbuf, f.gz = gb, gb.Bytes()
	return f, nil
}

func (w *world) logKey(acct, region string, end time.Time, uniq string) string {
	b := make([]byte, 0, 160)
	b = append(b, w.cfg.Prefix...)
	b = append(b, "AWSLogs/"...)
	if w.cfg.OrgID != "" {
		b = append(b, w.cfg.OrgID...)
		b = append(b, '/')
	}
	b = append(b, acct...)
	b = append(b, "/CloudTrail/"...)
	b = append(b, region...)
	b = end.AppendFormat(append(b, '/'), "2006/01/02/")
	b = append(b, acct...)
	b = append(b, "_CloudTrail_"...)
	b = append(b, region...)
	b = end.AppendFormat(append(b, '_'), "20060102T1504Z")
	b = append(b, '_')
	b = append(b, uniq...)
	b = append(b, ".json.gz"...)
	return string(b)
}

// digestSet collects the log files of each account, region and hour.
type digestSet struct {
	groups map[digestKey]*[]digestFile
	order  []digestKey
}

type digestKey struct {
	account, region string
	hour            time.Time
}

type digestFile struct {
	key            string
	sum            [32]byte
	oldest, newest time.Time
}

func (d *digestSet) add(f *file) {
	if d.groups == nil {
		d.groups = map[digestKey]*[]digestFile{}
	}
	k := digestKey{f.account, f.region, f.end.Truncate(time.Hour)}
	g, ok := d.groups[k]
	if !ok {
		g = new([]digestFile)
		d.groups[k] = g
		d.order = append(d.order, k)
	}
	*g = append(*g, digestFile{f.key, f.sum, f.oldest, f.newest})
}

// emit writes the digests in a stable order, chaining each to the previous
// one of its account and region as CloudTrail does.
func (d *digestSet) emit(w *world, emit EmitFunc) (int, error) {
	slices.SortStableFunc(d.order, func(a, b digestKey) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.region, b.region), a.hour.Compare(b.hour))
	})
	type prev struct{ key, hash string }
	last := map[[2]string]prev{}
	n := 0
	for _, k := range d.order {
		files := *d.groups[k]
		start, endT := k.hour, k.hour.Add(time.Hour)
		var key []byte
		key = append(key, w.cfg.Prefix...)
		key = append(key, "AWSLogs/"...)
		if w.cfg.OrgID != "" {
			key = append(append(key, w.cfg.OrgID...), '/')
		}
		key = append(key, k.account...)
		key = append(key, "/CloudTrail-Digest/"...)
		key = append(key, k.region...)
		key = endT.AppendFormat(append(key, '/'), "2006/01/02/")
		key = append(key, k.account...)
		key = append(key, "_CloudTrail-Digest_"...)
		key = append(key, k.region...)
		key = append(key, "_rootwatch-trail_"...)
		key = append(key, k.region...)
		key = endT.AppendFormat(append(key, '_'), "20060102T150405Z")
		key = append(key, ".json.gz"...)

		var b buf
		b.obj("")
		b.s("awsAccountId", k.account)
		b.time("digestStartTime", start)
		b.time("digestEndTime", endT)
		b.s("digestS3Bucket", w.cfg.Bucket)
		b.s("digestS3Object", string(key))
		b.s("digestPublicKeyFingerprint", "ab12cd34ef56ab78cd90ef12ab34cd56")
		b.s("digestSignatureAlgorithm", "SHA256withRSA")
		oldest, newest := files[0].oldest, files[0].newest
		for _, f := range files {
			if f.oldest.Before(oldest) {
				oldest = f.oldest
			}
			if f.newest.After(newest) {
				newest = f.newest
			}
		}
		b.time("newestEventTime", newest)
		b.time("oldestEventTime", oldest)
		p := last[[2]string{k.account, k.region}]
		if p.key == "" {
			b.null("previousDigestS3Bucket")
			b.null("previousDigestS3Object")
			b.null("previousDigestHashValue")
			b.null("previousDigestHashAlgorithm")
			b.null("previousDigestSignature")
		} else {
			b.s("previousDigestS3Bucket", w.cfg.Bucket)
			b.s("previousDigestS3Object", p.key)
			b.s("previousDigestHashValue", p.hash)
			b.s("previousDigestHashAlgorithm", "SHA-256")
			b.s("previousDigestSignature", "00")
		}
		b.arr("logFiles")
		for _, f := range files {
			b.obj("")
			b.s("s3Bucket", w.cfg.Bucket)
			b.s("s3Object", f.key)
			b.s("hashValue", hex.EncodeToString(f.sum[:]))
			b.s("hashAlgorithm", "SHA-256")
			b.time("newestEventTime", f.newest)
			b.time("oldestEventTime", f.oldest)
			b.close()
		}
		b.cls()
		b.close()
		b.trim()
		sum := sha256.Sum256(b.b)
		last[[2]string{k.account, k.region}] = prev{string(key), hex.EncodeToString(sum[:])}

		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, w.cfg.Level)
		zw.Write(b.b)
		if err := zw.Close(); err != nil {
			return n, err
		}
		if err := emit(string(key), gz.Bytes()); err != nil {
			return n, fmt.Errorf("emit %s: %w", key, err)
		}
		n++
	}
	return n, nil
}

package source

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/workpool"
)

// S3Lister is the part of the S3 client a backfill uses.
type S3Lister interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// Backfill says which CloudTrail files of a bucket to read:
// <Prefix>AWSLogs/[<org>/]<account>/CloudTrail/<region>/YYYY/MM/DD/ for
// every chosen account, region and day.
type Backfill struct {
	Bucket string
	// Prefix is the trail's key prefix (what precedes AWSLogs/), with its trailing slash.
	Prefix string
	// OrgID limits an organisation trail to one organisation; empty means
	// whatever is found (organisation folders and plain account folders).
	OrgID    string
	From, To time.Time // days, inclusive, UTC
	// Accounts and Regions filter; empty means all (discovered by listing
	// with Delimiter "/").
	Accounts []string
	Regions  []string
}

// ParseBackfillURL reads s3://bucket/prefix?from=YYYY-MM-DD&to=YYYY-MM-DD&accounts=a,b&regions=r1,r2.
// from is required; to defaults to today (UTC, from now). The prefix may
// stop before AWSLogs/, or include AWSLogs/ and an organisation id.
func ParseBackfillURL(s string, now time.Time) (Backfill, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Backfill{}, fmt.Errorf("backfill source %q: %w", s, err)
	}
	if u.Scheme != "s3" || u.Host == "" {
		return Backfill{}, fmt.Errorf("backfill source %q: want s3://bucket/prefix?from=YYYY-MM-DD", s)
	}
	b := Backfill{Bucket: u.Host, Prefix: strings.TrimPrefix(u.Path, "/")}
	if i := strings.Index(b.Prefix, "AWSLogs/"); i >= 0 && (i == 0 || b.Prefix[i-1] == '/') {
		rest := strings.Trim(b.Prefix[i+len("AWSLogs/"):], "/")
		b.Prefix = b.Prefix[:i]
		for _, part := range strings.Split(rest, "/") {
			switch {
			case part == "":
			case strings.HasPrefix(part, "o-") && b.OrgID == "":
				b.OrgID = part
			case len(b.Accounts) == 0 && isDigits(part) && len(part) == 12:
				b.Accounts = []string{part}
			default:
				return Backfill{}, fmt.Errorf("backfill source %q: give the prefix up to AWSLogs/[org/][account/]; use from, to, accounts and regions for the rest", s)
			}
		}
	} else if b.Prefix != "" && !strings.HasSuffix(b.Prefix, "/") {
		b.Prefix += "/"
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "from", "to", "accounts", "regions":
		default:
			return Backfill{}, fmt.Errorf("backfill source %q: unknown parameter %q (want from, to, accounts, regions)", s, k)
		}
	}
	if q.Get("from") == "" {
		return Backfill{}, fmt.Errorf("backfill source %q: from=YYYY-MM-DD is required", s)
	}
	if b.From, err = time.Parse("2006-01-02", q.Get("from")); err != nil {
		return Backfill{}, fmt.Errorf("backfill source %q: from=%q: want a date such as 2026-01-31", s, q.Get("from"))
	}
	b.To = now.UTC().Truncate(24 * time.Hour)
	if v := q.Get("to"); v != "" {
		if b.To, err = time.Parse("2006-01-02", v); err != nil {
			return Backfill{}, fmt.Errorf("backfill source %q: to=%q: want a date such as 2026-01-31", s, v)
		}
	}
	if b.To.Before(b.From) {
		return Backfill{}, fmt.Errorf("backfill source %q: to is before from", s)
	}
	if v := q.Get("accounts"); v != "" {
		b.Accounts = splitList(v)
		for _, a := range b.Accounts {
			if len(a) != 12 || !isDigits(a) {
				return Backfill{}, fmt.Errorf("backfill source %q: account %q is not a 12-digit id", s, a)
			}
		}
	}
	if v := q.Get("regions"); v != "" {
		b.Regions = splitList(v)
	}
	return b, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Folder is one day folder of a backfill:
// <Prefix>AWSLogs/<Account>/CloudTrail/<Region>/<Day>/. Folders are read
// and checkpointed in the order of Compare: by day, then account folder,
// then region, so a backfill goes forward in time.
type Folder struct {
	Day     string `json:"day"`     // YYYY/MM/DD
	Account string `json:"account"` // [o-id/]account
	Region  string `json:"region"`
}

// Compare orders folders by day, account folder, region (-1, 0, +1).
func (f Folder) Compare(g Folder) int {
	if c := strings.Compare(f.Day, g.Day); c != 0 {
		return c
	}
	if c := strings.Compare(f.Account, g.Account); c != 0 {
		return c
	}
	return strings.Compare(f.Region, g.Region)
}

// FolderPrefix is folder f's key prefix in b's bucket.
func (b Backfill) FolderPrefix(f Folder) string {
	return b.Prefix + "AWSLogs/" + f.Account + "/CloudTrail/" + f.Region + "/" + f.Day + "/"
}

// Position orders a backfill: by folder (day, account folder, region), then
// key. Everything at or before a checkpointed Position is done.
type Position struct {
	Day     string `json:"day"`     // YYYY/MM/DD
	Account string `json:"account"` // [o-id/]account
	Region  string `json:"region"`
	Key     string `json:"key"` // last key done in that folder; "" for none
}

// Folder is the position's folder.
func (p Position) Folder() Folder { return Folder{Day: p.Day, Account: p.Account, Region: p.Region} }

// At is the position key in folder f.
func (f Folder) At(key string) Position {
	return Position{Day: f.Day, Account: f.Account, Region: f.Region, Key: key}
}

// Listed is one object found by a folder listing.
type Listed struct {
	Object Object
	Pos    Position
}

// Plan is a backfill's folders, found once: the account folders (listed
// with Delimiter "/" under AWSLogs/ and each organisation, unless the
// accounts were given) and each account's regions (listed with Delimiter
// "/" under its CloudTrail/ folder, unless given), for every day from
// From to To. Finding them costs one LIST per account, not one per day.
type Plan struct {
	Spec     Backfill
	Accounts []string   // "[o-id/]account" folders, sorted
	Regions  [][]string // Regions[i] are Accounts[i]'s regions, sorted
}

// DefaultListConcurrency is how many folders a backfill lists at once (and
// how many accounts' regions Discover asks for at once): enough that 30-50
// ms per LIST does not bound a backfill of small objects.
const DefaultListConcurrency = 128

// Discover finds the backfill's account folders and their regions,
// listing up to concurrency accounts' regions at once.
func (b Backfill) Discover(ctx context.Context, c S3Lister, concurrency int) (*Plan, error) {
	accounts, err := b.accountFolders(ctx, c)
	if err != nil {
		return nil, err
	}
	p := &Plan{Spec: b, Accounts: accounts, Regions: make([][]string, len(accounts))}
	if len(b.Regions) > 0 {
		for i := range accounts {
			p.Regions[i] = b.Regions
		}
		return p, nil
	}
	errs := make([]error, len(accounts))
	pool := workpool.New(ctx, max(concurrency, 1), 0, func(ctx context.Context, i int) {
		p.Regions[i], errs[i] = b.regionsOf(ctx, c, accounts[i])
	}, func(i int, err error) { errs[i] = err })
	for i := range accounts {
		if err := pool.Submit(ctx, i); err != nil {
			break
		}
	}
	pool.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return p, errors.Join(errs...)
}

// Folders are the plan's folders in order, starting with the first at or
// after from (the zero Folder: all).
func (p *Plan) Folders(from Folder) iter.Seq[Folder] {
	return func(yield func(Folder) bool) {
		for day := p.Spec.From; !day.After(p.Spec.To); day = day.AddDate(0, 0, 1) {
			d := day.Format("2006/01/02")
			if d < from.Day {
				continue
			}
			for i, a := range p.Accounts {
				for _, r := range p.Regions[i] {
					f := Folder{Day: d, Account: a, Region: r}
					if f.Compare(from) < 0 {
						continue
					}
					if !yield(f) {
						return
					}
				}
			}
		}
	}
}

// Len is the number of folders of the plan.
func (p *Plan) Len() int64 {
	var n int64
	for _, r := range p.Regions {
		n += int64(len(r))
	}
	return n * int64(p.Spec.To.Sub(p.Spec.From)/(24*time.Hour)+1)
}

// ListFolder lists folder f's log files after startAfter ("": from its
// start), in key order, one page at a time: digest files and "folder" keys
// are not passed on. It is one folder of a backfill; FolderLister lists
// many at once.
func (b Backfill) ListFolder(ctx context.Context, c S3Lister, f Folder, startAfter string, fn func(Listed) error) error {
	return listAll(ctx, c, b.Bucket, b.FolderPrefix(f), "", startAfter, func(key string, size int64) error {
		if !isLogFile(key) {
			return nil
		}
		return fn(Listed{Object: Object{Bucket: b.Bucket, Key: key, Size: size}, Pos: f.At(key)})
	}, nil)
}

// isLogFile: a key a folder listing passes on (not a digest file, not a
// "folder" key).
func isLogFile(key string) bool {
	return !cloudtrail.IsDigest(key) && !strings.HasSuffix(key, "/")
}

// FolderListing is one folder for a FolderLister: which, from where, and
// what to do with what it holds.
type FolderListing struct {
	Folder     Folder
	StartAfter string
	// Object is called for each log file after StartAfter, in key order;
	// an error ends the folder's listing (and is given to Done).
	Object func(Listed) error
	// Done is called once when the listing ended: nil when the folder
	// was listed to its end.
	Done func(error)
}

// FolderLister lists day folders of a backfill in parallel, up to
// Concurrency at once, streaming each folder's objects to its callback
// page by page while the others go on. Folders start listing in the order
// they were submitted, so a backfill that submits them in Folder order
// stays roughly chronological; memory is what the callbacks keep.
type FolderLister struct {
	spec Backfill
	c    S3Lister
	pool *workpool.Pool[FolderListing]
}

// NewFolderLister starts concurrency listers (default
// DefaultListConcurrency) for spec's bucket; ctx ends the listings in
// progress.
func NewFolderLister(ctx context.Context, c S3Lister, spec Backfill, concurrency int) *FolderLister {
	if concurrency <= 0 {
		concurrency = DefaultListConcurrency
	}
	l := &FolderLister{spec: spec, c: c}
	l.pool = workpool.New(ctx, concurrency, 0, func(ctx context.Context, fl FolderListing) {
		fl.Done(spec.ListFolder(ctx, c, fl.Folder, fl.StartAfter, fl.Object))
	}, func(fl FolderListing, err error) { fl.Done(err) })
	return l
}

// Submit hands fl to a lister, waiting for a free one; when ctx ends
// first, fl is not listed (and fl.Done is not called) and the context's
// error is returned.
func (l *FolderLister) Submit(ctx context.Context, fl FolderListing) error {
	return l.pool.Submit(ctx, fl)
}

// Close waits until every submitted folder was listed (or dropped, its
// Done told why). Submit must not be called after Close.
func (l *FolderLister) Close() { l.pool.Close() }

// Walk lists the backfill's objects in Position order, strictly after
// after (zero: from the start), calling fn for each, as one stream: the
// listing a fleet planner cuts into work items. It finds the folders once
// (Discover) and lists up to concurrency folders at once through a
// FolderLister, as a backfill does, while fn takes the oldest folder's
// objects as they come; a later folder's objects wait (at most a page
// each) until the folders before it are done. Digest and non-log files are
// not passed on.
func (b Backfill) Walk(ctx context.Context, c S3Lister, after Position, concurrency int, fn func(Listed) error) error {
	if concurrency <= 0 {
		concurrency = DefaultListConcurrency
	}
	plan, err := b.Discover(ctx, c, concurrency)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type folder struct {
		objs chan Listed // closed when the listing ended
		err  error       // set before objs is closed
	}
	order := make(chan *folder, concurrency)
	lister := NewFolderLister(ctx, c, b, concurrency)
	submitted := make(chan error, 1)
	go func() {
		defer close(order)
		defer lister.Close()
		from := after.Folder()
		for f := range plan.Folders(from) {
			fo := &folder{objs: make(chan Listed, listPage)}
			select {
			case order <- fo:
			case <-ctx.Done():
				submitted <- ctx.Err()
				return
			}
			startAfter := ""
			if after.Day != "" && f == from {
				startAfter = after.Key
			}
			err := lister.Submit(ctx, FolderListing{Folder: f, StartAfter: startAfter,
				Object: func(l Listed) error {
					select {
					case fo.objs <- l:
						return nil
					case <-ctx.Done():
						return ctx.Err()
					}
				},
				Done: func(err error) { fo.err = err; close(fo.objs) }})
			if err != nil {
				fo.err = err
				close(fo.objs)
				submitted <- err
				return
			}
		}
		submitted <- nil
	}()
	var walkErr error
	for fo := range order {
		for l := range fo.objs {
			if walkErr == nil {
				if walkErr = fn(l); walkErr != nil {
					cancel() // the listers and the submitter stop; drain what is left
				}
			}
		}
		if walkErr == nil && fo.err != nil {
			walkErr = fo.err
			cancel()
		}
	}
	if err := <-submitted; walkErr == nil && err != nil {
		walkErr = err
	}
	return walkErr
}

// listPage is the most keys one ListObjectsV2 page holds.
const listPage = 1000

// accountFolders returns the sorted "[o-id/]account" folders to read.
func (b Backfill) accountFolders(ctx context.Context, c S3Lister) ([]string, error) {
	var out []string
	add := func(org, acct string) {
		if len(b.Accounts) > 0 && !slices.Contains(b.Accounts, acct) {
			return
		}
		if org != "" {
			acct = org + "/" + acct
		}
		out = append(out, acct)
	}
	root := b.Prefix + "AWSLogs/"
	var orgs []string
	if b.OrgID != "" {
		orgs = []string{b.OrgID}
	} else {
		err := listAll(ctx, c, b.Bucket, root, "/", "", nil, func(p string) error {
			name := strings.TrimSuffix(strings.TrimPrefix(p, root), "/")
			switch {
			case strings.HasPrefix(name, "o-"):
				orgs = append(orgs, name)
			case len(name) == 12 && isDigits(name):
				add("", name)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, org := range orgs {
		if b.OrgID == "" || len(b.Accounts) == 0 {
			p := root + org + "/"
			err := listAll(ctx, c, b.Bucket, p, "/", "", nil, func(cp string) error {
				name := strings.TrimSuffix(strings.TrimPrefix(cp, p), "/")
				if len(name) == 12 && isDigits(name) {
					add(org, name)
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
		} else {
			for _, a := range b.Accounts {
				add(org, a)
			}
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, fmt.Errorf("backfill s3://%s/%s: no account folders found", b.Bucket, root)
	}
	return out, nil
}

func (b Backfill) regionsOf(ctx context.Context, c S3Lister, acctFolder string) ([]string, error) {
	if len(b.Regions) > 0 {
		return b.Regions, nil
	}
	p := b.Prefix + "AWSLogs/" + acctFolder + "/CloudTrail/"
	var out []string
	err := listAll(ctx, c, b.Bucket, p, "/", "", nil, func(cp string) error {
		out = append(out, strings.TrimSuffix(strings.TrimPrefix(cp, p), "/"))
		return nil
	})
	slices.Sort(out)
	return out, err
}

// listAll pages through ListObjectsV2.
func listAll(ctx context.Context, c S3Lister, bucket, prefix, delim, startAfter string, obj func(key string, size int64) error, common func(string) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if delim != "" {
		in.Delimiter = aws.String(delim)
	}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		if obj != nil {
			for _, o := range out.Contents {
				if err := obj(aws.ToString(o.Key), aws.ToInt64(o.Size)); err != nil {
					return err
				}
			}
		}
		if common != nil {
			for _, p := range out.CommonPrefixes {
				if err := common(aws.ToString(p.Prefix)); err != nil {
					return err
				}
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

package source

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"rootwatch/internal/cloudtrail"
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

// Position orders a backfill: by day, then account folder ("[o-id/]account"),
// then region, then key. Everything at or before a checkpointed Position is done.
type Position struct {
	Day     string `json:"day"`     // YYYY/MM/DD
	Account string `json:"account"` // [o-id/]account
	Region  string `json:"region"`
	Key     string `json:"key"` // last key done in that folder; "" for none
}

// folder compares the (day, account, region) part.
func (p Position) folder() [3]string { return [3]string{p.Day, p.Account, p.Region} }

func cmpFolder(a, b [3]string) int {
	for i := range a {
		if c := strings.Compare(a[i], b[i]); c != 0 {
			return c
		}
	}
	return 0
}

// Listed is one object found by Walk.
type Listed struct {
	Object Object
	Pos    Position
}

// Walk lists the backfill's objects in Position order, strictly after
// after (zero: from the start), calling fn for each. It lists one day
// folder at a time (StartAfter for the resumed one), so neither time nor
// memory grows with the rest of the bucket. Digest and non-log files are
// not passed on.
func (b Backfill) Walk(ctx context.Context, c S3Lister, after Position, fn func(Listed) error) error {
	accounts, err := b.accountFolders(ctx, c)
	if err != nil {
		return err
	}
	regions := map[string][]string{}
	for _, a := range accounts {
		if regions[a], err = b.regionsOf(ctx, c, a); err != nil {
			return err
		}
	}
	for day := b.From; !day.After(b.To); day = day.AddDate(0, 0, 1) {
		d := day.Format("2006/01/02")
		for _, a := range accounts {
			for _, r := range regions[a] {
				f := [3]string{d, a, r}
				start := ""
				switch c := cmpFolder(f, after.folder()); {
				case after.Day != "" && c < 0:
					continue
				case after.Day != "" && c == 0:
					start = after.Key
				}
				prefix := b.Folder(Position{Day: d, Account: a, Region: r})
				err := listAll(ctx, c, b.Bucket, prefix, "", start, func(key string, size int64) error {
					if cloudtrail.IsDigest(key) || strings.HasSuffix(key, "/") {
						return nil
					}
					return fn(Listed{Object: Object{Bucket: b.Bucket, Key: key, Size: size}, Pos: Position{Day: d, Account: a, Region: r, Key: key}})
				}, nil)
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

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

// ErrStop may be returned by a Walk callback to end the walk early without error.
var ErrStop = errors.New("stop walk")

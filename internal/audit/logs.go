package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/scan"
)

// Tracker keeps the last root use per account seen in CloudTrail findings:
// the backfill answer for accounts whose credential report cannot be
// reached. It is safe for concurrent use.
type Tracker struct {
	mu     sync.Mutex
	last   map[string]Use
	seen   map[string]bool
	errs   map[string][]string // account ("" when unknown) -> read errors
	failed map[string]int      // failed root console sign-ins per account
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{last: map[string]Use{}, seen: map[string]bool{}, errs: map[string][]string{}, failed: map[string]int{}}
}

// Observe records one root-activity finding. A failed console sign-in is
// counted but is not a use: it proves someone tried the password, not that
// they had it. Every other finding (including denied API calls, which were
// signed with root credentials) is a use.
func (t *Tracker) Observe(f match.Finding) {
	if f.AccountID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seen[f.AccountID] = true
	if f.Category == match.CategoryConsoleLoginFailed {
		t.failed[f.AccountID]++
		return
	}
	u := Use{Credential: "api", Time: f.EventTime.UTC(), EventName: f.EventName, EventID: f.EventID}
	switch {
	case f.AssumedRoot:
		u.Credential = "assumed-root"
	case f.Category == match.CategoryConsoleLogin:
		u.Credential = "console-login"
	}
	if prev, ok := t.last[f.AccountID]; !ok || u.Time.After(prev.Time) {
		t.last[f.AccountID] = u
	}
}

// SawAccount records that logs of account were read, so an account with
// no root activity is reported as such rather than left out.
func (t *Tracker) SawAccount(account string) {
	if account == "" {
		return
	}
	t.mu.Lock()
	t.seen[account] = true
	t.mu.Unlock()
}

// ReadError records a log file that could not be read completely. The
// account comes from the key's AWSLogs layout when it has one.
func (t *Tracker) ReadError(key string, err error) {
	acct := ""
	if k, ok := cloudtrail.ParseKey(filepath.ToSlash(key)); ok {
		acct = k.Account
	}
	t.mu.Lock()
	t.errs[acct] = append(t.errs[acct], fmt.Sprintf("%s: %v", key, err))
	t.mu.Unlock()
}

// Results judges every account seen, as of now. Only the root_used check
// can be answered from logs; the others are unknown. An account with
// unreadable log files and no root use in the window is an error (the
// missing files could hold the use); root use found is a failure whatever
// else could not be read. Unreadable files of no known account make one
// result with an empty account id.
func (t *Tracker) Results(now time.Time, days int) []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	now = now.UTC()
	accts := make([]string, 0, len(t.seen))
	for a := range t.seen {
		accts = append(accts, a)
	}
	for a := range t.errs {
		if a != "" && !t.seen[a] {
			accts = append(accts, a)
		}
	}
	sort.Strings(accts)
	unknown := func(name string) Check {
		return Check{Name: name, Status: StatusUnknown, Detail: "not recorded in CloudTrail logs"}
	}
	var out []Result
	for _, a := range accts {
		r := Result{AccountID: a, Source: "cloudtrail", Days: days, AuditedAt: now}
		if u, ok := t.last[a]; ok {
			u := u
			r.LastUsed = &u
		}
		used := usedCheck(r.LastUsed, now, days)
		if n := t.failed[a]; n > 0 {
			used.Detail += fmt.Sprintf("; %d failed root sign-in(s) seen", n)
		}
		r.Checks = []Check{used, unknown(CheckAccessKeys), unknown(CheckSigningCert), unknown(CheckMFA)}
		if errs := t.errs[a]; len(errs) > 0 && used.Status != StatusFail {
			r.Error = fmt.Sprintf("%d log file(s) could not be read, first: %s", len(errs), errs[0])
		}
		r.finish(now)
		out = append(out, r)
	}
	if errs := t.errs[""]; len(errs) > 0 {
		out = append(out, Result{Source: "cloudtrail", Status: StatusError, Days: days, AuditedAt: now,
			Error: fmt.Sprintf("%d log file(s) of unknown account could not be read, first: %s", len(errs), errs[0])})
	}
	return out
}

// ScanLocal reads local CloudTrail files (files or folders) into t with the
// offline scan. Accounts are known from findings and from paths in the
// AWSLogs layout.
func ScanLocal(ctx context.Context, paths []string, t *Tracker, opts cloudtrail.Options, log *slog.Logger) error {
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if k, ok := cloudtrail.ParseKey(filepath.ToSlash(path)); ok && k.Kind == cloudtrail.KindLog {
					t.SawAccount(k.Account)
				}
			}
			return nil // unreadable entries are the scan's to report
		})
	}
	sum, err := scan.Run(ctx, scan.Options{Paths: paths, Reader: opts, OnFinding: t.Observe, Logger: log})
	if err != nil {
		return fmt.Errorf("scan %s: %w", strings.Join(paths, ", "), err)
	}
	for _, fe := range sum.Errors {
		t.ReadError(fe.Path, fe.Err)
	}
	return nil
}

// S3API is the part of the S3 client the backfill uses.
type S3API interface {
	s3.ListObjectsV2APIClient
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ScanS3 lists s3://bucket/prefix and reads every CloudTrail log file in it
// (digest and insight files are skipped) into t, workers objects at a time.
// One object's failure is recorded in t and does not stop the others; the
// error is for a listing that fails.
func ScanS3(ctx context.Context, api S3API, bucket, prefix string, workers int, t *Tracker, opts cloudtrail.Options, log *slog.Logger) error {
	if workers <= 0 {
		workers = 4
	}
	keys := make(chan string)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for key := range keys {
				if err := readObject(ctx, api, bucket, key, t, opts); err != nil {
					t.ReadError(key, err)
					if log != nil {
						log.Warn("log file not read", "bucket", bucket, "key", key, "err", err)
					}
				}
			}
		}()
	}
	var listErr error
	p := s3.NewListObjectsV2Paginator(api, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
list:
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			listErr = fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
			break
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if strings.HasSuffix(key, "/") || cloudtrail.IsDigest(key) {
				continue
			}
			if k, ok := cloudtrail.ParseKey(key); ok {
				if k.Kind != cloudtrail.KindLog {
					continue
				}
				t.SawAccount(k.Account)
			}
			select {
			case keys <- key:
			case <-ctx.Done():
				listErr = ctx.Err()
				break list
			}
		}
	}
	close(keys)
	wg.Wait()
	return listErr
}

// readObject reads one log file through ingest's S3 opener, so a hung read
// is abandoned (pipeline.DefaultS3IdleTimeout) instead of stalling the audit.
func readObject(ctx context.Context, api S3API, bucket, key string, t *Tracker, opts cloudtrail.Options) error {
	body, err := pipeline.S3Opener{Client: api}.Open(bucket, key)(ctx)
	if err != nil {
		return err
	}
	defer body.Close()
	r, err := cloudtrail.NewReader(body, opts)
	if err != nil {
		return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	defer r.Close()
	ref := match.ObjectRef{Bucket: bucket, Key: key}
	now := time.Now().UTC()
	for {
		raw, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
		}
		if f, ok := match.Find(raw, ref, now); ok {
			t.Observe(f)
		}
	}
}

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(u string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found || rest == "" {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, bucket != ""
}

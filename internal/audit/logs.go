package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/match"
	"rootwatch/internal/pipeline"
	"rootwatch/internal/sink"
	"rootwatch/internal/source"
)

// Tracker keeps the last root use per account seen in CloudTrail findings
// (the backfill answer for accounts whose credential report cannot be
// reached) and the centralised-root sessions of each account with who
// opened them. It is safe for concurrent use.
type Tracker struct {
	mu       sync.Mutex
	last     map[string]Use
	seen     map[string]bool
	errs     map[string][]string     // account ("" when unknown) -> read errors
	failed   map[string]int          // failed root console sign-ins per account
	sessions map[string]*RootSession // access key id (or failed/<eventID>) -> session
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{last: map[string]Use{}, seen: map[string]bool{}, errs: map[string][]string{}, failed: map[string]int{},
		sessions: map[string]*RootSession{}}
}

// Observe records one finding. A failed console sign-in is counted but is
// not a use: it proves someone tried the password, not that they had it.
// Every other root-activity finding (including denied API calls, which
// were signed with root credentials) is a use. An sts:AssumeRoot call
// (rule root-session-issued) is never a use: it names who opened a
// session, and the session's actions in the member account are the uses.
func (t *Tracker) Observe(f match.Finding) {
	if f.AccountID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sessionOf(&f)
	if f.Rule != match.RuleCISRoot && f.Rule != "" {
		return
	}
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
// result with an empty account id. Each account's centralised-root
// sessions in the window are listed with it; an account a session was
// opened for whose own logs were not read is an error (the session's
// actions are in those logs).
func (t *Tracker) Results(now time.Time, days int) []Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	now = now.UTC()
	sessions := t.sessionsIn(now.Add(-time.Duration(days) * 24 * time.Hour))
	accts := make([]string, 0, len(t.seen))
	for a := range t.seen {
		accts = append(accts, a)
	}
	for a := range t.errs {
		if a != "" && !t.seen[a] {
			accts = append(accts, a)
		}
	}
	for a, ss := range sessions {
		if a != "" && !t.seen[a] && len(t.errs[a]) == 0 && slices.ContainsFunc(ss, func(s RootSession) bool { return s.Status == SessionIssued }) {
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
		r.Sessions = sessions[a]
		if !t.seen[a] && len(t.errs[a]) == 0 {
			r.Error = fmt.Sprintf("no log file of this account was read, but %d centralised root session(s) were opened for it in the window "+
				"(the sessions' actions are in its logs)", len(r.Sessions))
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

// ScanLocal reads local CloudTrail files (files or folders) into t through
// the ingest pipeline's object reader. Accounts are known from findings and
// from paths in the AWSLogs layout; a file that cannot be read is recorded
// in t and does not stop the others. The error is for a path that does not
// exist and for cancellation.
func ScanLocal(ctx context.Context, paths []string, t *Tracker, opts cloudtrail.Options, log *slog.Logger) error {
	local := pipeline.LocalFiles(paths)
	err := scanLogs(ctx, "file", runtime.NumCPU(), t, opts, log, func(ctx context.Context, read func(pipeline.Object) error, skip func(name, reason string)) error {
		return local(ctx, func(o pipeline.Object) error {
			if why := t.sawLogFile(filepath.ToSlash(o.Ref.Key)); why != "" {
				skip(o.Ref.Key, why)
				return nil
			}
			return read(o)
		}, skip)
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", strings.Join(paths, ", "), err)
	}
	return nil
}

// S3API is the part of the S3 client the audit of logs in S3 uses.
type S3API = source.S3Client

// ScanS3 lists s3://bucket/prefix and reads every CloudTrail log file in it
// (digest and insight files are skipped) into t, workers objects at a time,
// through the ingest pipeline's object reader and S3 opener (a hung read is
// abandoned after source.DefaultS3IdleTimeout instead of stalling the
// audit). One object's failure is recorded in t and does not stop the
// others; the error is for a listing that fails.
func ScanS3(ctx context.Context, api S3API, bucket, prefix string, workers int, t *Tracker, opts cloudtrail.Options, log *slog.Logger) error {
	opener := source.S3Opener{Client: api}
	return scanLogs(ctx, "s3", workers, t, opts, log, func(ctx context.Context, read func(pipeline.Object) error, skip func(name, reason string)) error {
		return source.ListPrefix(ctx, api, bucket, prefix, func(o source.Object) error {
			if why := t.sawLogFile(o.Key); why != "" {
				skip(o.String(), why)
				return nil
			}
			return read(pipeline.Object{Ref: match.ObjectRef{Bucket: o.Bucket, Key: o.Key}, Open: opener.Open(o.Bucket, o.Key)})
		})
	})
}

// sawLogFile says why the file at key is not read ("digest", "insight":
// neither holds API calls), or records its account (AWSLogs layout) as
// seen and returns "".
func (t *Tracker) sawLogFile(key string) (skip string) {
	switch {
	case cloudtrail.IsDigest(key):
		return "digest"
	case cloudtrail.IsInsight(key):
		return "insight"
	}
	if k, ok := cloudtrail.ParseKey(key); ok {
		t.SawAccount(k.Account)
	}
	return ""
}

// scanLogs reads what list names into t with the pipeline, and records
// every object that could not be read.
func scanLogs(ctx context.Context, from string, workers int, t *Tracker, opts cloudtrail.Options, log *slog.Logger, list pipeline.Lister) error {
	sum, err := pipeline.RunList(ctx, pipeline.ListRun{Source: from, List: list,
		Common: pipeline.Common{Sink: trackerSink{t}, Reader: opts, Logger: log, Workers: workers}})
	for _, r := range sum.Failed {
		t.ReadError(pipeline.Name(r.Ref), pipeline.Cause(r.Err))
	}
	return err
}

// trackerSink is the sink of the audit's pipeline: findings go to the
// Tracker; records are not built, and failures are taken from the run's
// summary rather than from dead letters.
type trackerSink struct{ t *Tracker }

func (s trackerSink) Write(_ context.Context, topic sink.Topic, msgs []sink.Message, ack sink.Acker) error {
	var err error
	if topic == sink.TopicFindings {
		for i := range msgs {
			var f match.Finding
			if e := json.Unmarshal(msgs[i].Value, &f); e != nil {
				err = fmt.Errorf("decode finding: %w", e)
				continue
			}
			s.t.Observe(f)
		}
	}
	if ack != nil && len(msgs) > 0 {
		ack.Ack(len(msgs), err)
	}
	return nil
}

func (trackerSink) WantsRecords() bool { return false }
func (trackerSink) Close() error       { return nil }

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(u string) (bucket, prefix string, ok bool) {
	rest, found := strings.CutPrefix(u, "s3://")
	if !found || rest == "" {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, bucket != ""
}

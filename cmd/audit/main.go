// Command audit answers "was the root user used in the last N days?" for
// one AWS account or every account of an AWS Organization, from the IAM
// credential report, or from historic CloudTrail logs (--from-logs) where
// the report cannot be reached. See docs/audit.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"rootwatch/internal/audit"
	"rootwatch/internal/channel"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/config"
)

const envPrefix = "ROOTWATCH_AUDIT_"

const usageText = `Usage: audit [flags]

Answers "was the AWS account root user used in the last N days?" per account,
and checks that root has no active access keys or signing certificates and
has MFA. Reads the IAM credential report (GenerateCredentialReport, then
GetCredentialReport) with the caller's credentials; with --org, lists the
organisation's ACTIVE accounts and assumes --role-name in each member.
With --from-logs, answers from CloudTrail log files instead (local files or
s3://bucket/prefix); only the "root used" check can be answered that way.

Exit status: 0 every account passed; 1 some account failed a check;
2 some account could not be audited, or the command could not run.

Every flag can also be set with the environment variable
ROOTWATCH_AUDIT_<FLAG> (upper case, '-' as '_') or a key in --config
(the flag name with '-' as '_'). Precedence: flag > environment > config file > default.
AWS credentials and region come from the SDK's usual sources
(AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance roles); they are never flags.

Flags:
`

// options are the parsed flags.
type options struct {
	days          int
	org           bool
	roleName      string
	externalID    string
	concurrency   int
	format        string
	region        string
	endpointURL   string
	s3EndpointURL string
	fromLogs      string
	notifyConfig  string
	pollInterval  time.Duration
	pollTimeout   time.Duration
	configPath    string
	logLevel      string
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.days, "days", 7, "window: root use at or after now minus this many days fails the root_used check")
	fs.BoolVar(&o.org, "org", false, "audit every ACTIVE account of the organisation (run with management or delegated-admin credentials)")
	fs.StringVar(&o.roleName, "role-name", "OrganizationAccountAccessRole", "role assumed in each member account with --org (a path may be included)")
	fs.StringVar(&o.externalID, "external-id", "", "external id passed to sts:AssumeRole (prefer ROOTWATCH_AUDIT_EXTERNAL_ID)")
	fs.IntVar(&o.concurrency, "concurrency", 4, "accounts (or S3 objects with --from-logs) audited at once")
	fs.StringVar(&o.format, "format", "", "output: table, json or csv (default: table on a terminal, json otherwise)")
	fs.StringVar(&o.region, "region", "", "AWS region for STS and S3 (default: the SDK's, then us-east-1)")
	fs.StringVar(&o.endpointURL, "endpoint-url", "", "override the IAM, STS and Organizations endpoint (tests, proxies)")
	fs.StringVar(&o.s3EndpointURL, "s3-endpoint-url", "", "override the S3 endpoint for --from-logs s3:// (path-style)")
	fs.StringVar(&o.fromLogs, "from-logs", "", "answer from CloudTrail logs: a local file or folder, or s3://bucket/prefix")
	fs.StringVar(&o.notifyConfig, "notify-config", "", "YAML file with a channels list (alert config format): one notification per failing account")
	fs.DurationVar(&o.pollInterval, "poll-interval", 2*time.Second, "wait between GenerateCredentialReport polls")
	fs.DurationVar(&o.pollTimeout, "poll-timeout", 2*time.Minute, "give up on an account's credential report after this long")
	fs.StringVar(&o.configPath, "config", "", "YAML config file (keys: the flag names with '-' as '_')")
	fs.StringVar(&o.logLevel, "log-level", "warn", "log level on stderr: debug, info, warn, error")
	// The flag package prints a parse error itself; run adds a hint.
	fs.Usage = func() {}
	return fs
}

// env is how run reads the environment (tests pass a map).
type env func(string) (string, bool)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := false
	if fi, err := os.Stdout.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		tty = true
	}
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr, tty))
}

// run is the command; it returns the exit status.
func run(ctx context.Context, args []string, lookup env, stdout, stderr io.Writer, tty bool) int {
	var o options
	fs := newFlagSet(&o, stderr)
	if code, ok := config.Parse(fs, args, usageText, stdout, stderr); !ok {
		return code
	}
	if err := applyEnvAndConfig(fs, lookup); err != nil {
		fmt.Fprintf(stderr, "audit: %v\n", err)
		return 2
	}
	log, err := newLogger(o.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "audit: %v\n", err)
		return 2
	}
	if o.days < 0 {
		fmt.Fprintln(stderr, "audit: --days must be 0 or more")
		return 2
	}
	format := audit.FormatJSON
	if tty {
		format = audit.FormatTable
	}
	if o.format != "" {
		if format, err = audit.ParseFormat(o.format); err != nil {
			fmt.Fprintf(stderr, "audit: --format: %v\n", err)
			return 2
		}
	}
	// Build channels before auditing, so a bad notify config fails fast.
	var chans []channel.Channel
	if o.notifyConfig != "" {
		if chans, err = audit.LoadChannels(o.notifyConfig, channel.Deps{Logger: log, Stdout: stderr}); err != nil {
			fmt.Fprintf(stderr, "audit: %v\n", err)
			return 2
		}
	}

	now := time.Now().UTC()
	var results []audit.Result
	if o.fromLogs != "" {
		results, err = fromLogs(ctx, o, now, log)
	} else {
		results, err = fromIAM(ctx, o, now, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "audit: %v\n", err)
		return 2
	}
	if err := audit.Write(stdout, format, o.days, now, results); err != nil {
		fmt.Fprintf(stderr, "audit: write output: %v\n", err)
		return 2
	}
	code := audit.ExitCode(results)
	if len(chans) > 0 {
		sent, err := audit.Notify(ctx, chans, results, audit.DefaultNotifyPolicy)
		log.Info("notifications sent", "count", sent)
		if err != nil {
			fmt.Fprintf(stderr, "audit: %v\n", err)
			code = 2
		}
	}
	return code
}

// applyEnvAndConfig fills flags not given on the command line from the
// environment, then from the config file.
func applyEnvAndConfig(fs *flag.FlagSet, lookup env) error {
	if err := config.ApplyEnv(fs, envPrefix, lookup); err != nil {
		return err
	}
	path := fs.Lookup("config").Value.String()
	if path == "" {
		return nil
	}
	explicit := config.Explicit(fs)
	var file map[string]any
	if err := config.Load(path, &file); err != nil {
		return err
	}
	keys := make([]string, 0, len(file))
	for k := range file {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return fmt.Errorf("config %s: unknown key %q", path, k)
		}
		if explicit[name] {
			continue
		}
		v := file[k]
		switch v.(type) {
		case map[string]any, []any:
			return fmt.Errorf("config %s: key %q must be a single value", path, k)
		}
		if err := fs.Set(name, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("config %s: key %q: %v", path, k, err)
		}
	}
	return nil
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %v", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

func fromIAM(ctx context.Context, o options, now time.Time, log *slog.Logger) ([]audit.Result, error) {
	c, err := audit.NewClients(ctx, audit.ClientOptions{Region: o.region, EndpointURL: o.endpointURL})
	if err != nil {
		return nil, err
	}
	caller, err := audit.WhoAmI(ctx, c.STS)
	if err != nil {
		return nil, err
	}
	accounts := []audit.Account{{ID: caller.Account}}
	if o.org {
		if accounts, err = audit.ListActiveAccounts(ctx, c.Org); err != nil {
			return nil, err
		}
		log.Info("organisation accounts", "active", len(accounts))
	}
	a := &audit.Auditor{
		Days: o.days, Now: func() time.Time { return now },
		Poll:        audit.PollOptions{Interval: o.pollInterval, Timeout: o.pollTimeout},
		Concurrency: o.concurrency, RoleName: o.roleName, ExternalID: o.externalID,
		STS: c.STS, CallerIAM: c.IAM, IAMFor: c.IAMFor, Logger: log,
	}
	return a.AuditAccounts(ctx, caller, accounts), nil
}

func fromLogs(ctx context.Context, o options, now time.Time, log *slog.Logger) ([]audit.Result, error) {
	t := audit.NewTracker()
	if strings.HasPrefix(o.fromLogs, "s3://") {
		bucket, prefix, ok := audit.ParseS3URL(o.fromLogs)
		if !ok {
			return nil, fmt.Errorf("--from-logs %q: want s3://bucket/prefix", o.fromLogs)
		}
		c, err := audit.NewClients(ctx, audit.ClientOptions{Region: o.region, S3EndpointURL: o.s3EndpointURL})
		if err != nil {
			return nil, err
		}
		if err := audit.ScanS3(ctx, c.S3, bucket, prefix, o.concurrency, t, cloudtrail.Options{}, log); err != nil {
			return nil, err
		}
	} else {
		if _, err := os.Stat(o.fromLogs); err != nil {
			return nil, fmt.Errorf("--from-logs: %w", err)
		}
		if err := audit.ScanLocal(ctx, []string{o.fromLogs}, t, cloudtrail.Options{}, log); err != nil {
			return nil, err
		}
	}
	rs := t.Results(now, o.days)
	if len(rs) == 0 {
		return nil, fmt.Errorf("--from-logs %s: no account seen (no root activity and no files in the AWSLogs/<account>/CloudTrail/ layout)", o.fromLogs)
	}
	return rs, nil
}

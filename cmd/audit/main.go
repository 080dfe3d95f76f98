// Command audit answers "was the root user used in the last N days?" for
// one AWS account or every account of an AWS Organization, from the IAM
// credential report, or from historic CloudTrail logs (--from-logs) where
// the report cannot be reached. See docs/audit.md.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"rootwatch/internal/audit"
	"rootwatch/internal/channel"
	"rootwatch/internal/cli"
	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/config"
)

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

AWS credentials and region come from the SDK's usual sources
(AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, instance roles); they are never flags.`

// settings are audit's settings; the config file decodes into them (the
// yaml tags are the keys) and command declares a flag for each.
type settings struct {
	Days          int           `yaml:"days"`
	Org           bool          `yaml:"org"`
	RoleName      string        `yaml:"role_name"`
	ExternalID    string        `yaml:"external_id"`
	Concurrency   int           `yaml:"concurrency"`
	Format        string        `yaml:"format"`
	Region        string        `yaml:"region"`
	EndpointURL   string        `yaml:"endpoint_url"`
	S3EndpointURL string        `yaml:"s3_endpoint_url"`
	FromLogs      string        `yaml:"from_logs"`
	NotifyConfig  string        `yaml:"notify_config"`
	PollInterval  time.Duration `yaml:"poll_interval"`
	PollTimeout   time.Duration `yaml:"poll_timeout"`
	LogLevel      string        `yaml:"log_level"`
	LogFormat     string        `yaml:"log_format"`
}

// command declares every audit setting once (internal/cli).
func command(o *settings) *cli.Command {
	c := &cli.Command{Name: "audit", Usage: usageText, Env: true, File: o}
	c.Int(&o.Days, "days", 7, "window: root use at or after now minus this many days fails the root_used check")
	c.Bool(&o.Org, "org", "audit every ACTIVE account of the organisation (run with management or delegated-admin credentials)")
	c.String(&o.RoleName, "role-name", "OrganizationAccountAccessRole", "role assumed in each member account with --org (a path may be included)")
	c.String(&o.ExternalID, "external-id", "", "external id passed to sts:AssumeRole (prefer ROOTWATCH_AUDIT_EXTERNAL_ID)")
	c.Int(&o.Concurrency, "concurrency", 4, "accounts (or S3 objects with --from-logs) audited at once")
	c.Enum(&o.Format, "format", "auto", []string{"auto", "table", "json", "csv"}, "output; auto: table on a terminal, json otherwise")
	c.String(&o.Region, "region", "", "AWS region for STS and S3 (default: the SDK's, then us-east-1)")
	c.String(&o.EndpointURL, "endpoint-url", "", "override the IAM, STS and Organizations endpoint (tests, proxies)")
	c.String(&o.S3EndpointURL, "s3-endpoint-url", "", "override the S3 endpoint for --from-logs s3:// (path-style)")
	c.String(&o.FromLogs, "from-logs", "", "answer from CloudTrail logs: a local file or folder, or s3://bucket/prefix")
	c.String(&o.NotifyConfig, "notify-config", "", "YAML file with a channels list (alert config format): one notification per failing account")
	c.Duration(&o.PollInterval, "poll-interval", 2*time.Second, "wait between GenerateCredentialReport polls")
	c.Duration(&o.PollTimeout, "poll-timeout", 2*time.Minute, "give up on an account's credential report after this long")
	c.Logging(&o.LogLevel, &o.LogFormat, "warn")
	return c
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
	var o settings
	cmd := command(&o)
	if code, ok := cmd.Parse(args, lookup, stdout, stderr); !ok {
		return code
	}
	if o.Days < 0 {
		return cmd.Fail(stderr, cmd.Explain(config.KeyErrorf("days", "must be 0 or more")))
	}
	log := cmd.Logger(stderr)
	var err error
	format := audit.FormatJSON
	if o.Format == "auto" && tty {
		format = audit.FormatTable
	}
	if o.Format != "auto" {
		if format, err = audit.ParseFormat(o.Format); err != nil {
			return cmd.Fail(stderr, fmt.Errorf("--format: %w", err))
		}
	}
	// Build channels before auditing, so a bad notify config fails fast.
	var chans []channel.Channel
	if o.NotifyConfig != "" {
		if chans, err = audit.LoadChannels(o.NotifyConfig, channel.Deps{Logger: log, Stdout: stderr}); err != nil {
			return cmd.Fail(stderr, err)
		}
	}

	now := time.Now().UTC()
	var results []audit.Result
	if o.FromLogs != "" {
		results, err = fromLogs(ctx, o, now, log)
	} else {
		results, err = fromIAM(ctx, o, now, log)
	}
	if err != nil {
		fmt.Fprintf(stderr, "audit: %v\n", err)
		return 2
	}
	if err := audit.Write(stdout, format, o.Days, now, results); err != nil {
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

func fromIAM(ctx context.Context, o settings, now time.Time, log *slog.Logger) ([]audit.Result, error) {
	c, err := audit.NewClients(ctx, audit.ClientOptions{Region: o.Region, EndpointURL: o.EndpointURL})
	if err != nil {
		return nil, err
	}
	caller, err := audit.WhoAmI(ctx, c.STS)
	if err != nil {
		return nil, err
	}
	accounts := []audit.Account{{ID: caller.Account}}
	if o.Org {
		if accounts, err = audit.ListActiveAccounts(ctx, c.Org); err != nil {
			return nil, err
		}
		log.Info("organisation accounts", "active", len(accounts))
	}
	a := &audit.Auditor{
		Days: o.Days, Now: func() time.Time { return now },
		Poll:        audit.PollOptions{Interval: o.PollInterval, Timeout: o.PollTimeout},
		Concurrency: o.Concurrency, RoleName: o.RoleName, ExternalID: o.ExternalID,
		STS: c.STS, CallerIAM: c.IAM, IAMFor: c.IAMFor, Logger: log,
	}
	return a.AuditAccounts(ctx, caller, accounts), nil
}

func fromLogs(ctx context.Context, o settings, now time.Time, log *slog.Logger) ([]audit.Result, error) {
	t := audit.NewTracker()
	if strings.HasPrefix(o.FromLogs, "s3://") {
		bucket, prefix, ok := audit.ParseS3URL(o.FromLogs)
		if !ok {
			return nil, fmt.Errorf("--from-logs %q: want s3://bucket/prefix", o.FromLogs)
		}
		c, err := audit.NewClients(ctx, audit.ClientOptions{Region: o.Region, S3EndpointURL: o.S3EndpointURL})
		if err != nil {
			return nil, err
		}
		if err := audit.ScanS3(ctx, c.S3, bucket, prefix, o.Concurrency, t, cloudtrail.Options{}, log); err != nil {
			return nil, err
		}
	} else {
		if _, err := os.Stat(o.FromLogs); err != nil {
			return nil, fmt.Errorf("--from-logs: %w", err)
		}
		if err := audit.ScanLocal(ctx, []string{o.FromLogs}, t, cloudtrail.Options{}, log); err != nil {
			return nil, err
		}
	}
	rs := t.Results(now, o.Days)
	if len(rs) == 0 {
		return nil, fmt.Errorf("--from-logs %s: no account seen (no root activity and no files in the AWSLogs/<account>/CloudTrail/ layout)", o.FromLogs)
	}
	return rs, nil
}

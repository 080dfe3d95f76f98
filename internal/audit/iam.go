package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

// IAMAPI is the part of the IAM client the audit uses, so one account's
// client can be built from assumed-role credentials.
type IAMAPI interface {
	GenerateCredentialReport(ctx context.Context, in *iam.GenerateCredentialReportInput, opts ...func(*iam.Options)) (*iam.GenerateCredentialReportOutput, error)
	GetCredentialReport(ctx context.Context, in *iam.GetCredentialReportInput, opts ...func(*iam.Options)) (*iam.GetCredentialReportOutput, error)
}

// PollOptions bound how long the audit waits for IAM to build a report.
type PollOptions struct {
	// Interval between GenerateCredentialReport calls; 0 means 2s.
	Interval time.Duration
	// Timeout for the whole wait; 0 means 2 minutes. IAM usually needs
	// seconds; a large account may need longer.
	Timeout time.Duration
}

func (p PollOptions) withDefaults() PollOptions {
	if p.Interval <= 0 {
		p.Interval = 2 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 2 * time.Minute
	}
	return p
}

// FetchReport asks IAM to generate the credential report (IAM reuses one
// generated in the last four hours), polls GenerateCredentialReport until
// its state is COMPLETE, then downloads it. The SDK decodes the base64
// Content; the returned bytes are the CSV.
func FetchReport(ctx context.Context, api IAMAPI, p PollOptions) ([]byte, time.Time, error) {
	p = p.withDefaults()
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	for {
		gen, err := api.GenerateCredentialReport(ctx, &iam.GenerateCredentialReportInput{})
		if err != nil {
			return nil, time.Time{}, waitErr(ctx, p, awsCall("iam GenerateCredentialReport", err))
		}
		if gen.State == iamtypes.ReportStateTypeComplete {
			out, err := api.GetCredentialReport(ctx, &iam.GetCredentialReportInput{})
			var notReady *iamtypes.CredentialReportNotReadyException
			var expired *iamtypes.CredentialReportExpiredException
			var absent *iamtypes.CredentialReportNotPresentException
			switch {
			case err == nil:
				if out.ReportFormat != "" && out.ReportFormat != iamtypes.ReportFormatTypeTextCsv {
					return nil, time.Time{}, fmt.Errorf("iam GetCredentialReport: unexpected report format %q", out.ReportFormat)
				}
				var gt time.Time
				if out.GeneratedTime != nil {
					gt = out.GeneratedTime.UTC()
				}
				return out.Content, gt, nil
			case errors.As(err, &notReady), errors.As(err, &expired), errors.As(err, &absent):
				// Raced with a regeneration: generate and poll again.
			default:
				return nil, time.Time{}, waitErr(ctx, p, awsCall("iam GetCredentialReport", err))
			}
		}
		t := time.NewTimer(p.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, time.Time{}, waitErr(ctx, p, fmt.Errorf("credential report still %s", gen.State))
		case <-t.C:
		}
	}
}

// waitErr names the poll timeout when it, rather than the call, ended the wait.
func waitErr(ctx context.Context, p PollOptions, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("credential report not ready within %s: %w", p.Timeout, err)
	}
	return err
}

// AuditIAM fetches, parses and judges one account's credential report.
// account is the expected account id; when the report's root ARN names
// another account, that is an error (wrong role or credentials).
func AuditIAM(ctx context.Context, api IAMAPI, account string, now time.Time, days int, p PollOptions) Result {
	b, _, err := FetchReport(ctx, api, p)
	if err != nil {
		return ErrorResult(account, "", "credential-report", days, now, err)
	}
	rc, err := ParseReport(b)
	if err != nil {
		return ErrorResult(account, "", "credential-report", days, now, err)
	}
	if account != "" && rc.AccountID != "" && rc.AccountID != account {
		return ErrorResult(account, "", "credential-report", days, now,
			fmt.Errorf("credential report is for account %s, not %s", rc.AccountID, account))
	}
	res := Judge(rc, now, days)
	if res.AccountID == "" {
		res.AccountID = account
	}
	return res
}

// callError is an AWS call that failed, worded for a person: the call, the
// service's error code and message, without the SDK's transport detail.
// It unwraps to the SDK error.
type callError struct {
	call string
	err  error
}

func (e *callError) Error() string {
	var api smithy.APIError
	if errors.As(e.err, &api) {
		return fmt.Sprintf("%s: %s: %s", e.call, api.ErrorCode(), api.ErrorMessage())
	}
	return fmt.Sprintf("%s: %v", e.call, e.err)
}

func (e *callError) Unwrap() error { return e.err }

// awsCall wraps err from an AWS call named call ("iam GetCredentialReport").
func awsCall(call string, err error) error { return &callError{call: call, err: err} }

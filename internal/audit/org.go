package audit

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// OrgAPI is the part of the Organizations client the audit uses.
type OrgAPI interface {
	ListAccounts(ctx context.Context, in *organizations.ListAccountsInput, opts ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// STSAPI is the part of the STS client the audit uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, opts ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Account is one member of an organisation.
type Account struct {
	ID   string
	Name string
}

// ListActiveAccounts pages through Organizations ListAccounts and keeps the
// ACTIVE accounts (suspended and closing accounts cannot be signed in to).
func ListActiveAccounts(ctx context.Context, api OrgAPI) ([]Account, error) {
	var out []Account
	p := organizations.NewListAccountsPaginator(api, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, awsCall("organizations ListAccounts", err)
		}
		for _, a := range page.Accounts {
			active := a.State == orgtypes.AccountStateActive ||
				(a.State == "" && a.Status == orgtypes.AccountStatusActive)
			if active {
				out = append(out, Account{ID: aws.ToString(a.Id), Name: aws.ToString(a.Name)})
			}
		}
	}
	return out, nil
}

// Caller is who the audit runs as.
type Caller struct {
	Account   string
	Partition string // aws, aws-cn, aws-us-gov
}

// WhoAmI asks STS for the caller's account (needs no permission).
func WhoAmI(ctx context.Context, api STSAPI) (Caller, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Caller{}, awsCall("sts GetCallerIdentity", err)
	}
	c := Caller{Account: aws.ToString(out.Account), Partition: "aws"}
	if parts := strings.SplitN(aws.ToString(out.Arn), ":", 3); len(parts) == 3 && parts[1] != "" {
		c.Partition = parts[1]
	}
	return c, nil
}

// Auditor audits accounts from IAM credential reports, assuming a role in
// each member account.
type Auditor struct {
	Days int
	Now  func() time.Time
	Poll PollOptions
	// Concurrency bounds accounts audited at once; 0 means 4.
	Concurrency int
	// RoleName is the role assumed in member accounts (a path may be
	// included, e.g. "audit/RootAudit").
	RoleName string
	// ExternalID, when set, is passed to AssumeRole.
	ExternalID string
	// SessionName names the assumed-role sessions in CloudTrail; "" means rootwatch-audit.
	SessionName string
	STS         STSAPI
	// CallerIAM is IAM with the caller's own credentials.
	CallerIAM IAMAPI
	// IAMFor builds an IAM client that signs with creds.
	IAMFor func(creds aws.CredentialsProvider) IAMAPI
	Logger *slog.Logger
}

func (a *Auditor) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Auditor) logger() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// AuditAccounts audits each account: the caller's own account with the
// caller's credentials, every other one through RoleName. One account's
// failure is its result's Error; it never stops the others. Results are
// sorted by account id, and all measured from one "now".
func (a *Auditor) AuditAccounts(ctx context.Context, caller Caller, accounts []Account) []Result {
	now := a.now()
	n := a.Concurrency
	if n <= 0 {
		n = 4
	}
	results := make([]Result, len(accounts))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, acct := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = ErrorResult(acct.ID, acct.Name, "credential-report", a.Days, now, ctx.Err())
				return
			}
			defer func() { <-sem }()
			r := a.auditOne(ctx, caller, acct, now)
			r.AccountName = acct.Name
			results[i] = r
		}()
	}
	wg.Wait()
	sort.SliceStable(results, func(i, j int) bool { return results[i].AccountID < results[j].AccountID })
	return results
}

func (a *Auditor) auditOne(ctx context.Context, caller Caller, acct Account, now time.Time) Result {
	log := a.logger().With("account", acct.ID)
	api := a.CallerIAM
	if acct.ID != caller.Account {
		creds, err := a.assume(ctx, caller, acct.ID)
		if err != nil {
			log.Warn("cannot assume audit role", "err", err)
			return ErrorResult(acct.ID, acct.Name, "credential-report", a.Days, now, err)
		}
		api = a.IAMFor(creds)
	}
	r := AuditIAM(ctx, api, acct.ID, now, a.Days, a.Poll)
	if r.Error != "" {
		log.Warn("account not audited", "err", r.Error)
	}
	return r
}

// assume returns credentials for RoleName in account. The secret parts
// never leave this function except inside the provider.
func (a *Auditor) assume(ctx context.Context, caller Caller, account string) (aws.CredentialsProvider, error) {
	part := caller.Partition
	if part == "" {
		part = "aws"
	}
	arn := fmt.Sprintf("arn:%s:iam::%s:role/%s", part, account, strings.TrimPrefix(a.RoleName, "/"))
	session := a.SessionName
	if session == "" {
		session = "rootwatch-audit"
	}
	in := &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String(session)}
	if a.ExternalID != "" {
		in.ExternalId = aws.String(a.ExternalID)
	}
	out, err := a.STS.AssumeRole(ctx, in)
	if err != nil {
		return nil, awsCall("sts AssumeRole "+arn, err)
	}
	if out.Credentials == nil {
		return nil, fmt.Errorf("sts AssumeRole %s: no credentials in the response", arn)
	}
	c := out.Credentials
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)), nil
}

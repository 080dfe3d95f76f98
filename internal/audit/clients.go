package audit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// ClientOptions say how to reach AWS.
type ClientOptions struct {
	// Region for STS and S3; IAM and Organizations are global. "" uses the
	// SDK's usual sources (AWS_REGION, profile) and then us-east-1.
	Region string
	// EndpointURL, when set, replaces the IAM, STS and Organizations
	// endpoints (tests, proxies, VPC endpoints).
	EndpointURL string
	// S3EndpointURL, when set, replaces the S3 endpoint and selects
	// path-style addressing (S3-compatible stores, tests).
	S3EndpointURL string
	// Credentials override the SDK's default chain (tests); nil uses it.
	Credentials aws.CredentialsProvider
}

// Clients are the SDK clients the audit needs, with the caller's credentials.
type Clients struct {
	Config aws.Config
	IAM    *iam.Client
	STS    *sts.Client
	Org    *organizations.Client
	S3     *s3.Client
	opts   ClientOptions
}

// NewClients loads the default AWS configuration (environment, shared
// files, SSO, instance roles) and builds the clients.
func NewClients(ctx context.Context, o ClientOptions) (*Clients, error) {
	var lo []func(*awsconfig.LoadOptions) error
	if o.Region != "" {
		lo = append(lo, awsconfig.WithRegion(o.Region))
	}
	if o.Credentials != nil {
		lo = append(lo, awsconfig.WithCredentialsProvider(o.Credentials))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	c := &Clients{Config: cfg, opts: o}
	c.IAM = c.iamClient(nil)
	c.STS = sts.NewFromConfig(cfg, func(so *sts.Options) {
		if o.EndpointURL != "" {
			so.BaseEndpoint = aws.String(o.EndpointURL)
		}
	})
	c.Org = organizations.NewFromConfig(cfg, func(oo *organizations.Options) {
		if o.EndpointURL != "" {
			oo.BaseEndpoint = aws.String(o.EndpointURL)
		}
	})
	c.S3 = s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.S3EndpointURL != "" {
			so.BaseEndpoint = aws.String(o.S3EndpointURL)
			so.UsePathStyle = true
		}
	})
	return c, nil
}

func (c *Clients) iamClient(creds aws.CredentialsProvider) *iam.Client {
	return iam.NewFromConfig(c.Config, func(io *iam.Options) {
		if c.opts.EndpointURL != "" {
			io.BaseEndpoint = aws.String(c.opts.EndpointURL)
		}
		if creds != nil {
			io.Credentials = aws.NewCredentialsCache(creds)
		}
	})
}

// IAMFor is an IAM client that signs with creds (an assumed role).
func (c *Clients) IAMFor(creds aws.CredentialsProvider) IAMAPI { return c.iamClient(creds) }

package channel

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// awsConfig is the settings every AWS channel (SNS, SES) shares.
type awsConfig struct {
	// Region overrides the region of the process's AWS configuration.
	Region string `yaml:"region"`
	// BaseURL overrides the service endpoint (tests, VPC endpoints, fauxqs).
	BaseURL string `yaml:"base_url"`
}

// apply sets the region and endpoint on an SDK client's options, and turns
// off the SDK's own retries: the shared RetryPolicy is the only retry loop.
func (a awsConfig) apply(region *string, base **string, retryer *aws.Retryer) {
	if a.Region != "" {
		*region = a.Region
	}
	if a.BaseURL != "" {
		*base = aws.String(a.BaseURL)
	}
	*retryer = aws.NopRetryer{}
}

var awsRegion = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

func (a awsConfig) validate(c Config, d Deps) error {
	if a.BaseURL != "" {
		if _, err := c.parseBaseURL("base_url", a.BaseURL, ""); err != nil {
			return err
		}
	}
	if a.Region != "" && !awsRegion.MatchString(a.Region) {
		return c.FieldError("region", "must be an AWS region like us-east-1")
	}
	if a.Region == "" && d.AWS.Region == "" {
		return c.FieldError("region", "required (no region in the AWS configuration)")
	}
	return nil
}

// awsThrottle are AWS error codes that mean "slow down", whatever HTTP
// status the protocol sent them with (the query protocol uses 400).
var awsThrottle = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true,
	"TooManyRequestsException": true, "RequestLimitExceeded": true, "RequestThrottled": true,
}

// awsError maps an SDK error to the shared error model: an API error (an
// answer with an HTTP status of 300 or more) becomes *HTTPError
// (throttling codes as 429), so Retryable decides as for every other
// channel. Everything else stays a retryable error that says what went
// wrong: no answer at all (the SDK reports status 0: connection refused,
// reset or closed) or a 2xx answer the SDK could not read.
func awsError(name, op string, err error) error {
	if err == nil {
		return nil
	}
	var re *smithyhttp.ResponseError
	var ae smithy.APIError
	if errors.As(err, &re) && re.Response != nil && re.HTTPStatusCode() >= 300 {
		status := re.HTTPStatusCode()
		body := op
		if errors.As(err, &ae) {
			body = op + ": " + ae.ErrorCode() + ": " + excerpt([]byte(ae.ErrorMessage()))
			if awsThrottle[ae.ErrorCode()] {
				status = http.StatusTooManyRequests
			}
		}
		return &HTTPError{Channel: name, Status: status, Body: body}
	}
	what := "no answer"
	if re != nil && re.Response != nil && re.HTTPStatusCode() != 0 {
		what = fmt.Sprintf("HTTP %d with an unreadable answer", re.HTTPStatusCode())
	}
	cause := err
	if re != nil && re.Err != nil {
		cause = re.Err
	}
	return &sendError{msg: fmt.Sprintf("%s: %s: %s (transient): %s", name, op, what, excerpt([]byte(cause.Error()))), cause: err}
}

// errNoMessageID is a 2xx answer without the message ID every successful
// Publish and SendEmail returns: it could not be read, so it is retried.
func errNoMessageID(name, op string) error {
	return &sendError{msg: fmt.Sprintf("%s: %s: HTTP 200 without a MessageId (transient)", name, op)}
}

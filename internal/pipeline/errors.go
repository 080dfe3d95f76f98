package pipeline

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"rootwatch/internal/cloudtrail"
	"rootwatch/internal/mutant"
)

// Reasons for dead-lettering, a closed set (a metric label and the DLQ
// entry's "reason").
const (
	ReasonUnknownFormat  = "unknown-format"
	ReasonMaxReceives    = "max-receives"
	ReasonObjectMissing  = "object-missing"
	ReasonAccessDenied   = "access-denied"
	ReasonCorrupt        = "corrupt"
	ReasonTruncated      = "truncated"
	ReasonSyntax         = "invalid-json"
	ReasonNotCloudTrail  = "not-cloudtrail"
	ReasonRecordTooLarge = "record-too-large"
	ReasonObjectTooLarge = "object-too-large"
	ReasonPermanent      = "permanent"
)

// permanentError marks an error that retrying will not fix.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying, with a DLQ reason.
func Permanent(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{reason: reason, err: err}
}

// transientError marks an error that may go away (network, 5xx, Kafka).
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// Classify decides, in one place, whether an object's failure is permanent
// (dead-letter it, then settle the message) and why. Everything not known
// to be permanent is transient: it is left for redelivery.
func Classify(err error) (reason string, permanent bool) {
	if err == nil {
		return "", false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errShutdown) {
		return "shutdown", false
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return pe.reason, true
	}
	var te *transientError
	if errors.As(err, &te) {
		return "transient", false
	}
	switch {
	case errors.Is(err, cloudtrail.ErrCorrupt):
		return ReasonCorrupt, true
	case errors.Is(err, cloudtrail.ErrTruncated):
		return ReasonTruncated, true
	case errors.Is(err, cloudtrail.ErrSyntax):
		return ReasonSyntax, true
	case errors.Is(err, cloudtrail.ErrNotCloudTrail):
		return ReasonNotCloudTrail, true
	case errors.Is(err, cloudtrail.ErrRecordTooLarge):
		return ReasonRecordTooLarge, true
	case errors.Is(err, cloudtrail.ErrObjectTooLarge):
		return ReasonObjectTooLarge, true
	}
	return "transient", false
}

// classifyS3 maps an S3 GetObject error: missing and forbidden objects are
// permanent, everything else (5xx, throttling, network) transient.
func classifyS3(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return Permanent(ReasonObjectMissing, err)
		case "AccessDenied", "Forbidden", "InvalidObjectState", "AllAccessDisabled":
			return Permanent(ReasonAccessDenied, err)
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		if mutant.Enabled && mutant.On("s3-5xx-dead-letter") && re.HTTPStatusCode() >= 500 { // mutant (make mutants): a 5xx is dead-lettered, not retried
			return Permanent(ReasonPermanent, err)
		}
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return Permanent(ReasonObjectMissing, err)
		case http.StatusForbidden:
			return Permanent(ReasonAccessDenied, err)
		}
	}
	return &transientError{err}
}

// isMissing reports whether err is an S3 "no such key".
func isMissing(err error) bool {
	r, p := Classify(err)
	return p && r == ReasonObjectMissing
}

// bodyReader remembers whether the underlying (network) body failed, so a
// dropped connection mid-object is not mistaken for a truncated file.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// Package failure decides, in one place, what a failure to read an object
// means: permanent (retrying will not fix it: dead-letter it with a reason
// from a closed set, then move on) or transient (network, 5xx, Kafka down:
// leave it for a retry or a redelivery). Sources, the pipeline and the audit
// all classify through it, so an error means the same everywhere; it
// depends on nothing heavier than the CloudTrail reader's sentinel errors.
package failure

import (
	"context"
	"errors"

	"rootwatch/internal/cloudtrail"
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

// What Classify calls a failure that is not permanent.
const (
	// Transient: it may go away (network, 5xx, throttling, Kafka).
	Transient = "transient"
	// Shutdown: the work was cut short because the process is stopping.
	Shutdown = "shutdown"
)

// ErrShutdown is the error of work that never started, or was abandoned,
// because the pipeline stopped.
var ErrShutdown = errors.New("pipeline stopped")

// permanentError marks an error that retrying will not fix.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying, with a DLQ reason (one of the
// Reason constants).
func Permanent(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{reason: reason, err: err}
}

// transientError marks an error that may go away.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }

// MarkTransient marks err as worth retrying even if what it wraps looks
// permanent (a network failure in the middle of a body is not a truncated
// file).
func MarkTransient(err error) error {
	if err == nil {
		return nil
	}
	return &transientError{err}
}

// Classify says whether err is permanent and why. Everything not known to
// be permanent is transient: it is retried or left for redelivery, never
// dropped. The reason is a Reason constant for permanent errors, Shutdown
// for cancellation, else Transient.
func Classify(err error) (reason string, permanent bool) {
	if err == nil {
		return "", false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrShutdown) {
		return Shutdown, false
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return pe.reason, true
	}
	var te *transientError
	if errors.As(err, &te) {
		return Transient, false
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
	return Transient, false
}

// Is reports whether err is permanent for reason.
func Is(err error, reason string) bool {
	r, p := Classify(err)
	return p && r == reason
}

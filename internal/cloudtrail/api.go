// Package cloudtrail reads one CloudTrail log file: it sniffs and gunzips,
// splits the Records array into raw record byte slices without decoding them
// (in one streaming pass, memory bounded by the largest record), and knows
// AWS's key layout for log, digest and insight files.
package cloudtrail

import (
	"errors"
	"fmt"
)

// Format is how records are laid out in a file.
type Format int

// The formats.
const (
	// FormatAuto sniffs: a gzip magic is unwrapped, then a top-level object
	// is a CloudTrail log file ({"Records":[...]}).
	FormatAuto Format = iota
	// FormatLog is CloudTrail's own {"Records":[...]} layout.
	FormatLog
	// FormatJSONL is one record object per line (blank lines ignored).
	FormatJSONL
)

// Options bound what one file may cost.
type Options struct {
	Format Format
	// MaxRecordBytes caps one record; 0 means DefaultMaxRecordBytes.
	MaxRecordBytes int
	// MaxDecompressedBytes caps the decompressed size of a file; 0 means DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int64
}

// Limits applied when Options leave them zero.
const (
	DefaultMaxRecordBytes       = 16 << 20 // 16 MiB: CloudTrail records are at most a few hundred KiB
	DefaultMaxDecompressedBytes = 8 << 30  // 8 GiB per object
)

// Sentinel errors, matched with errors.Is. Every error a Reader returns
// wraps one of them, so callers can pick a DLQ reason.
var (
	// ErrCorrupt: the gzip stream is damaged.
	ErrCorrupt = errors.New("corrupt gzip")
	// ErrTruncated: the data ends in the middle of a JSON value.
	ErrTruncated = errors.New("truncated JSON")
	// ErrSyntax: invalid JSON.
	ErrSyntax = errors.New("invalid JSON")
	// ErrNotCloudTrail: valid JSON, but not a CloudTrail log file (no
	// Records array of objects at the top).
	ErrNotCloudTrail = errors.New("not a CloudTrail log file")
	// ErrRecordTooLarge: one record exceeds Options.MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record size limit exceeded")
	// ErrObjectTooLarge: the decompressed file exceeds Options.MaxDecompressedBytes.
	ErrObjectTooLarge = errors.New("decompressed size limit exceeded")
)

// FormatError says where in the (decompressed) stream reading failed.
type FormatError struct {
	Kind   error // one of the sentinel errors
	Offset int64 // byte offset in the decompressed stream
	Detail string
}

func (e *FormatError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%v at byte %d: %s", e.Kind, e.Offset, e.Detail)
	}
	return fmt.Sprintf("%v at byte %d", e.Kind, e.Offset)
}

func (e *FormatError) Unwrap() error { return e.Kind }

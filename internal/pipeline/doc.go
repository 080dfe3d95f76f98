// Package pipeline moves CloudTrail objects from a source to a sink. The
// Processor is the one object reader (open, gunzip, split, match, emit);
// a bounded pool of workers runs it; every write is acknowledged back by
// the sink (internal/sink), so a source settles its message (SQS delete,
// backfill checkpoint) only after everything it led to is durable. The
// runs here (SQS, backfill, a listed set of objects such as local files)
// differ only in where objects come from and how a finished object is
// settled; failures are classified in one place (internal/failure).
package pipeline

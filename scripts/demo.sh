#!/usr/bin/env bash
# The demo, as `make demo` runs it: one process (cmd/demo) with an embedded
# Kafka broker and S3, generated CloudTrail logs with their S3 notifications,
# the ingest pipeline and the alert service with console and webhook
# channels. Needs only Go. Flags pass through, e.g.
#   scripts/demo.sh --size-mb 20 --serve 127.0.0.1:9102   (then open the status page)
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./cmd/demo "$@"

#!/usr/bin/env bash
# make demo: generated CloudTrail logs (with some root activity among
# ordinary traffic and look-alikes) → ingest (offline scan) → alert (dedup,
# grouping, console channel). Needs only Go.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${DEMO_DIR:-$(mktemp -d)}"
trap '[ -z "${DEMO_DIR:-}" ] && rm -rf "$work"' EXIT
mkdir -p "$work/bin"
echo "demo: building ingest, alert, ctgen" >&2
go build -o "$work/bin/" ./cmd/ingest ./cmd/alert ./cmd/ctgen
"$work/bin/ctgen" --out "$work/logs" --size "${DEMO_SIZE:-20MB}" --root-share 0.002 --seed "${DEMO_SEED:-42}" \
	--summary-json "$work/gen.json" >/dev/null
"$work/bin/ingest" --source "$work/logs" --sink stdout 2>"$work/ingest.err" | tee "$work/findings.jsonl" |
	"$work/bin/alert" --source - --config examples/demo-alert.yaml 2>"$work/alert.err" | tee "$work/alerts.txt"
cat "$work/ingest.err" >&2
files=$(grep -o '"files":[0-9]*' "$work/gen.json" | cut -d: -f2)
records=$(grep -o '"records":[0-9]*' "$work/gen.json" | cut -d: -f2)
findings=$(wc -l <"$work/findings.jsonl" | tr -d ' ')
alerts=$(grep -c ' OPEN \| UPDATE \| REPEAT ' "$work/alerts.txt" || true)
echo "demo: $files files, $records records, $findings root findings, $alerts alerts dispatched"

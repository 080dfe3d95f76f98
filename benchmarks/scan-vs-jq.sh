#!/usr/bin/env bash
# scan-vs-jq.sh: how fast does `ingest --source DIR --sink stdout` find root
# activity, next to `zcat | jq` with the same rule and next to a plain
# encoding/json decoder? All legs read the same generated CloudTrail logs
# (cmd/ctgen, realistic records with root activity and look-alikes) and must
# report exactly the eventIDs the generator says are root activity.
#
# Usage (from anywhere in the repo):
#   benchmarks/scan-vs-jq.sh                # 400 MB of uncompressed logs
#   SIZE_MB=20 benchmarks/scan-vs-jq.sh     # a quick run
# Environment:
#   SIZE_MB      uncompressed log size in MB (10^6 bytes); default 400
#   ROOT_SHARE   share of records that are root activity; default 0.001
#   SEED         generator seed; default 1
#   WORKDIR      where binaries, logs and outputs go; default a new temp dir
#                (logs are reused when WORKDIR already holds the same SIZE_MB/SEED/ROOT_SHARE)
#   KEEP=1       keep WORKDIR afterwards (kept anyway when WORKDIR was given)
#   JQ_PAR       processes for the parallel jq leg; default nproc
#   LEGS         which legs to run; default "ingest jsondecode jq jq-par"
# Exit status: 0 when every leg that ran found exactly the generator's truth.
set -euo pipefail
export LC_ALL=C

SIZE_MB=${SIZE_MB:-400}
ROOT_SHARE=${ROOT_SHARE:-0.001}
SEED=${SEED:-1}
JQ_PAR=${JQ_PAR:-$(nproc)}
LEGS=${LEGS:-"ingest jsondecode jq jq-par"}

calc() { awk "BEGIN { print $* }"; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
rule="$here/rule.jq"

if ! command -v jq >/dev/null 2>&1; then
	echo "scan-vs-jq: jq is not installed. Install it with: apt-get install -y jq   (Debian/Ubuntu; brew install jq on macOS)" >&2
	exit 2
fi
if ! command -v go >/dev/null 2>&1; then
	echo "scan-vs-jq: go is not on PATH" >&2
	exit 2
fi

if [[ -n "${WORKDIR:-}" ]]; then
	work=$WORKDIR
	mkdir -p "$work"
else
	work=$(mktemp -d "${TMPDIR:-/tmp}/scan-vs-jq.XXXXXX")
	if [[ "${KEEP:-0}" != 1 ]]; then
		trap 'rm -rf "$work"' EXIT
	fi
fi
bin="$work/bin"
mkdir -p "$bin"

echo "== building (go build) into $bin"
(cd "$repo" && go build -o "$bin/ctgen" ./cmd/ctgen && go build -o "$bin/jsondecode" ./benchmarks/jsondecode)
have_ingest=0
if [[ " $LEGS " == *" ingest "* ]]; then
	if (cd "$repo" && go build -o "$bin/ingest" ./cmd/ingest); then
		have_ingest=1
	else
		echo "scan-vs-jq: could not build ./cmd/ingest; its leg will be reported as failed" >&2
	fi
fi

logs="$work/logs-${SIZE_MB}MB-seed${SEED}-root${ROOT_SHARE}"
truth="$logs.root-eventids.txt"
summary="$logs.summary.json"
if [[ -s "$truth" && -s "$summary" && -d "$logs" ]]; then
	echo "== reusing $logs"
else
	rm -rf "$logs"
	echo "== generating ${SIZE_MB} MB of CloudTrail logs (seed $SEED, root share $ROOT_SHARE, with digest files)"
	"$bin/ctgen" --out "$logs" --size "${SIZE_MB}MB" --seed "$SEED" --root-share "$ROOT_SHARE" \
		--digests --truth "$truth" --summary-json "$summary" >/dev/null
fi
bytes=$(jq -r .bytes "$summary")
gzbytes=$(jq -r .gzBytes "$summary")
files=$(jq -r .files "$summary")
records=$(jq -r .records "$summary")
nroot=$(wc -l <"$truth")
printf '   %d log files, %d records, %.1f MB uncompressed (%.1f MB gzipped), %d root records, CPUs: %d\n' \
	"$files" "$records" "$(calc "$bytes / 1000000")" "$(calc "$gzbytes / 1000000")" "$nroot" "$(nproc)"

# Warm the page cache so that the first leg is not charged for the disk.
find "$logs" -type f -exec cat {} + >/dev/null

# leg NAME CMD [FILTER]: runs CMD under bash's time (wall and CPU seconds,
# children included), then, untimed, FILTER (default cat) turns its stdout
# into eventIDs, sorted into $work/NAME.ids and compared with the truth.
declare -A wall cpu ok
leg() {
	local name=$1 cmd=$2 filter=${3:-cat}
	local out="$work/$name.out" err="$work/$name.err" tf="$work/$name.time"
	echo "== $name: $cmd"
	local TIMEFORMAT='%R %U %S' status=0
	{ time (eval "$cmd" >"$out" 2>"$err"); } 2>"$tf" || status=$?
	read -r r u s <"$tf"
	wall[$name]=$r
	cpu[$name]=$(calc "$u + $s")
	if [[ $status -ne 0 ]]; then
		echo "   FAILED (exit $status); stderr:" >&2
		tail -n 5 "$err" | sed 's/^/   /' >&2
		ok[$name]=FAILED
		return 0
	fi
	eval "$filter" <"$out" | sort -u >"$work/$name.ids"
	if cmp -s "$work/$name.ids" "$truth"; then
		ok[$name]=yes
	else
		ok[$name]=NO
		echo "   found $(wc -l <"$work/$name.ids") eventIDs, truth has $nroot; differences (< found, > truth):" >&2
		diff "$work/$name.ids" "$truth" | head -n 10 | sed 's/^/   /' >&2 || true
	fi
	tail -n 2 "$err" | sed 's/^/   stderr: /'
}

ran=()
for l in $LEGS; do
	case $l in
	ingest)
		if [[ $have_ingest == 1 ]]; then
			# ingest prints one Finding (JSON) per line; the eventIDs of root
			# activity (rule cis-root; sts:AssumeRoot calls are findings of
			# another rule) are taken out untimed.
			leg ingest "'$bin/ingest' --source '$logs' --sink stdout" "jq -r 'select(.rule == \"cis-root\") | .eventID'"
		else
			wall[ingest]=0 cpu[ingest]=0 ok[ingest]=FAILED
		fi
		;;
	jsondecode)
		leg jsondecode "'$bin/jsondecode' '$logs'"
		;;
	jq)
		# One zcat and one jq process over all files (jq reads the stream of documents).
		leg jq "find '$logs' -name '*.json.gz' -print0 | xargs -0 zcat | jq -r -f '$rule'"
		;;
	jq-par)
		leg jq-par "find '$logs' -name '*.json.gz' -print0 | xargs -0 -n 32 -P '$JQ_PAR' sh -c 'zcat \"\$@\" | jq -r -f \"$rule\"' sh"
		;;
	*)
		echo "scan-vs-jq: unknown leg $l" >&2
		exit 2
		;;
	esac
	ran+=("$l")
done

mbps() { # wall seconds -> MB/s of uncompressed logs
	calc "($1 > 0) ? $bytes / 1000000 / $1 : 0"
}
echo
echo "== results: $(calc "$bytes / 1000000") MB of uncompressed CloudTrail JSON, $(nproc) CPUs"
printf '%-12s %8s %8s %8s %12s  %s\n' leg wall_s cpu_s MB/s "MB/cpu_s" "found = truth ($nroot root eventIDs)"
for l in "${ran[@]}"; do
	printf '%-12s %8.2f %8.2f %8.1f %12.1f  %s\n' "$l" "${wall[$l]}" "${cpu[$l]}" "$(mbps "${wall[$l]}")" "$(mbps "${cpu[$l]}")" "${ok[$l]}"
done
ratio() { # how many times faster $1 is than $2, by wall time and by CPU time
	if [[ "${ok[$1]:-}" == yes && "${ok[$2]:-}" == yes ]]; then
		printf '%-24s %6.1fx wall   %6.1fx CPU\n' "$1 vs $2:" "$(calc "${wall[$2]} / ${wall[$1]}")" "$(calc "${cpu[$2]} / ${cpu[$1]}")"
	fi
}
echo
echo "MB = 10^6 bytes of uncompressed JSON. wall: elapsed; CPU: user+sys of all processes of the leg."
echo "On a shared machine the CPU figures are the steadier ones."
ratio ingest jq
ratio ingest jq-par
ratio ingest jsondecode
ratio jsondecode jq

status=0
for l in "${ran[@]}"; do
	[[ "${ok[$l]}" == yes ]] || status=1
done
if [[ -n "${WORKDIR:-}" || "${KEEP:-0}" == 1 ]]; then
	echo "(outputs kept in $work)"
fi
exit $status

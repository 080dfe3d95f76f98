#!/usr/bin/env bash
# Installs what the tests need that is not a Go module, and says so first:
#
#   - node@22 (the npm package; fauxqs needs Node >= 22.5) and fauxqs, the
#     SQS/SNS emulator, from npm into $ROOTWATCH_TOOLS_DIR (default .tools/,
#     gitignored; about 230 MB, a minute or two);
#   - Chromium (Debian's package) for the status page's browser test, with
#     `apt-get install --no-upgrade`, only as root and only when that
#     upgrades no package already installed; otherwise it says why it skips,
#     and that one test skips saying so too.
#
# Idempotent, and quiet and fast when everything is there.
#
#   ROOTWATCH_TOOLS_DIR=dir            where node and fauxqs go
#   ROOTWATCH_SKIP_CHROMIUM=1          never install Chromium
#   ROOTWATCH_APT_ALLOW_UPGRADES=1     let apt-get upgrade installed packages
#                                      Chromium needs newer (off by default)
#   ROOTWATCH_TEST_DEPS_DRY_RUN=1      say what would be done, change nothing
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${ROOTWATCH_TOOLS_DIR:-$PWD/.tools}"
FAUXQS_VERSION=2.4.1
NODE_MAJOR=22
DRY="${ROOTWATCH_TEST_DEPS_DRY_RUN:-}"

say() { echo "install-test-deps: $*" >&2; }
# run runs a command that changes the machine, or only names it in a dry run.
run() {
	if [ -n "$DRY" ]; then
		say "would run: $*"
	else
		"$@"
	fi
}

node_bin="$TOOLS/node_modules/node/bin/node"
have_node() {
	[ -x "$node_bin" ] || return 1
	"$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=5)?0:1)' || return 1
	grep -q "\"version\": *\"$FAUXQS_VERSION\"" "$TOOLS/node_modules/fauxqs/package.json" 2>/dev/null
}
have_chromium() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1
}
ignore_tools() {
	# Keep the installed tools out of git even without a root .gitignore entry.
	mkdir -p "$TOOLS" && [ -f "$TOOLS/.gitignore" ] || echo '*' >"$TOOLS/.gitignore"
}

need_node=
have_node || need_node=1
need_chromium=
have_chromium || [ -n "${ROOTWATCH_SKIP_CHROMIUM:-}" ] || need_chromium=1

# Up front: what is missing, what will be installed where, how long it takes.
if [ -n "$need_node$need_chromium" ]; then
	say "the tests need programs that are not Go modules; installing the missing ones:"
	[ -z "$need_node" ] || say "  - node@$NODE_MAJOR and fauxqs@$FAUXQS_VERSION (SQS/SNS emulator) from npm into $TOOLS (about 230 MB, a minute or two)"
	[ -z "$need_chromium" ] || say "  - chromium (Debian package, for the status page's browser test) with apt-get install --no-upgrade, if that upgrades nothing already installed (ROOTWATCH_SKIP_CHROMIUM=1 to skip)"
fi

# Chromium. Best effort: without it the status page's browser test skips
# and says so; everything else runs.
install_chromium() {
	if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		say "chromium not found, and installing it needs root and apt-get; skipping (the status page browser test will skip)"
		return 0
	fi
	run apt-get update -qq >&2 || { say "apt-get update failed; skipping chromium (the status page browser test will skip)"; return 0; }
	# A simulation first (it changes nothing): --no-upgrade keeps apt from
	# upgrading chromium itself, but apt would still upgrade an installed
	# library chromium needs a newer version of. Do that only when asked.
	local plan upgrades
	if ! plan=$(apt-get -s install --no-upgrade chromium 2>&1); then
		say "apt-get cannot install chromium here; skipping (the status page browser test will skip):"
		echo "$plan" | tail -3 >&2
		return 0
	fi
	upgrades=$(echo "$plan" | awk '/^Inst [^ ]+ \[/ {printf "%s%s", sep, $2; sep = " "}')
	if [ -n "$upgrades" ] && [ -z "${ROOTWATCH_APT_ALLOW_UPGRADES:-}" ]; then
		say "installing chromium would upgrade installed packages ($upgrades); skipping, so nothing on this machine changes"
		say "  to install it anyway: ROOTWATCH_APT_ALLOW_UPGRADES=1 make test-deps (or apt-get install chromium yourself)"
		return 0
	fi
	local n
	n=$(echo "$plan" | grep -c '^Inst ' || true)
	if [ "$n" = 0 ]; then
		say "apt-get has nothing to install for chromium ($(echo "$plan" | tail -1)); skipping (the status page browser test will skip)"
		return 0
	fi
	say "installing chromium ($n package(s): chromium and its missing dependencies)"
	run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-upgrade chromium >&2 ||
		say "could not install chromium; the status page browser test will skip"
}
[ -z "$need_chromium" ] || install_chromium

if [ -z "$need_node" ]; then
	ignore_tools
	exit 0
fi
command -v npm >/dev/null || { say "npm is required to install node@$NODE_MAJOR and fauxqs (Debian: apt-get install -y npm)"; exit 1; }
run ignore_tools
[ -n "$DRY" ] || [ -f "$TOOLS/package.json" ] || echo '{"name":"rootwatch-test-tools","private":true}' >"$TOOLS/package.json"
say "installing node@$NODE_MAJOR and fauxqs@$FAUXQS_VERSION into $TOOLS"
run npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR" "fauxqs@$FAUXQS_VERSION" >&2
[ -n "$DRY" ] || have_node || { say "node >= 22.5 or fauxqs@$FAUXQS_VERSION missing after install"; exit 1; }

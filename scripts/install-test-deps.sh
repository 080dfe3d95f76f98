#!/usr/bin/env bash
# Installs the test servers that are not Go modules into .tools/ (gitignored):
# Node 22 (the npm package node@22; fauxqs needs Node >= 22.5) and fauxqs,
# the SQS/SNS emulator. Idempotent, and fast when already installed.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${ROOTWATCH_TOOLS_DIR:-$PWD/.tools}"
FAUXQS_VERSION=2.4.1
NODE_MAJOR=22

node_bin="$TOOLS/node_modules/node/bin/node"
have() {
	[ -x "$node_bin" ] || return 1
	"$node_bin" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=5)?0:1)' || return 1
	grep -q "\"version\": *\"$FAUXQS_VERSION\"" "$TOOLS/node_modules/fauxqs/package.json" 2>/dev/null
}
ignore_tools() {
	# Keep the installed tools out of git even without a root .gitignore entry.
	mkdir -p "$TOOLS" && [ -f "$TOOLS/.gitignore" ] || echo '*' >"$TOOLS/.gitignore"
}
# Chromium (Debian's package) for the status page's browser test. Best effort:
# without it that one test skips and says so.
install_chromium() {
	if ! command -v chromium >/dev/null 2>&1; then
		if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
			echo "install-test-deps: installing chromium (Debian package)" >&2
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 ||
				echo "install-test-deps: could not install chromium; the status page browser test will skip" >&2
		else
			echo "install-test-deps: chromium not found and cannot apt-get install it; the status page browser test will skip" >&2
		fi
	fi
}
install_chromium

if have; then
	ignore_tools
	exit 0
fi
command -v npm >/dev/null || { echo "install-test-deps: npm is required (apt-get install -y npm)" >&2; exit 1; }
ignore_tools
[ -f "$TOOLS/package.json" ] || echo '{"name":"rootwatch-test-tools","private":true}' >"$TOOLS/package.json"
echo "install-test-deps: installing node@$NODE_MAJOR and fauxqs@$FAUXQS_VERSION into $TOOLS" >&2
npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR" "fauxqs@$FAUXQS_VERSION" >&2
have || { echo "install-test-deps: node >= 22.5 or fauxqs@$FAUXQS_VERSION missing after install" >&2; exit 1; }


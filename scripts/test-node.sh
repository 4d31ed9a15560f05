#!/usr/bin/env bash
# The Node.js client's tests (clients/node/test) against the built daemon, sandbox gateway and wpwctl.
# `make test` runs this after the Swift tests. Needs Node.js >= 18: installs the `nodejs` package with
# apt-get when node is missing and this runs as root; otherwise prints the command and fails.
# WPW_BIN: where the binaries are (default .build/debug).
set -euo pipefail
cd "$(dirname "$0")/.."
min_major=18

if ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-node: node is missing; installing nodejs" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends nodejs >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends nodejs >/dev/null; }
  else
    echo "test-node: Node.js >= $min_major is needed; run: sudo apt-get install -y nodejs" >&2
    exit 1
  fi
fi
command -v node >/dev/null 2>&1 || { echo "test-node: node is still not on PATH after installing nodejs" >&2; exit 1; }
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt "$min_major" ]; then
  echo "test-node: node $(node --version) is older than $min_major; install Node.js >= $min_major (e.g. from NodeSource) and retry" >&2
  exit 1
fi

export WPW_BIN="${WPW_BIN:-$PWD/.build/debug}"
for exe in wpwithind wpw-sandbox-gateway; do
  [ -x "$WPW_BIN/$exe" ] || { echo "test-node: $WPW_BIN/$exe not found: build first (swift build) or set WPW_BIN" >&2; exit 1; }
done
echo "test-node: node $(node --version), binaries from $WPW_BIN" >&2
exec timeout --kill-after=10 600 node --test clients/node/test/

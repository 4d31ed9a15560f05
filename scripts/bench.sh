#!/usr/bin/env bash
# `make bench` (after `make release`): runs `wpw-bench suite` (`make bench-fleet`: `wpw-bench fleet`, with --fleet) from the release build with the commit and the
# toolchain recorded. Arguments are passed on (`--quick`, `--synchronous normal`, `--keep`, …; see
# `.build-release/release/wpw-bench suite --help`). Exit status: 0 unless the harness broke (1) or a
# correctness check failed (2: oversell, a payment without exactly one order). Missed targets never fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(${SWIFT:-swift} build -c release --scratch-path .build-release --show-bin-path)"
for exe in wpwithind wpwithind-fleet wpw-sandbox-gateway wpw-bench; do
  [ -x "$bin/$exe" ] || { echo "bench: $bin/$exe is missing; run make release" >&2; exit 1; }
done
commit="$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)"
toolchain="$(${SWIFT:-swift} --version 2>/dev/null | head -n 1 || echo unknown)"
if [ "${1:-}" = --fleet ]; then
  # `make bench-fleet`: the fleet benchmark (a throwaway PostgreSQL; `make test-deps` installs it).
  shift
  echo "wpw-bench fleet at $commit ($toolchain)"
  exec "$bin/wpw-bench" fleet "$@"
fi
exec "$bin/wpw-bench" suite --commit "$commit" --toolchain "$toolchain" "$@"

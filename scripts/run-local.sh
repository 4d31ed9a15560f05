#!/usr/bin/env bash
# `make run`: starts the daemon (and the local services it needs) with paths inside the checkout,
# so it works unprivileged. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-.build/debug}"
top="$PWD/.wpw"
mkdir -p "$top/run" "$top/state"
export WPWITHIND_SOCKET="$top/run/wpwithin.sock"
export WPWITHIN_SOCKET="$WPWITHIND_SOCKET"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM
echo "wpwithind: socket $WPWITHIND_SOCKET, state $top/state" >&2
echo "try: $bin/wpwctl --socket $WPWITHIND_SOCKET status" >&2
"$bin/wpwithind" --state-dir "$top/state" --socket "$WPWITHIND_SOCKET" --log-level "${LOG_LEVEL:-info}" &
pids+=($!)
wait "${pids[@]}"

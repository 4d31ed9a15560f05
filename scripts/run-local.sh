#!/usr/bin/env bash
# `make run`: starts the sandbox gateway and the daemon with paths inside the checkout, so it works
# unprivileged and offline. The daemon uses its built-in defaults plus the example credentials
# (a test card and the sandbox merchant keys). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-.build/debug}"
top="${WPW_RUN_DIR:-$PWD/.wpw}"
mkdir -p "$top/run" "$top/state" "$top/credentials"
chmod 700 "$top/state" "$top/credentials"
install -m 0600 config/card.example.json "$top/credentials/card.json"
install -m 0600 config/merchant.example.json "$top/credentials/merchant.json"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
# Ctrl-C (or a TERM) is how this is meant to end: stop the daemon and the gateway, and say so with 0.
trap 'cleanup; exit 0' INT TERM

gateway_port="${SANDBOX_PORT:-18080}"
"$bin/wpw-sandbox-gateway" --config config/sandbox-gateway.json --port "$gateway_port" \
  --audit-log "$top/sandbox-audit.jsonl" > "$top/run/sandbox.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$top/run/sandbox.out" 2>/dev/null && break; sleep 0.1; done
echo "sandbox gateway: $(cat "$top/run/sandbox.out")" >&2

export WPWITHIND_SOCKET="$top/run/wpwithin.sock"
export WPWITHIN_SOCKET="$WPWITHIND_SOCKET"
export WPWITHIND_GATEWAY_ENDPOINT="http://127.0.0.1:$gateway_port"
# Network rule: peers on loopback, broadcasts to 127.255.255.255 from 127.0.0.1.
export WPWITHIND_HTE_HOST=127.0.0.1
export WPWITHIND_ADVERTISED_HOST=127.0.0.1
export WPWITHIND_BROADCAST_ADDRESS=127.255.255.255
export WPWITHIND_BROADCAST_SOURCE=127.0.0.1
export WPWITHIND_CARD_FILE="$top/credentials/card.json"
export WPWITHIND_MERCHANT_FILE="$top/credentials/merchant.json"
echo "wpwithind: socket $WPWITHIND_SOCKET, state $top/state" >&2
echo "try: $bin/wpwctl --socket $WPWITHIND_SOCKET status" >&2
"$bin/wpwithind" --state-dir "$top/state" --socket "$WPWITHIND_SOCKET" --log-level "${LOG_LEVEL:-info}" &
pids+=($!)
wait -n "${pids[@]}"

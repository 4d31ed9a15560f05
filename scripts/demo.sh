#!/usr/bin/env bash
# `make demo`: the four phases between two Things on loopback. Starts the sandbox gateway, a producer daemon
# and a consumer daemon (fresh state in a temporary directory), then runs the example apps: the car-wash
# producer (registers its service, broadcasts, acknowledges deliveries) and the consumer (discovers, reads
# the prices, selects, pays, and uses 3 units in two delivery sessions). Exits 0 when the purchase is used up.
#
# Network rule: HTE servers on 127.0.0.1, broadcasts to 127.255.255.255 from 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-.build/debug}"
top="$(mktemp -d /tmp/wpw-demo.XXXXXX)"
pids=()
cleanup() {
  local status=$?
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "demo: failed (status $status); logs:" >&2
    for f in "$top"/*.log; do echo "--- $f" >&2; tail -n 20 "$f" >&2; done
  fi
  rm -rf "$top"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

phase() { printf '\n== %s\n' "$*"; }

mkdir -p "$top/credentials" && chmod 700 "$top/credentials"
install -m 0600 config/card.example.json "$top/credentials/card.json"
install -m 0600 config/merchant.example.json "$top/credentials/merchant.json"

phase "Starting the sandbox payment gateway (127.0.0.1, ephemeral port)"
"$bin/wpw-sandbox-gateway" --config config/sandbox-gateway.json --port 0 \
  --audit-log "$top/sandbox-audit.jsonl" > "$top/sandbox.out" 2> "$top/sandbox.log" &
pids+=($!)
for _ in $(seq 200); do grep -q listening "$top/sandbox.out" 2>/dev/null && break; sleep 0.05; done
gateway_port="$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$top/sandbox.out" | head -n1)"
[ -n "$gateway_port" ] || { echo "demo: the sandbox gateway did not start" >&2; exit 1; }
echo "sandbox gateway on http://127.0.0.1:$gateway_port"

discovery_port="${DEMO_DISCOVERY_PORT:-18981}"
common=(
  WPWITHIND_GATEWAY_ENDPOINT="http://127.0.0.1:$gateway_port"
  WPWITHIND_HTE_HOST=127.0.0.1 WPWITHIND_HTE_PORT=0 WPWITHIND_ADVERTISED_HOST=127.0.0.1
  WPWITHIND_BROADCAST_ADDRESS=127.255.255.255 WPWITHIND_BROADCAST_SOURCE=127.0.0.1
  WPWITHIND_SCAN_BIND_ADDRESS=127.255.255.255 WPWITHIND_DISCOVERY_PORT="$discovery_port"
)
start_daemon() {  # name roles extra-env...
  local name="$1" roles="$2"; shift 2
  env "${common[@]}" WPWITHIND_ROLES="$roles" WPWITHIND_DEVICE_NAME="$name" "$@" \
    "$bin/wpwithind" --socket "$top/$name.sock" --state-dir "$top/$name-state" --log-level "${LOG_LEVEL:-notice}" \
    2> "$top/$name.log" &
  pids+=($!)
  # wpwctl --wait: until the socket answers and getStatus says ready (exit 3 after 10 s without).
  "$bin/wpwctl" --socket "$top/$name.sock" --wait=10 status >/dev/null || { echo "demo: $name did not start" >&2; return 1; }
}

phase "Starting the producer daemon (car wash) and the consumer daemon (car)"
start_daemon carwash producer WPWITHIND_MERCHANT_FILE="$top/credentials/merchant.json"
start_daemon car consumer WPWITHIND_CARD_FILE="$top/credentials/card.json"
echo "producer socket $top/carwash.sock, consumer socket $top/car.sock"

phase "Producer app: registers the RoboWash service and broadcasts"
python3 -u examples/python/carwash_producer.py --socket "$top/carwash.sock" --deliveries 2 > "$top/producer-app.out" 2>&1 &
producer_app=$!
pids+=($producer_app)
for _ in $(seq 200); do grep -q -i "broadcast" "$top/producer-app.out" 2>/dev/null && break; sleep 0.05; done
sed 's/^/  [producer] /' "$top/producer-app.out"

phase "Consumer app: discover, prices, select, pay, deliver 3 units in two sessions"
python3 -u examples/python/consumer.py --socket "$top/car.sock" --name carwash --units 3 | sed 's/^/  [consumer] /'

phase "Producer app: deliveries acknowledged"
wait "$producer_app"
sed 's/^/  [producer] /' "$top/producer-app.out" | tail -n +2

phase "wpwctl: the consumer's purchases"
"$bin/wpwctl" --socket "$top/car.sock" purchases | sed 's/^/  /'

orders="$(grep -c '"order.placed"' "$top/sandbox-audit.jsonl" || true)"
echo
echo "Sandbox gateway: $orders order(s) placed; the card number never left the consumer (audit: $(grep -o '"card":"[^"]*"' "$top/sandbox-audit.jsonl" | sort -u | tr '\n' ' '))"
[ "$orders" = 1 ] || { echo "demo: expected exactly one order at the gateway" >&2; exit 1; }
echo "demo: done"

#!/usr/bin/env bash
# After the daemon's methods, results, errors or events change: fetch `rpc.discover` from a built daemon
# with both roles, save it as the four clients' snapshot (clients/{python,node,java,dotnet}/openrpc.json) and
# run the five generators (Python, Node.js, Java, .NET, and the Swift client's types), so the clients' typed layers and the tests that
# compare the snapshot with a live daemon agree again. Review and commit the result with the daemon change.
#
#   scripts/regenerate-clients.sh            # binaries from .build/debug (swift build first)
#   WPW_BIN=dir scripts/regenerate-clients.sh
#
# Needs python3, node, javac (JDK 17+) and mono/mcs (the test scripts install them when missing).
# The Java and .NET generators also read docs/rpc.md's error table and event list: update them first.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
bin="${WPW_BIN:-$repo/.build/debug}"
[ -x "$bin/wpwithind" ] || { echo "regenerate-clients: $bin/wpwithind not found: swift build first, or set WPW_BIN" >&2; exit 1; }

tmp="$(mktemp -d /tmp/wpw-regen.XXXXXX)"
pid=""
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
mkdir -m 700 "$tmp/state"
sock="$tmp/wpwithin.sock"
# Both roles, nothing on the network but loopback; no discovery, no gateway needed for rpc.discover.
WPWITHIND_HTE_HOST=127.0.0.1 WPWITHIND_HTE_PORT=0 WPWITHIND_ADVERTISED_HOST=127.0.0.1 \
WPWITHIND_BROADCAST_ADDRESS=127.255.255.255 WPWITHIND_BROADCAST_SOURCE=127.0.0.1 \
  "$bin/wpwithind" --state-dir "$tmp/state" --socket "$sock" --log-level warning >"$tmp/daemon.log" 2>&1 &
pid=$!
for _ in $(seq 300); do [ -S "$sock" ] && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
[ -S "$sock" ] || { echo "regenerate-clients: the daemon did not start:" >&2; cat "$tmp/daemon.log" >&2; exit 1; }

python3 clients/python/tools/generate.py --socket "$sock"
(cd clients/node && node scripts/generate.js --socket "$sock")
for client in java dotnet; do cp clients/python/openrpc.json "clients/$client/openrpc.json"; done
# The Swift client's result and event types (Sources/WPWithinClient/GeneratedTypes.swift): swift build again after.
python3 scripts/generate-swift-types.py

mkdir -p "$tmp/java"
javac -nowarn -encoding UTF-8 -d "$tmp/java" clients/java/src/main/java/wpwithin/client/Json{,Object,Backed}.java clients/java/tools/Generate.java
java -Dwpw.javaClient=clients/java -cp "$tmp/java" Generate

mcs -nologo -langversion:7 -out:"$tmp/Generate.exe" clients/dotnet/tools/Generate.cs clients/dotnet/src/Json.cs
mono "$tmp/Generate.exe" clients/dotnet/openrpc.json clients/dotnet/src/Generated.cs

echo "regenerate-clients: done; the snapshots and generated code changed:" >&2
git status --short clients Sources/WPWithinClient >&2

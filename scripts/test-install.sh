#!/usr/bin/env bash
# The installed binaries stand on their own (issue 17, item 3): `make install` into a scratch root, check
# what they link (ldd: no Swift runtime, no Foundation, no curl, no libpq) and their size, then run them in a mount
# namespace where the Swift toolchain's directory is an empty tmpfs: `--version`, `--check-config`, and a
# daemon that starts (READY on its socket), answers `wpwctl status` and stops on SIGTERM with 0.
# Needs root (mount namespace); without it, says so and skips the namespace part.
set -euo pipefail
cd "$(dirname "$0")/.."

toolchain=$(dirname "$(dirname "$(readlink -f "$(command -v swift)")")")  # e.g. /opt/swift/usr
root=$(mktemp -d /tmp/wpw-install.XXXXXX)
trap 'rm -rf "$root"' EXIT
make -s install DESTDIR="$root" PREFIX=/usr >/dev/null
bin="$root/usr/bin"
fail() { echo "test-install: FAIL: $*" >&2; exit 1; }

for exe in "$bin/wpwithind" "$bin/wpwctl" "$root/usr/lib/wpwithind/wpw-sandbox-gateway"; do
  [ -x "$exe" ] || fail "$exe is not installed"
  if ldd "$exe" | grep -E 'libswift|Foundation|curl|libdispatch|BlocksRuntime|libpq|'"$toolchain"; then
    fail "$(basename "$exe") links the Swift runtime, Foundation, curl or libpq (above; docs/fleet.md)"
  fi
  file "$exe" 2>/dev/null | grep -q 'not stripped' && fail "$(basename "$exe") is not stripped"
done
[ ! -e "$bin/wpw-sandbox-gateway" ] || fail "the sandbox gateway (a test tool) is in the production bin"
zcat "$root/usr/share/man/man5/wpwithind.json.5.gz" | grep -q '^\.It Cm rpc\.socketPath' || fail "wpwithind.json(5) lacks the keys"
for page in man1/wpwctl.1.gz man5/wpwithind.json.5.gz man8/wpwithind.8.gz; do
  zcat "$root/usr/share/man/$page" | grep -q '^\.Sh SYNOPSIS' || fail "no man page $page"
  # It renders, and says nothing about itself while rendering (where man-db is installed).
  if command -v man >/dev/null; then
    [ -z "$(zcat "$root/usr/share/man/$page" | MANWIDTH=80 man -l - 2>&1 >/dev/null)" ] || fail "man -l complains about $page"
  fi
done
# Completions: present and parsed by their shells (zsh and fish when installed).
share=$root/usr/share
bash -n "$share/bash-completion/completions/wpwctl" || fail "the bash completion does not parse"
grep -q -- '---completion call' "$share/bash-completion/completions/wpwctl" || fail "no live method completion in bash"
[ -s "$share/zsh/vendor-completions/_wpwctl" ] || fail "no zsh completion"
[ -s "$share/fish/vendor_completions.d/wpwctl.fish" ] || fail "no fish completion"
if command -v zsh >/dev/null; then zsh -n "$share/zsh/vendor-completions/_wpwctl" || fail "the zsh completion does not parse"; fi
if command -v fish >/dev/null; then fish -n "$share/fish/vendor_completions.d/wpwctl.fish" || fail "the fish completion does not parse"; fi
for exe in "$bin/wpwithind" "$bin/wpwctl"; do
  readelf -d "$exe" | grep -Eq 'RPATH|RUNPATH' && fail "$(basename "$exe") has a RUNPATH (libraries looked for beside it)"
done
size=$(stat -c %s "$bin/wpwithind")
# Issue 17's bound for the daemon on disk (15 MB today, docs/operations.md "What it weighs").
[ "$size" -le $((20 * 1024 * 1024)) ] || fail "wpwithind is $((size / 1024)) KiB on disk, over 20 MiB"
echo "test-install: wpwithind $((size / 1024)) KiB on disk; ldd:" $(ldd "$bin/wpwithind" | awk '{print $1}' | tr '\n' ' ')

if ! unshare -m true 2>/dev/null; then
  echo "test-install: SKIP the hidden-toolchain run (unshare -m needs root)" >&2
  exit 0
fi

# Inside the namespace the toolchain's directory is empty: anything still loaded from it fails to start.
unshare -m bash -euo pipefail -s "$toolchain" "$root" <<'INNER'
toolchain=$1 root=$2 bin=$2/usr/bin
mount -t tmpfs none "$toolchain"
[ -z "$(ls -A "$toolchain")" ] || { echo "test-install: the toolchain is still visible" >&2; exit 1; }
"$bin/wpwithind" --version
"$bin/wpwctl" --version
"$root/usr/lib/wpwithind/wpw-sandbox-gateway" --help >/dev/null
"$bin/wpwithind" --config "$root/etc/wpwithind/wpwithind.json" --check-config

run=$root/run && mkdir -p "$run" && chmod 700 "$run"
export WPWITHIND_HTE_HOST=127.0.0.1 WPWITHIND_HTE_PORT=0 WPWITHIND_ADVERTISED_HOST=127.0.0.1
export WPWITHIND_BROADCAST_ADDRESS=127.255.255.255 WPWITHIND_BROADCAST_SOURCE=127.0.0.1
export WPWITHIND_SCAN_BIND_ADDRESS=127.0.0.1 WPWITHIND_DISCOVERY_PORT=$((40000 + RANDOM % 20000))
export WPWITHIND_GATEWAY_ENDPOINT=http://127.0.0.1:9
"$bin/wpwithind" --state-dir "$run/state" --socket "$run/rpc.sock" --log-level info 2> "$run/daemon.log" &
pid=$!
for _ in $(seq 300); do
  "$bin/wpwctl" --socket "$run/rpc.sock" status > "$run/status.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$run/daemon.log" >&2; echo "test-install: the daemon exited" >&2; exit 1; }
  sleep 0.1
done
grep -q ready "$run/status.out" || { cat "$run/status.out" "$run/daemon.log" >&2; echo "test-install: no status" >&2; exit 1; }
# The static runtime hides the hook NIO's takeover looks up; the daemon must have installed it itself, or
# every await hops to Dispatch's threads (≈ 25 % more CPU per purchase).
grep -q 'executor.takeover=hookAddress' "$run/daemon.log" \
  || { grep -i executor "$run/daemon.log" >&2; echo "test-install: the event loops are not the global executor" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid" || { echo "test-install: the daemon exited with $?" >&2; exit 1; }
echo "test-install: the installed daemon started, answered and stopped with the toolchain hidden"
INNER
echo "test-install: ok"

#!/usr/bin/env bash
# Makes sure the C packages and tools the build and tests need are present.
# As root it installs what is missing with apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
packages=(libsystemd-dev libssl-dev libsqlite3-dev libpq-dev pkg-config)
# postgresql: the tests start throwaway servers (initdb + pg_ctl) for the fleet store's layer.
[ "${1:-}" = "test" ] && packages+=(systemd python3 file postgresql procps)
[ "${1:-}" = "demo" ] && packages+=(python3)
[ "${1:-}" = "deb" ] && packages+=(lintian file)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends "${missing[@]}"; }
  else
    echo "deps: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
command -v swift >/dev/null || { echo "deps: the Swift 6 toolchain (swift) is not on PATH" >&2; exit 1; }

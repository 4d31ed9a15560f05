#!/usr/bin/env bash
# The .NET client's tests (clients/dotnet/tests, with the examples) against the built daemons, on Mono.
# `make test` runs it after the Node.js tests. Needs the binaries in $WPW_BIN (default .build/debug).
#
# Builds everything with Mono's C# compiler (mcs) into clients/dotnet/build: the generator (which must find
# src/Generated.cs up to date with clients/dotnet/openrpc.json), the WPWithin.dll library, the examples and the
# NUnit 2.6 test assembly; then runs nunit-console. As root on Debian it installs what is missing
# (mono-devel, libnunit-cil-dev, nunit-console) with apt-get; otherwise it prints the command and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export WPW_REPO="$repo"
export WPW_BIN="${WPW_BIN:-$repo/.build/debug}"
dir="$repo/clients/dotnet"
out="$dir/build"
packages="mono-devel libnunit-cil-dev nunit-console"

for exe in wpwithind wpw-sandbox-gateway; do
  [ -x "$WPW_BIN/$exe" ] || { echo "test-dotnet: $WPW_BIN/$exe is missing: build first (swift build) or set WPW_BIN" >&2; exit 1; }
done

nunit_framework() { ls /usr/lib/cli/nunit.framework-2.6*/nunit.framework.dll 2>/dev/null | head -n 1; }
have_tools() { command -v mono >/dev/null && command -v mcs >/dev/null && command -v nunit-console >/dev/null && [ -n "$(nunit_framework)" ]; }
if ! have_tools; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test-dotnet: installing $packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $packages >/dev/null 2>&1 \
      || { apt-get update >/dev/null && apt-get install -y --no-install-recommends $packages >/dev/null; }
  else
    echo "test-dotnet: Mono and NUnit 2.6 are needed; run: sudo apt-get install -y $packages" >&2
    exit 1
  fi
fi
have_tools || { echo "test-dotnet: mono, mcs, nunit-console or nunit.framework.dll still missing after installing $packages" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
mcs_() { mcs -nologo -langversion:7 -warnaserror+ -nowarn:1591,1573 "$@"; }

# 1. The generator, and the generated code up to date with the snapshot.
mcs_ -out:"$out/Generate.exe" "$dir/tools/Generate.cs" "$dir/src/Json.cs"
mono "$out/Generate.exe" "$dir/openrpc.json" "$dir/src/Generated.cs" --check
# The same generator on a document with the result and event schemas filled in gives real classes.
mono "$out/Generate.exe" "$dir/tools/richer-openrpc.json" "$out/Richer.cs"
# 2. The library (what WPWithin.csproj builds for dotnet users), with its XML documentation.
mcs_ -target:library -r:System.Core -out:"$out/WPWithin.dll" -doc:"$out/WPWithin.xml" "$dir"/src/*.cs
mcs_ -target:library -r:System.Core -out:"$out/Richer.dll" "$out/Richer.cs" $(ls "$dir"/src/*.cs | grep -v Generated.cs)
# 3. The examples and the tests.
for example in CarwashProducer Consumer; do
  mcs_ -r:"$out/WPWithin.dll" -out:"$out/$example.exe" "$dir/examples/$example.cs"
done
cp "$(nunit_framework)" "$out/"
mcs_ -target:library -r:System.Core -r:"$out/WPWithin.dll" -r:"$out/nunit.framework.dll" -out:"$out/WPWithin.Tests.dll" "$dir"/tests/*.cs

echo "test-dotnet: $(mono --version | head -n 1), binaries from $WPW_BIN" >&2
cd "$out"
exec timeout --kill-after=10 600 nunit-console -nologo -labels -noresult -timeout=120000 "$out/WPWithin.Tests.dll" "$@"

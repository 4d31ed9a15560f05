#!/usr/bin/env bash
# The Python client's tests (clients/python/tests, with the examples) against the built daemons.
# `make test` runs it after the Swift tests. Needs the binaries in $WPW_BIN (default .build/debug).
#
# Installs the client with `pip install --target .build-python/site ./clients/python` (a directory of
# its own: no virtual environment needed, and Debian's "externally managed" system Python is left
# alone) and tests that installed copy; pytest and jsonschema go there too when the Python has none. Without pip it
# runs from the source tree. As root on Debian it installs python3-pip when pip is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export WPW_BIN="${WPW_BIN:-$repo/.build/debug}"
python="${PYTHON:-python3}"
site="$repo/.build-python/site"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_ROOT_USER_ACTION=ignore

for exe in wpwithind wpw-sandbox-gateway; do
  if [ ! -x "$WPW_BIN/$exe" ]; then
    echo "test-python: $WPW_BIN/$exe is missing: build first (swift build) or set WPW_BIN" >&2
    exit 1
  fi
done
command -v "$python" >/dev/null || { echo "test-python: $python is not on PATH" >&2; exit 1; }

have_pip() { "$python" -m pip --version >/dev/null 2>&1; }
if ! have_pip && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test-python: installing python3-pip" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends python3-pip >/dev/null 2>&1 \
    || { apt-get update >/dev/null && apt-get install -y --no-install-recommends python3-pip >/dev/null; }
fi

rm -rf "$site"
mkdir -p "$site"
if have_pip; then
  # jsonschema: the OpenRPC test validates every answer against rpc.discover's schemas (tests/test_openrpc.py).
  # One pip call for both (two into one --target warn about each other's files).
  missing=()
  "$python" -c "import pytest" 2>/dev/null || missing+=(pytest)
  "$python" -c "import jsonschema" 2>/dev/null || missing+=(jsonschema)
  [ "${#missing[@]}" -eq 0 ] || "$python" -m pip install -q --target "$site" "${missing[@]}"
  # pip builds in the source tree: clear what a build leaves there.
  rm -rf clients/python/build clients/python/src/wpwithin.egg-info
  if "$python" -m pip install -q --target "$site" --no-deps ./clients/python; then
    export WPW_PY_INSTALLED=1
  else
    echo "test-python: pip install ./clients/python failed; testing the source tree" >&2
  fi
  rm -rf clients/python/build clients/python/src/wpwithin.egg-info
else
  echo "test-python: no pip; testing the source tree" >&2
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
"$python" -c "import pytest" 2>/dev/null || { echo "test-python: pytest is missing and could not be installed" >&2; exit 1; }
"$python" -c "import jsonschema" 2>/dev/null || { echo "test-python: jsonschema is missing and could not be installed" >&2; exit 1; }

export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
echo "test-python: $("$python" --version)${WPW_PY_INSTALLED:+, installed client}, binaries from $WPW_BIN" >&2
exec timeout --kill-after=10 600 "$python" -m pytest clients/python/tests -q -p no:cacheprovider "$@"

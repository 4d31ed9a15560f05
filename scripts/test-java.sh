#!/usr/bin/env bash
# The Java client's tests (clients/java/src/test, with the examples in clients/java/examples) against the
# built daemons: javac and the JUnit 5 console launcher, no Maven, no network. `make test` runs it after
# the Node.js tests. Needs the binaries in $WPW_BIN (default .build/debug).
#
# JDK >= 17 and JUnit 5 come from Debian's packages (default-jdk-headless, junit5): as root it installs
# them with apt-get when missing (waiting for another apt-get to finish); otherwise it prints the command
# and fails. Builds into .build-java/ (gitignored); checks that the generated sources are what
# clients/java/tools/Generate.java makes from clients/java/openrpc.json and docs/rpc.md.
# Extra arguments go to the JUnit console launcher (e.g. --select-class wpwithin.client.EventsTest).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
export WPW_BIN="${WPW_BIN:-$repo/.build/debug}"
min_java=17

for exe in wpwithind wpw-sandbox-gateway; do
  [ -x "$WPW_BIN/$exe" ] || { echo "test-java: $WPW_BIN/$exe not found: build first (swift build) or set WPW_BIN" >&2; exit 1; }
done

java_major() { javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p'; }
junit_jar() { dpkg -L junit5 2>/dev/null | grep -m1 '/junit-platform-console-standalone\.jar$' || true; }
install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-java: installing $*" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >/dev/null 2>&1 \
      || { apt-get -o DPkg::Lock::Timeout=600 update >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >/dev/null; }
  else
    echo "test-java: missing $*; run: sudo apt-get install -y $*" >&2
    exit 1
  fi
}
if ! command -v javac >/dev/null 2>&1 || [ "$(java_major || echo 0)" -lt "$min_java" ]; then
  install default-jdk-headless
fi
[ "$(java_major || echo 0)" -ge "$min_java" ] || { echo "test-java: javac >= $min_java is needed (found: $(javac -version 2>&1 || echo none))" >&2; exit 1; }
[ -n "$(junit_jar)" ] || install junit5
junit="$(junit_jar)"
[ -f "$junit" ] || { echo "test-java: the JUnit console launcher is missing after installing junit5" >&2; exit 1; }

client=clients/java
out="$repo/.build-java"
rm -rf "$out"
mkdir -p "$out"
# The client: nothing but the JDK; warnings are errors.
javac --release "$min_java" -Xlint:all -Werror -encoding UTF-8 -d "$out/classes" $(find "$client/src/main/java" -name '*.java' | sort)
# The generated sources are up to date (the generator compiles with the client's JSON classes).
javac --release "$min_java" -encoding UTF-8 -d "$out/tools" "$client"/src/main/java/wpwithin/client/Json{,Object,Backed}.java "$client/tools/Generate.java"
java -Dwpw.javaClient="$client" -cp "$out/tools" Generate --check
# The examples and the tests.
javac --release "$min_java" -Xlint:all -Werror -encoding UTF-8 -cp "$out/classes" -d "$out/examples" "$client"/examples/*.java
# GeneratorTest runs the generator (its classes are on the tests' class path).
javac --release "$min_java" -encoding UTF-8 -cp "$out/classes:$out/tools:$junit" -d "$out/test-classes" $(find "$client/src/test/java" -name '*.java' | sort)

# Every test class, unless the arguments select some (e.g. --select-class wpwithin.client.EventsTest).
selection=(--scan-class-path)
[ $# -gt 0 ] && selection=()
echo "test-java: $(javac -version 2>&1), JUnit 5 (junit5 $(dpkg-query -W -f='${Version}' junit5 2>/dev/null)), binaries from $WPW_BIN" >&2
exec timeout --kill-after=10 600 java -Dwpw.repo="$repo" -Dwpw.client="$out/classes" -Dwpw.examples="$out/examples" \
  -jar "$junit" --disable-banner --disable-ansi-colors --details=tree --fail-if-no-tests \
  --class-path "$out/classes:$out/tools:$out/test-classes" "${selection[@]}" "$@"

#!/usr/bin/env bash
# Checks that the project builds and installs where GoogleTest is missing, as
# on a machine that wants only the library: configures with nothing set but
# find_package(GTest) disabled, expects the one message that says how to get
# the tests, builds, then installs into a scratch prefix and builds a consumer
# against it there (tests/package/run.sh install).
#   scripts/test-without-gtest.sh
# JOBS sets the build's parallelism (default: one per core).
set -euo pipefail

source_dir=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# fail MESSAGE [LOG]: prints LOG, if any, then MESSAGE, and fails.
fail() {
  [ -n "${2:-}" ] && cat "$2"
  echo "FAIL (without GoogleTest): $1" >&2
  exit 1
}

cmake -S "$source_dir" -B "$build" "${generator[@]}" -DCMAKE_DISABLE_FIND_PACKAGE_GTest=TRUE \
  >"$build/configure.log" 2>&1 || fail "configuring" "$build/configure.log"
grep -q "GoogleTest was not found, so the tests are not built" "$build/configure.log" \
  || fail "no message saying the tests are left out" "$build/configure.log"
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || fail "building" "$build/build.log"
[ ! -e "$build/tests" ] || fail "the tests were configured although GoogleTest is missing"
"$source_dir/tests/package/run.sh" install "$source_dir" "$build"
echo "ok: built and installed without GoogleTest"

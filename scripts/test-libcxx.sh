#!/usr/bin/env bash
# Checks <linux_ext/format.h> (std::format support) where it is not empty:
# builds the library and tests/std_format_test.cc with clang++-16 against
# libc++ 16, whose <format> works under -fexperimental-library (GCC 12's
# libstdc++ has none), and runs the test in C++20 and in C++23. The library
# is built apart, in its own build directory, because a library built
# against libstdc++ cannot be linked into a libc++ program.
#
#   scripts/test-libcxx.sh [BUILD_DIR]    (default: build-libcxx)
#
# Installs the Debian packages it needs when they are missing (as root;
# otherwise prints the apt-get command). JOBS sets the build's parallelism.

set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-$root/build-libcxx}
jobs=${JOBS:-$(nproc)}
cxx=clang++-16
cxx_flags="-stdlib=libc++ -fexperimental-library"
packages=(clang-16 libc++-16-dev libc++abi-16-dev cmake ninja-build)

# Prints a command, then runs it.
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  "$@"
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "Installing Debian packages: ${missing[*]}"
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "Missing Debian packages. Run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi

run cmake -S "$root/tests/std_format" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$cxx_flags"
run cmake --build "$build" -j "$jobs"

status=0
for test in std_format_test_cxx20 std_format_test_cxx23; do
  run "$build/$test" || status=1
done
exit "$status"

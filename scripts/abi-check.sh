#!/usr/bin/env bash
# Checks the ABI of the shared library against the baseline kept in
# abi/liblinux_ext.abi, with libabigail: builds liblinux_ext.so (Release,
# with debug info, which abidw reads), writes its ABI with abidw, restricted
# to the types of the public headers (include/), and compares it with the
# baseline with abidiff. Any change but additions fails: a removed or changed
# function, and a change in the layout of a class the headers define,
# private members included, since set, remove, wait and the walks are inline
# and read that layout in the user's program.
#   scripts/abi-check.sh [BUILD_DIR]            (default: build-abi)
#   scripts/abi-check.sh --update [BUILD_DIR]   writes the baseline instead
# --update (`make abi-baseline`) refuses a baseline that breaks the old one
# while the soname is still the old one: bump the version first. JOBS sets
# the build's parallelism.
set -euo pipefail

source_dir=$(cd "$(dirname "$0")/.." && pwd)
update=false
if [ "${1:-}" = --update ]; then
  update=true
  shift
fi
build=${1:-$source_dir/build-abi}
jobs=${JOBS:-$(nproc)}
baseline=$source_dir/abi/liblinux_ext.abi
# Symbols that are not the library's interface (abi/suppressions.abignore).
suppressions=$source_dir/abi/suppressions.abignore
current=$build/liblinux_ext.abi

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# How to make an incompatible change on purpose, for the failure messages.
how_to_accept="If the change is meant, it needs a new soname: in one commit, raise the
version in CMakeLists.txt's project() (the major version; while it is 0, the
minor one), which SOVERSION follows, say so in CHANGELOG.md, and regenerate
the baseline with \`make abi-baseline\`."

mkdir -p "$build"
cmake -S "$source_dir" -B "$build" "${generator[@]}" -DBUILD_SHARED_LIBS=ON -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS_RELEASE="-O3 -DNDEBUG -g" -DLINUX_EXT_TEST=OFF -DLINUX_EXT_EXAMPLES=OFF \
  -DLINUX_EXT_TOOLS=OFF -DLINUX_EXT_INSTALL=OFF >"$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
library=$(readlink -f "$build/liblinux_ext.so")

# The ABI with file names only, and without this checkout's path in the
# names of the translation units, so that it reads the same on any machine.
abidw --headers-dir "$source_dir/include" --no-corpus-path --no-comp-dir-path --short-locs \
  --type-id-style hash --out-file "$current" "$library"
sed -i "s|$source_dir/||g" "$current"

# compare OLD NEW: abidiff's report and status. Without its default
# suppressions, which would hide a change in a type reached only through a
# standard template, such as the Slot array behind a std::unique_ptr; added
# symbols are compatible.
compare() {
  abidiff --no-default-suppression --no-added-syms --suppressions "$suppressions" "$1" "$2"
}

# soname FILE: the soname an ABI file records.
soname() {
  sed -n "s/.*<abi-corpus [^>]*soname='\([^']*\)'.*/\1/p" "$1" | head -n 1
}

if $update; then
  if [ -f "$baseline" ] && ! report=$(compare "$baseline" "$current") \
    && [ "$(soname "$baseline")" = "$(soname "$current")" ]; then
    echo "$report"
    echo "abi: the ABI changed incompatibly, and the soname is still $(soname "$current")."
    echo "$how_to_accept"
    exit 1
  fi
  cp "$current" "$baseline"
  echo "abi: baseline written: abi/liblinux_ext.abi ($(soname "$current"))"
  exit 0
fi

[ -f "$baseline" ] || { echo "abi: no baseline at $baseline: make abi-baseline writes it"; exit 1; }
if ! compare "$baseline" "$current"; then
  echo "abi: liblinux_ext.so ($(soname "$current")) breaks the ABI of the baseline abi/liblinux_ext.abi ($(soname "$baseline"))."
  echo "$how_to_accept"
  exit 1
fi
echo "abi: $(soname "$current") keeps the ABI of abi/liblinux_ext.abi"

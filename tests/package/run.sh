#!/usr/bin/env bash
# Builds tests/package/main.cc against linux_ext one way and runs it.
#   run.sh install|pkgconfig|subdirectory|fetchcontent SOURCE_DIR BUILD_DIR
#   run.sh deb SOURCE_DIR DEB_FILE
# install and pkgconfig install BUILD_DIR (already built) into a scratch
# prefix; deb unpacks the package into a scratch root. Everything happens in
# a temporary directory that is removed at the end. CXXFLAGS and LDFLAGS, when
# set, reach both the library and the consumer (a sanitizer build needs them
# on both sides).
set -euo pipefail

mode=$1
source_dir=$(cd "$2" && pwd)
third=$3
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

fail() {
  echo "FAIL ($mode): $*"
  exit 1
}

# build_with_cmake ARGS...: configures and builds the consumer project.
build_with_cmake() {
  cmake -S "$here" -B "$scratch/consumer" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@" >"$scratch/log" 2>&1 \
    || { cat "$scratch/log"; fail "configuring the consumer"; }
  cmake --build "$scratch/consumer" -j 2 >>"$scratch/log" 2>&1 \
    || { cat "$scratch/log"; fail "building the consumer"; }
  consumer=$scratch/consumer/consumer
}

# build_with_pkg_config PREFIX: compiles the consumer with the flags
# linux_ext.pc gives, the prefix moved to where the files really are.
build_with_pkg_config() {
  local prefix=$1 pc
  pc=$(find "$prefix" -name linux_ext.pc | head -n 1)
  [ -n "$pc" ] || fail "no linux_ext.pc under $prefix"
  local flags
  flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$prefix" --cflags --libs linux_ext) \
    || fail "pkg-config does not know linux_ext"
  # shellcheck disable=SC2086
  ${CXX:-c++} -std=c++20 ${CXXFLAGS:-} "$here/main.cc" -o "$scratch/consumer-pc" $flags ${LDFLAGS:-} \
    || fail "compiling with: $flags"
  consumer=$scratch/consumer-pc
}

# run_consumer: the consumer must succeed and print the set with its pipe.
run_consumer() {
  local out
  out=$("$consumer") || fail "the consumer failed: $out"
  [[ $out =~ ^\(\(epollfd\ [0-9]+\)\ \(flags_by_fd\ \(\([0-9]+\ \(in\)\)\)\)\ \(max_ready_events\ 8\)\ \(num_ready_events\ 1\) ]] \
    || fail "unexpected output: $out"
  echo "$out"
}

# check_tool ROOT: lsepoll and its man page are installed and lsepoll runs.
check_tool() {
  local root=$1 bin man
  bin=$(find "$root" -path '*/bin/lsepoll' | head -n 1)
  man=$(find "$root" -path '*/man1/lsepoll.1*' | head -n 1)
  [ -x "$bin" ] || fail "lsepoll is not installed"
  [ -n "$man" ] || fail "the lsepoll man page is not installed"
  "$bin" $$ >/dev/null || fail "the installed lsepoll does not run"
}

case $mode in
  install)
    cmake --install "$third" --prefix "$scratch/prefix" >/dev/null
    build_with_cmake -DLINUX_EXT_CONSUME=find_package -DCMAKE_PREFIX_PATH="$scratch/prefix"
    check_tool "$scratch/prefix"
    ;;
  pkgconfig)
    cmake --install "$third" --prefix "$scratch/prefix" >/dev/null
    build_with_pkg_config "$scratch/prefix"
    ;;
  subdirectory)
    build_with_cmake -DLINUX_EXT_CONSUME=add_subdirectory -DLINUX_EXT_SOURCE_DIR="$source_dir"
    ;;
  fetchcontent)
    # The source as a release archive would hold it: no build trees, no .git.
    tar -C "$source_dir" --exclude='./build*' --exclude=./.git --exclude=./.cache -czf "$scratch/linux_ext.tar.gz" .
    build_with_cmake -DLINUX_EXT_CONSUME=fetchcontent -DLINUX_EXT_URL="file://$scratch/linux_ext.tar.gz"
    ;;
  deb)
    [ -f "$third" ] || fail "no package at $third"
    dpkg-deb -x "$third" "$scratch/root"
    for f in include/linux_ext/epoll.h include/linux_ext/fmt.h; do
      [ -f "$scratch/root/usr/$f" ] || fail "the package lacks /usr/$f"
    done
    check_tool "$scratch/root"
    build_with_cmake -DLINUX_EXT_CONSUME=find_package -DCMAKE_PREFIX_PATH="$scratch/root/usr"
    run_consumer
    build_with_pkg_config "$scratch/root/usr"
    ;;
  *)
    echo "usage: run.sh install|pkgconfig|subdirectory|fetchcontent|deb SOURCE_DIR BUILD_DIR|DEB_FILE"
    exit 2
    ;;
esac
run_consumer
echo "ok: $mode"

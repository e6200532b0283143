#!/usr/bin/env bash
# Builds a consumer of linux_ext one way and runs it.
#   run.sh install|pkgconfig|c|subdirectory|fetchcontent SOURCE_DIR BUILD_DIR
#   run.sh deb SOURCE_DIR DEB_FILE
# The consumer is tests/package/main.cc, a C++ program; the c mode (and
# pkgconfig and deb, after main.cc) builds main.c instead, a C program that
# reaches the library through shim.cc and is linked by the C compiler with
# `pkg-config --static --libs`, which must bring the C++ runtime.
# install, pkgconfig and c install BUILD_DIR (already built) into a scratch
# prefix; deb unpacks the package into a scratch root. Everything happens in
# a temporary directory that is removed at the end. CXXFLAGS and LDFLAGS, when
# set, reach both the library and the consumer (a sanitizer build needs them
# on both sides); CC and CFLAGS, when set, compile and link main.c.
set -euo pipefail

mode=$1
source_dir=$(cd "$2" && pwd)
third=$3
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

# fail MESSAGE: on stderr, so that it shows from inside $(...) too.
fail() {
  echo "FAIL ($mode): $*" >&2
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

# pkg_config PREFIX ARGS...: pkg-config on the linux_ext.pc under PREFIX, the
# prefix moved to where the files really are.
pkg_config() {
  local prefix=$1 pc
  shift
  pc=$(find "$prefix" -name linux_ext.pc | head -n 1)
  [ -n "$pc" ] || fail "no linux_ext.pc under $prefix"
  PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$prefix" "$@" linux_ext \
    || fail "pkg-config does not know linux_ext"
}

# build_with_pkg_config PREFIX: compiles main.cc with the flags linux_ext.pc
# gives, and nothing else (its Cflags must select C++20).
build_with_pkg_config() {
  local flags
  flags=$(pkg_config "$1" --cflags --libs)
  # shellcheck disable=SC2086
  ${CXX:-c++} ${CXXFLAGS:-} "$here/main.cc" -o "$scratch/consumer-pc" $flags ${LDFLAGS:-} \
    || fail "compiling with: $flags"
  consumer=$scratch/consumer-pc
}

# build_c_with_pkg_config PREFIX: compiles shim.cc as C++ and main.c as C, and
# links them with the C compiler and `pkg-config --static --libs`.
build_c_with_pkg_config() {
  local cflags libs
  cflags=$(pkg_config "$1" --cflags)
  libs=$(pkg_config "$1" --static --libs)
  # shellcheck disable=SC2086
  ${CXX:-c++} ${CXXFLAGS:-} $cflags -c "$here/shim.cc" -o "$scratch/shim.o" \
    || fail "compiling shim.cc with: $cflags"
  # shellcheck disable=SC2086
  ${CC:-cc} ${CFLAGS:-} -c "$here/main.c" -o "$scratch/main.o" || fail "compiling main.c"
  # shellcheck disable=SC2086
  ${CC:-cc} "$scratch/main.o" "$scratch/shim.o" -o "$scratch/consumer-c" $libs ${LDFLAGS:-} \
    || fail "linking the C consumer with the C compiler and: $libs"
  c_consumer=$scratch/consumer-c
}

# run_consumer: the consumer must succeed and print the set with its pipe.
run_consumer() {
  local out
  out=$("$consumer") || fail "the consumer failed: $out"
  [[ $out =~ ^\(\(epollfd\ [0-9]+\)\ \(flags_by_fd\ \(\([0-9]+\ \(in\)\)\)\)\ \(max_ready_events\ 8\)\ \(num_ready_events\ 1\) ]] \
    || fail "unexpected output: $out"
  echo "$out"
}

# run_c_consumer: the C consumer must succeed, its one eventfd ready.
run_c_consumer() {
  local out
  out=$("$c_consumer") || fail "the C consumer failed: $out"
  [ "$out" = "ready events: 1" ] || fail "unexpected output from the C consumer: $out"
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
    run_consumer
    ;;
  pkgconfig)
    cmake --install "$third" --prefix "$scratch/prefix" >/dev/null
    build_with_pkg_config "$scratch/prefix"
    run_consumer
    build_c_with_pkg_config "$scratch/prefix"
    run_c_consumer
    ;;
  c)
    cmake --install "$third" --prefix "$scratch/prefix" >/dev/null
    build_c_with_pkg_config "$scratch/prefix"
    run_c_consumer
    ;;
  subdirectory)
    build_with_cmake -DLINUX_EXT_CONSUME=add_subdirectory -DLINUX_EXT_SOURCE_DIR="$source_dir"
    run_consumer
    ;;
  fetchcontent)
    # The source as a release archive would hold it: no build trees, no .git.
    tar -C "$source_dir" --exclude='./build*' --exclude=./.git --exclude=./.cache -czf "$scratch/linux_ext.tar.gz" .
    build_with_cmake -DLINUX_EXT_CONSUME=fetchcontent -DLINUX_EXT_URL="file://$scratch/linux_ext.tar.gz"
    run_consumer
    ;;
  deb)
    [ -f "$third" ] || fail "no package at $third"
    dpkg-deb -x "$third" "$scratch/root"
    for f in include/linux_ext/epoll.h include/linux_ext/fmt.h share/doc/linux_ext/LICENSE; do
      [ -f "$scratch/root/usr/$f" ] || fail "the package lacks /usr/$f"
    done
    check_tool "$scratch/root"
    build_with_cmake -DLINUX_EXT_CONSUME=find_package -DCMAKE_PREFIX_PATH="$scratch/root/usr"
    run_consumer
    build_with_pkg_config "$scratch/root/usr"
    run_consumer
    build_c_with_pkg_config "$scratch/root/usr"
    run_c_consumer
    ;;
  *)
    echo "usage: run.sh install|pkgconfig|c|subdirectory|fetchcontent|deb SOURCE_DIR BUILD_DIR|DEB_FILE"
    exit 2
    ;;
esac
echo "ok: $mode"

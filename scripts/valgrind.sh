#!/usr/bin/env bash
# Runs every unit-test program of BUILD_DIR, and every fuzz replay on the
# kept corpus, under valgrind memcheck, JOBS at a time (default: one per
# core). Each prints "valgrind clean: COMMAND", or "valgrind FAILED: COMMAND"
# followed by valgrind's report; any failure fails the script.
#   scripts/valgrind.sh BUILD_DIR
# BUILD_DIR is a build with the tests on (`make test-valgrind` builds it).
set -euo pipefail

build=$1
source_dir=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-$(nproc)}

# Any memory error, and any leak short of "still reachable", fails.
VALGRIND_FLAGS="--error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
--errors-for-leak-kinds=definite,indirect,possible --track-fds=no -q"

# Not run under valgrind: load_test, whose 9 000 connections would take an
# hour there; alloc_test, which counts allocations by replacing the C
# allocator (tests/count_allocations.h): valgrind replaces operator new, which
# then never reaches it, and aborts on pvalloc; and fork_threads_test and
# fork_first_create_test, whose children inherit what the parent's other
# threads hold (their tables, their std::thread state), reachable only from
# those threads' stacks, which a child does not have: valgrind checks each
# child for leaks as it exits and counts them lost. All four run natively and
# under a sanitizer.
skip='load_test|alloc_test|fork_threads_test|fork_first_create_test'

# Valgrind refuses to lower RLIMIT_NOFILE below the fds it keeps for itself,
# so the test that runs a child out of fds cannot set up there (the EMFILE
# path runs under valgrind through fault_injection_test instead).
gtest_filter=-CreateTest.ReturnsTheErrnoOfEpollCreate1

# The model tests replay seeds in 8 shards of 1 000 operations each; under
# valgrind, many times slower, one seed per shard.
export MODEL_SEEDS=${VALGRIND_MODEL_SEEDS:-1}
# Likewise the walk test: one seed of its five per shard.
export WALK_SEEDS=${VALGRIND_WALK_SEEDS:-1}

# run_one COMMAND: COMMAND (a program and its arguments) under valgrind; the
# report is shown only when it fails, so that parallel runs stay readable.
# Status 1 on failure: xargs carries on with the others, then fails.
run_one() {
  local log status=0
  log=$(mktemp)
  # shellcheck disable=SC2086  # both are lists of words
  valgrind $VALGRIND_FLAGS $1 >"$log" 2>&1 || status=1
  if ((status == 0)); then
    echo "valgrind clean: $1"
  else
    echo "valgrind FAILED: $1"
    cat "$log"
  fi
  rm -f "$log"
  return "$status"
}
export -f run_one
export VALGRIND_FLAGS

# commands: one line per program to run, with its arguments.
commands() {
  find tests -maxdepth 1 -type f -perm -u+x -name '*_test' | sort | grep -v -x -E "tests/($skip)" \
    | sed "s|\$| --gtest_brief=1 --gtest_filter=$gtest_filter|"
  for replay in fuzz/*_replay; do
    echo "$replay $source_dir/fuzz/corpus/$(basename "$replay" _replay)"
  done
}

cd "$build"
# shellcheck disable=SC2016  # "$1" is for the inner bash
commands | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {}

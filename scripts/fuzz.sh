#!/usr/bin/env bash
# Runs each libFuzzer target built in FUZZ_BUILD for SECONDS, starting from
# the kept corpus fuzz/corpus/NAME/ (which `make test` replays), then merges
# what it found into that corpus, keeping only the inputs that add coverage,
# so that the corpus grows in what it covers and not in size.
#   scripts/fuzz.sh FUZZ_BUILD SECONDS
# FUZZ_BUILD is a build with -DLINUX_EXT_FUZZ=ON (`make fuzz` builds it). The
# caller sets ASAN_OPTIONS and UBSAN_OPTIONS. A crashing input is left in
# FUZZ_BUILD/NAME-*, and the corpus is then left as it was.
set -euo pipefail

build=$1
seconds=$2
corpora=$(cd "$(dirname "$0")/.." && pwd)/fuzz/corpus

fuzzers=("$build"/fuzz/*_fuzz)
[ -x "${fuzzers[0]}" ] || { echo "no fuzz target in $build/fuzz: build it with -DLINUX_EXT_FUZZ=ON"; exit 1; }

for fuzzer in "${fuzzers[@]}"; do
  t=$(basename "$fuzzer" _fuzz)
  echo "fuzzing $t for $seconds s"
  mkdir -p "$build/corpus-$t"
  # New inputs go to the scratch corpus first; the kept one is only read.
  if ! "$fuzzer" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$build/$t-" \
      "$build/corpus-$t" "$corpora/$t" >"$build/$t.log" 2>&1; then
    tail -n 60 "$build/$t.log"
    echo "fuzz target $t failed; the input is in $build/$t-*"
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' "$build/$t.log"
  mkdir -p "$build/merged-$t"
  # The kept corpus is replaced only once the merge has succeeded.
  "$fuzzer" -merge=1 "$build/merged-$t" "$corpora/$t" "$build/corpus-$t" >/dev/null 2>&1 \
    && rm -rf "${corpora:?}/$t" && cp -r "$build/merged-$t" "$corpora/$t" && rm -rf "$build/merged-$t"
  echo "fuzz/corpus/$t: $(find "$corpora/$t" -maxdepth 1 -type f | wc -l) inputs"
done

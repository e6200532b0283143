#!/usr/bin/env bash
# The deterministic figures: user-space instructions (callgrind, collected
# only between the toggles around the measured steps of `compare count`)
# and system calls (strace -c, the difference between a run of 2K steps and
# one of K, so that setup cancels out), for every library against raw epoll.
# Prints markdown tables.
#
#   bench/callgrind.sh BUILD_DIR [--quick]
# --quick: raw epoll and linux_ext::Epoll only, and no bench.c.
set -euo pipefail
export LC_ALL=C

compare="$1/bench/compare"
quick="${2:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ "$quick" = "--quick" ]; then
  libraries="raw linux_ext"
else
  libraries="raw linux_ext libev libevent libuv asio"
fi
# workload, steps: enough steps that the warm-up and the toggles vanish.
# churn:1000:2 is the pattern any harness can repeat: 1 000 pipes, 2 passes,
# per fd per pass set, modify, modify back, remove.
workloads="ready:1:2000 ready:64:500 churn:1000:2 unchanged:100:50"
[ "$quick" = "--quick" ] || workloads="$workloads bench_c:1000:100:3"

# instructions WORKLOAD LIBRARY STEPS: "Ir ops" of the measured steps.
instructions() {
  local out="$work/callgrind.$2.${1//:/_}"
  local ops
  ops=$(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
          "$compare" count "$1" "$2" "$3" 2>/dev/null)
  if [ "$ops" = "n/a" ]; then echo "n/a"; return; fi
  echo "$(awk '/^totals:/ { print $2; exit }' "$out") $ops"
}

# syscalls WORKLOAD LIBRARY STEPS: "name=calls-per-step ..." from strace -c
# over 2*STEPS minus over STEPS.
syscalls() {
  local one="$work/strace.1" two="$work/strace.2"
  if [ "$("$compare" count "$1" "$2" 1)" = "n/a" ]; then echo "n/a"; return; fi
  strace -f -c -o "$one" "$compare" count "$1" "$2" "$3" >/dev/null
  strace -f -c -o "$two" "$compare" count "$1" "$2" "$((2 * $3))" >/dev/null
  awk -v steps="$3" '
    $NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" { calls[$NF] += (FILENAME == ARGV[2] ? $4 : -$4) }
    END {
      out = ""
      for (name in calls) if (calls[name] != 0) out = out sprintf("%s%s %g", out == "" ? "" : ", ", name, calls[name] / steps)
      print out == "" ? "none" : out
    }' "$one" "$two"
}

declare -A ir ops sys
for library in $libraries; do
  for spec in $workloads; do
    workload="${spec%:*}" steps="${spec##*:}"
    read -r ir["$library,$workload"] ops["$library,$workload"] < <(instructions "$workload" "$library" "$steps" | awk '{ print $1, ($2 == "" ? "n/a" : $2) }')
    sys["$library,$workload"]="$(syscalls "$workload" "$library" "$steps")"
  done
done

# per WORKLOAD LIBRARY: instructions per operation of the workload.
per() {
  local i="${ir[$2,$1]}" o="${ops[$2,$1]}"
  if [ "$i" = "n/a" ]; then echo "n/a"; else awk -v i="$i" -v o="$o" 'BEGIN { printf "%.2f", i / o }'; fi
}
# wait_and_event LIBRARY: "per-wait per-event" from ready:1 and ready:64:
# an iteration costs wait + N * event.
wait_and_event() {
  local one two
  one=$(per ready:1 "$1") two=$(per ready:64 "$1")
  if [ "$one" = "n/a" ]; then echo "n/a n/a"; return; fi
  awk -v a="$one" -v b="$two" 'BEGIN { e = (b - a) / 63; printf "%.2f %.2f\n", a - e, e }'
}
# versus VALUE RAW: "VALUE (raw + DIFF)".
versus() {
  if [ "$1" = "n/a" ]; then echo "n/a"; else awk -v v="$1" -v r="$2" 'BEGIN { printf "%.2f (raw %+.2f)", v, v - r }'; fi
}

read -r raw_wait raw_event < <(wait_and_event raw)
raw_churn=$(per churn:1000 raw) raw_unchanged=$(per unchanged:100 raw)
[ "$quick" = "--quick" ] || raw_bench_c=$(per bench_c:1000:100 raw)

echo
echo "### User-space instructions (callgrind)"
echo
echo "Counted only around the measured steps. Per wait and per ready event walked: from one non-blocking wait with 1"
echo "and with 64 always-ready eventfds (an iteration costs wait + N × event). Churn: 1 000 empty pipes, 2 passes, per"
echo "fd per pass set, modify, modify back, remove, each call one operation, no loop iteration. Unchanged: per \`set\`"
echo "with the flags an fd already has, no loop iteration."
echo
if [ "$quick" = "--quick" ]; then
  echo "| library | per wait | per ready event | per churn operation | per unchanged set |"
  echo "| --- | ---: | ---: | ---: | ---: |"
else
  echo "| library | per wait | per ready event | per churn operation | per unchanged set | per bench.c run (n=1000, a=100, 1 000 writes) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
fi
for library in $libraries; do
  read -r w e < <(wait_and_event "$library")
  row="| $library | $(versus "$w" "$raw_wait") | $(versus "$e" "$raw_event") | $(versus "$(per churn:1000 "$library")" "$raw_churn") | $(versus "$(per unchanged:100 "$library")" "$raw_unchanged") |"
  [ "$quick" = "--quick" ] || row="$row $(versus "$(per bench_c:1000:100 "$library")" "$raw_bench_c") |"
  echo "$row"
done

echo
echo "### System calls per step (strace -c)"
echo
echo "The difference between 2K and K steps, over K. A ready step is one non-blocking wait; a churn step is one pass"
echo "of 4 000 changes (1 000 fds × 4); an unchanged step is 100 \`set\`s; a bench.c step is one whole run of 1 000"
echo "writes."
echo
echo "| library | workload | system calls per step |"
echo "| --- | --- | --- |"
for library in $libraries; do
  for spec in $workloads; do
    workload="${spec%:*}"
    echo "| $library | $workload | ${sys[$library,$workload]} |"
  done
done

# The instruction targets of ../BENCHMARKS.md for linux_ext::Epoll, judged
# on the figures above.
verdict() {  # verdict FIGURE VALUE RAW ALLOWANCE
  awk -v f="$1" -v v="$2" -v r="$3" -v a="$4" \
    'BEGIN { d = v - r; printf "| %s | raw %+.2f | ≤ raw + %s | %s |\n", f, d, a, (d <= a ? "met" : "missed") }'
}
read -r ext_wait ext_event < <(wait_and_event linux_ext)
echo
echo "### Instruction targets for linux_ext::Epoll"
echo
echo "| figure | measured | target | |"
echo "| --- | ---: | ---: | --- |"
verdict "per wait" "$ext_wait" "$raw_wait" 12
verdict "per ready event walked" "$ext_event" "$raw_event" 0.5
verdict "per set/remove (churn)" "$(per churn:1000 linux_ext)" "$raw_churn" 15

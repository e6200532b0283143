#!/usr/bin/env bash
# Runs one example with small arguments and checks what it prints.
#   examples_test.sh NAME PROGRAM [libuv]
# Every run is bounded in time; a failure prints the whole output.
set -euo pipefail

name=$1
program=$2
with_libuv=${3:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

fail() {
  echo "FAIL: $name: $*"
  echo "--- output ---"
  cat "$out"
  exit 1
}

# run ARGS...: runs the program, at most 30 s, and wants exit status 0.
run() {
  timeout 30 "$program" "$@" >"$out" 2>&1 || fail "exit status $? for: $program $*"
}

# expect REGEX: some line of the output matches.
expect() {
  grep -Eq -- "$1" "$out" || fail "no line matches: $1"
}

# shutdown_by SIGNAL MODE: starts clean_shutdown in MODE, sends SIGNAL once it
# is waiting, and wants it to exit 0 having said which signal stopped it.
shutdown_by() {
  local signal=$1 mode=$2
  # Started directly, so that the signal goes to the program itself and not
  # through a wrapper that forwards it to its whole process group; a
  # watchdog kills it after 20 s.
  "$program" "$mode" >"$out" 2>&1 &
  local pid=$!
  (exec >/dev/null 2>&1
   for _ in $(seq 200); do kill -0 "$pid" || exit 0; sleep 0.1; done
   kill -KILL "$pid") &
  for _ in $(seq 100); do
    grep -q '^waiting$' "$out" && break
    sleep 0.1
  done
  grep -q '^waiting$' "$out" || { kill -KILL "$pid"; fail "$mode never reached its loop"; }
  kill -s "$signal" "$pid"
  local status=0
  wait "$pid" || status=$?
  [ "$status" = 0 ] || fail "$mode exited with $status after SIG$signal"
  expect "^$mode: .* SIG$signal, shutting down cleanly$"
}

case $name in
  timers)
    run --ticks 3
    expect '^timer 250us fired [0-9]+ times$'
    expect '^timer 20ms fired [0-9]+ times$'
    expect '^ok: the 20ms timer fired at least 3 times'
    ;;
  clean_shutdown)
    shutdown_by TERM signalfd
    shutdown_by INT signalfd
    shutdown_by TERM pwait
    shutdown_by INT pwait
    ;;
  wakeup)
    run --jobs 4
    expect '^result 1: 1$'
    expect '^result 4: 16$'
    expect '^received 4 results in [1-4] wake-ups$'
    ;;
  select_to_epoll)
    run --pipes 4
    expect '^select: [0-9]+ rounds$'
    expect '^  pipe 3: "message 3!!!!!!!!!"$'
    expect '^the two loops agree$'
    ;;
  many_cores)
    run --threads 3 --connections 12 --messages 20
    expect '^3 threads listening on 127\.0\.0\.1:[0-9]+$'
    expect '^12 connections accepted by [1-3] of 3 threads$'
    expect '^ok: 240 of 240 echoes correct$'
    ;;
  nesting)
    run
    expect '^second Epoll: the inner Epoll.s fd is ready \(in\)$'
    expect '^  inner Epoll: the pipe is ready \(in\), read "hello"$'
    expect '^second Epoll: 0 events once the inner set is drained$'
    if [ "$with_libuv" = libuv ]; then
      expect '^libuv: the inner Epoll.s fd is readable$'
      expect '^  inner Epoll: the pipe is ready \(in\), read "from libuv"$'
    fi
    ;;
  *)
    echo "examples_test.sh: no check for $name"
    exit 2
    ;;
esac
echo "ok: $name"

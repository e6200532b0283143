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

# fail MESSAGE: reports on stderr, so that it is seen from inside $(...) too,
# and stops the test.
fail() {
  {
    echo "FAIL: $name: $*"
    echo "--- output ---"
    cat "$out"
  } >&2
  exit 1
}

# run_status STATUS ARGS...: runs the program, at most 30 s, and wants exit
# status STATUS.
run_status() {
  local want=$1 status=0
  shift
  timeout 30 "$program" "$@" >"$out" 2>&1 || status=$?
  [ "$status" = "$want" ] || fail "exit status $status, not $want, for: $program $*"
}

# run ARGS...: runs the program and wants exit status 0.
run() {
  run_status 0 "$@"
}

# expect REGEX: some line of the output matches.
expect() {
  grep -Eq -- "$1" "$out" || fail "no line matches: $1"
}

# expect_output TEXT: the output is exactly TEXT.
expect_output() {
  diff -u <(printf '%s\n' "$1") "$out" >&2 || fail "the output differs from what is expected (diff above)"
}

# number REGEX: the one number that the single line matching REGEX captures
# in its \1, e.g. number '^timer 4ms fired ([0-9]+) times$'.
number() {
  local found
  found=$(sed -nE "s/$1/\\1/p" "$out")
  [[ $found =~ ^[0-9]+$ ]] || fail "not one line with a number matches: $1"
  echo "$found"
}

# options_checked OPTION: the example reads its options with the shared
# parser. --help prints its usage and exits 0; an unknown argument, OPTION
# without a value and OPTION with a value that is not a positive number each
# exit 2 and say what is wrong.
options_checked() {
  local option=$1
  run --help
  expect "^usage: $name "
  run_status 2 --no-such-option
  expect "^$name: unknown argument --no-such-option$"
  run_status 2 "$option"
  expect "^$name: $option needs a value$"
  run_status 2 "$option" 0
  expect "^$name: $option wants a positive number, not \"0\"$"
}

# watchdog PID: kills PID after 20 s, in case it never stops.
watchdog() {
  local pid=$1
  (exec >/dev/null 2>&1
   for _ in $(seq 200); do kill -0 "$pid" || exit 0; sleep 0.1; done
   kill -KILL "$pid") &
}

# wait_for_line REGEX PID: waits up to 10 s for a line of the output that
# matches, while PID runs.
wait_for_line() {
  local regex=$1 pid=$2
  for _ in $(seq 100); do
    grep -Eq -- "$regex" "$out" && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  fail "no line matches: $regex"
}

# shutdown_by SIGNAL MODE: starts clean_shutdown in MODE, sends SIGNAL once it
# is waiting, and wants it to exit 0 having said which signal stopped it.
shutdown_by() {
  local signal=$1 mode=$2
  # Started directly, so that the signal goes to the program itself and not
  # through a wrapper that forwards it to its whole process group.
  "$program" "$mode" >"$out" 2>&1 &
  local pid=$!
  watchdog "$pid"
  wait_for_line '^waiting$' "$pid"
  kill -s "$signal" "$pid"
  local status=0
  wait "$pid" || status=$?
  [ "$status" = 0 ] || fail "$mode exited with $status after SIG$signal"
  local how="got"
  [ "$mode" = pwait ] && how="interrupted by"
  expect_output "waiting
$mode: $how SIG$signal, shutting down cleanly"
}

# serve_and_echo THREADS: starts many_cores --serve, echoes one line through
# it with bash's /dev/tcp, and stops it with SIGTERM: it serves until a
# signal ends it. (Not SIGINT: a shell without job control starts background
# programs with SIGINT ignored.)
serve_and_echo() {
  local threads=$1
  "$program" --serve --threads "$threads" >"$out" 2>&1 &
  local pid=$!
  watchdog "$pid"
  wait_for_line "^$threads threads listening on 127\.0\.0\.1:[0-9]+$" "$pid"
  local port reply status=0
  port=$(number "^$threads threads listening on 127\.0\.0\.1:([0-9]+)$")
  reply=$(exec 3<>"/dev/tcp/127.0.0.1/$port" && echo "hello over many cores" >&3 &&
          read -r -t 10 line <&3 && echo "$line") || true
  kill -TERM "$pid"
  wait "$pid" || status=$?
  [ "$reply" = "hello over many cores" ] || fail "--serve echoed \"$reply\""
  [ "$status" = $((128 + 15)) ] || fail "--serve exited with $status, not killed by SIGTERM"
}

case $name in
  timers)
    options_checked --ticks
    run --ticks 3
    expect '^watching \(\(epollfd [0-9]+\) \(flags_by_fd \(\([0-9]+ \(in et\)\) \([0-9]+ \(in et\)\) \([0-9]+ \(in et\)\)\)\) '
    expect '^ok: the 20ms timer fired at least 3 times'
    # The counts themselves: the periods are 250 µs, 4 ms and 20 ms, so each
    # timer fires 16 and 5 times as often as the next; half that leaves room
    # for a loaded machine, not for a timer that lost its precision.
    fired_250us=$(number '^timer 250us fired ([0-9]+) times$')
    fired_4ms=$(number '^timer 4ms fired ([0-9]+) times$')
    fired_20ms=$(number '^timer 20ms fired ([0-9]+) times$')
    (( fired_20ms >= 3 && fired_4ms >= 5 * fired_20ms / 2 && fired_250us >= 8 * fired_4ms )) ||
      fail "counts out of proportion: $fired_250us, $fired_4ms, $fired_20ms"
    ;;
  clean_shutdown)
    run_status 2
    expect '^usage: clean_shutdown signalfd\|pwait$'
    shutdown_by TERM signalfd
    shutdown_by INT signalfd
    shutdown_by TERM pwait
    shutdown_by INT pwait
    ;;
  wakeup)
    options_checked --jobs
    run --jobs 4
    [ "$(grep -E '^result ' "$out")" = "result 1: 1
result 2: 4
result 3: 9
result 4: 16" ] || fail "the results are not the squares of 1 to 4, in order"
    expect '^received 4 results in [1-4] wake-ups$'
    ;;
  select_to_epoll)
    options_checked --pipes
    run --pipes 4
    # Level-triggered, 4 bytes a round: the longest message, 18 bytes, takes
    # 5 rounds and its end of file a sixth, in both loops.
    transcript='6 rounds
  pipe 0: "message 0"
  pipe 1: "message 1!!!"
  pipe 2: "message 2!!!!!!"
  pipe 3: "message 3!!!!!!!!!"'
    expect_output "select: $transcript
epoll: $transcript
the two loops agree"
    ;;
  many_cores)
    options_checked --threads
    run --threads 3 --connections 12 --messages 20
    expect '^3 threads listening on 127\.0\.0\.1:[0-9]+$'
    expect '^12 connections accepted by [1-3] of 3 threads$'
    expect '^ok: 240 of 240 echoes correct$'
    # The servers' own counts add up to what the client sent.
    sent=0
    for connection in $(seq 0 11); do
      for message in $(seq 0 19); do
        line="connection $connection message $message"
        sent=$((sent + ${#line} + 1))
      done
    done
    [ "$(grep -cE '^thread [0-2]: [0-9]+ connections, [0-9]+ bytes echoed$' "$out")" = 3 ] ||
      fail "not one line per thread"
    read -r accepted echoed < <(sed -nE 's/^thread [0-9]+: ([0-9]+) connections, ([0-9]+) bytes echoed$/\1 \2/p' "$out" |
                                awk '{ c += $1; b += $2 } END { print c, b }')
    [ "$accepted" = 12 ] && [ "$echoed" = "$sent" ] ||
      fail "the threads accepted $accepted connections and echoed $echoed bytes, not 12 and $sent"
    serve_and_echo 2
    ;;
  nesting)
    run
    if [ "$with_libuv" = libuv ]; then
      libuv_part='libuv: the inner Epoll'\''s fd is readable
  inner Epoll: the pipe is ready (in), read "from libuv"'
    else
      libuv_part='libuv: not built (libuv was not found)'
    fi
    expect_output "second Epoll: the inner Epoll's fd is ready (in)
  inner Epoll: the pipe is ready (in), read \"hello\"
second Epoll: 0 events once the inner set is drained
$libuv_part"
    ;;
  prefork)
    options_checked --workers
    run_status 2 --connections 0
    expect '^prefork: --connections wants a positive number, not "0"$'
    run --workers 3 --connections 30
    sent=0
    for connection in $(seq 0 29); do
      line="hello from connection $connection"
      sent=$((sent + ${#line} + 1))
    done
    # Which worker serves how many connections is the kernel's choice; the
    # rest is exact: one line per worker, in order, and the parent's set still
    # holds only the listener, as the kernel sees it.
    diff -u <(printf '%s\n' "3 workers listening on 127.0.0.1:PORT
the parent's set, as the kernel sees it once every worker has its own: ((epollfd E) (flags_by_fd ((L (in exclusive)))) (max_ready_events 64) (num_ready_events 0) (ready_events ()))
worker 0: C connections, B bytes
worker 1: C connections, B bytes
worker 2: C connections, B bytes
3 workers, 30 connections, $sent bytes, all intact") \
      <(sed -E -e 's/^(3 workers listening on 127\.0\.0\.1:)[0-9]+$/\1PORT/' \
               -e 's/\(\(epollfd [0-9]+\) \(flags_by_fd \(\([0-9]+ /((epollfd E) (flags_by_fd ((L /' \
               -e 's/^(worker [0-2]): [0-9]+ connections, [0-9]+ bytes$/\1: C connections, B bytes/' "$out") >&2 ||
      fail "the output differs from what is expected (diff above)"
    # The workers' own counts add up to what the client sent.
    read -r served echoed < <(sed -nE 's/^worker [0-9]+: ([0-9]+) connections, ([0-9]+) bytes$/\1 \2/p' "$out" |
                              awk '{ c += $1; b += $2 } END { print c, b }')
    [ "$served" = 30 ] && [ "$echoed" = "$sent" ] ||
      fail "the workers served $served connections and echoed $echoed bytes, not 30 and $sent"
    ;;
  echo_demo)
    options_checked --connections
    run_status 2 --duration nan
    expect '^echo_demo: --duration wants a positive number, not "nan"$'
    run --connections 64 --messages 50 --duration 25
    expect '^echo server on 127\.0\.0\.1:[0-9]+, 64 clients, 50 messages each, at most 25 s$'
    # The snapshot: 64 connections, the listener and the stop eventfd.
    expect "The server's Epoll with 64 clients connected:$"
    snapshot=$(grep -E '^\(\(epollfd [0-9]+\) \(flags_by_fd ' "$out") || fail "no snapshot of the server's Epoll"
    [ "$(grep -oE '\([0-9]+ \((in|out)\)\)' <<<"$snapshot" | wc -l)" = 66 ] ||
      fail "the snapshot does not hold 66 fds"
    expect '^  connections      64$'
    expect '^  messages echoed  3200$'
    expect '^  bytes checked    all intact$'
    expect '^OK: every byte came back$'
    # --busy-poll: the kernel holds what was asked for, and the echo is as
    # intact. A kernel without busy polling per set (before Linux 6.9) must
    # say so and stop before any client starts.
    status=0
    timeout 30 "$program" --connections 8 --messages 10 --busy-poll 50 >"$out" 2>&1 || status=$?
    if grep -q 'Linux 6\.9' "$out"; then
      [ "$status" = 1 ] || fail "exit status $status, not 1, for a kernel without busy polling"
      expect '^echo_demo: Epoll::set_busy_poll: '
    else
      [ "$status" = 0 ] || fail "exit status $status, not 0, with --busy-poll 50"
      expect "^the server's Epoll busy-polls: usecs 50, budget 0 "
      expect '^OK: every byte came back$'
    fi
    ;;
  *)
    echo "examples_test.sh: no check for $name"
    exit 2
    ;;
esac
echo "ok: $name"

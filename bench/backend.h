// The common face of every event loop in the comparison (compare.cc).
//
// Each library gets one small driver (backend_<library>.cc) that uses it the
// way its documentation recommends: persistent read watchers, its own loop,
// one non-blocking iteration at a time (as libevent's test/bench.c runs
// `event_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK)`), and its own timers. The
// workloads (workloads.cc) are written once against this interface, so every
// library runs exactly the same code around its own calls.

#ifndef LINUX_EXT_BENCH_BACKEND_H_
#define LINUX_EXT_BENCH_BACKEND_H_

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

namespace bench {

// Stops the program with `what` and errno's text when a call that sets up a
// benchmark fails: there is no sensible way to go on measuring.
inline void check_sys(bool ok, const char* what) {
  if (!ok) {
    std::perror(what);
    std::exit(1);
  }
}

// What a loop calls for each ready fd: the workload's reaction, the same for
// every library.
using OnReady = void (*)(void* context, int fd);

// The most events one wait returns, for the drivers that choose it.
inline constexpr int kMaxReadyEvents = 256;

// The timeout of `run_once_with_timeout`. A constant, so that each driver
// spells it the way a program with a fixed timeout would, folded at compile
// time: `epoll_wait(..., 1)`, `Timeout::after(1ms)`, a 1 ms timer.
inline constexpr std::chrono::milliseconds kWaitTimeout{1};

class Backend;

// The churn loop over `fds` through `backend`'s own methods: `B` is a final
// class, so the calls are direct and inline where the backend allows, as in
// a program's own loop, rather than one virtual call per operation.
template <class B>
void churn_with(B& backend, const std::vector<int>& fds) {
  for (int fd : fds) {
    backend.add(fd);
    backend.modify(fd, true);
    backend.modify(fd, false);
    backend.remove(fd);
  }
}

class Backend {
 public:
  virtual ~Backend() = default;

  // The name printed in the tables.
  virtual const char* name() const = 0;
  // False for a library that cannot watch a level-triggered fd that stays
  // ready (Asio's reactor is edge-triggered: an `async_wait` on an fd that
  // stays readable completes once and then never again).
  virtual bool level_triggered() const { return true; }
  // False for a library without a way to change what a watched fd is
  // watched for (Asio registers every descriptor once, for everything).
  virtual bool can_modify() const { return true; }

  // Makes a fresh loop for fds below `fd_limit`; the loop calls
  // `on_ready(context, fd)` for every ready event.
  virtual void open(int fd_limit, OnReady on_ready, void* context) = 0;
  // Frees the loop (its fds stay open: they belong to the workload).
  virtual void close() = 0;

  // Watches `fd` for reading, persistently and level-triggered.
  virtual void add(int fd) = 0;
  // Watches `fd`, already added, for reading, and for writing too when
  // `write` is true.
  virtual void modify(int fd, bool write) = 0;
  // Stops watching `fd`.
  virtual void remove(int fd) = 0;
  // The churn pattern: for each of `fds` in turn, add, modify for writing,
  // modify back, remove. Each backend runs it through `churn_with`, in a
  // loop of its own direct calls, as a program would make them.
  virtual void churn(const std::vector<int>& fds) = 0;
  // One non-blocking iteration of the loop: polls the kernel and calls
  // `on_ready` for each ready event. Changes made since the last iteration
  // reach the kernel here at the latest (libev defers them all, libuv its
  // additions).
  virtual void run_once() = 0;
  // One iteration that waits at most kWaitTimeout for an event, as every
  // event loop waits until its next timer: the wait's own timeout, or the
  // library's timer re-armed for kWaitTimeout from the loop's current time
  // (the loops compute their timeout from their timers on every iteration
  // anyway). Then calls `on_ready` for each ready event.
  virtual void run_once_with_timeout() = 0;
  // Blocks in the loop, with nothing ready, until a timer of `span` fires:
  // the library's own timer, or the wait's timeout where that is the way.
  virtual void sleep(std::chrono::nanoseconds span) = 0;
};

std::unique_ptr<Backend> make_raw_backend();
// With `precise_timeouts`, timed waits use `Timeout::after_precise`
// (epoll_pwait2) instead of `Timeout::after`.
std::unique_ptr<Backend> make_linux_ext_backend(bool precise_timeouts);
std::unique_ptr<Backend> make_libev_backend();
std::unique_ptr<Backend> make_libevent_backend();
std::unique_ptr<Backend> make_libuv_backend();
std::unique_ptr<Backend> make_asio_backend();

// Every backend, raw epoll first (the reference of every ratio), then
// linux_ext::Epoll, then the libraries.
std::vector<std::unique_ptr<Backend>> make_all_backends();
// The one named `name` ("raw", "linux_ext", "linux_ext_precise", "libev",
// "libevent", "libuv", "asio"), or null.
std::unique_ptr<Backend> make_backend(const char* name);

}  // namespace bench

#endif  // LINUX_EXT_BENCH_BACKEND_H_

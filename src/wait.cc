// Waiting: wait, wait_timeout_after and pwait, through one loop.
//
// A `Timeout` becomes the system call's argument in one place (`Span`):
// -1 or 0 for `never` and `immediately`, whole milliseconds rounded up for
// `after`, a timespec for `after_precise` where the kernel has epoll_pwait2.
// A timed wait reads the clock once before it starts, so that after a
// signal (EINTR) it can go on for exactly the time that is left.

#include <sys/epoll.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "linux_ext/detail/syscall.h"
#include "linux_ext/epoll.h"

namespace linux_ext {

using detail::Syscall;

std::atomic<bool> detail::epoll_pwait2_missing{false};

namespace {

constexpr std::int64_t kNanosPerMilli = 1'000'000;
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

}  // namespace

Epoll::WaitResult Epoll::pwait(Timeout timeout, const sigset_t& mask) {
  return wait_with("pwait", timeout, &mask);
}

void Epoll::throw_wait_error(const char* operation, const char* call, int error) const {
  std::string context = std::string("Epoll::") + operation + ": " + call;
  if (std::string_view(call) == "clock_gettime") {
    context += "(CLOCK_MONOTONIC)";
  } else {
    context += "(epoll fd " + std::to_string(epoll_fd_) + ", max_ready_events " +
               std::to_string(max_ready_events_) + ")";
  }
  detail::throw_errno(error, context);
}

Epoll::WaitResult Epoll::wait_with(const char* operation, Timeout timeout, const sigset_t* mask,
                                   std::int64_t started_ns) {
  check_open(operation);
  check_owner(operation);
  // The buffer is about to be rewritten: walks and ranges of it end, and
  // the events of an earlier wait are gone whatever happens now.
  ++ready_epoch_;
  set_ready(0);
  const bool timed = timeout.kind_ >= Timeout::Kind::millis;
  // The monotonic clock now; a clock that cannot be read is an error.
  auto now_ns = [&] {
    const std::int64_t now = detail::monotonic_now_ns();
    if (now < 0) throw_wait_error(operation, "clock_gettime", errno);
    return now;
  };
  std::int64_t left_ns = timeout.span_ns_;
  std::int64_t deadline_ns = 0;
  if (timed) {
    const std::int64_t start = started_ns >= 0 ? started_ns : now_ns();
    deadline_ns = start + std::min(left_ns, INT64_MAX - start);
    // A first round already ended early: go on for the time that is left.
    if (started_ns >= 0) {
      left_ns = deadline_ns - now_ns();
      if (left_ns <= 0) return WaitResult::timeout;
    }
  }
  bool precise =
      timeout.kind_ == Timeout::Kind::nanos && !detail::epoll_pwait2_missing.load(std::memory_order_relaxed);
  for (;;) {
    int n;
    const char* call;
    // Whether the span was cut to what epoll_wait takes, so that a timeout
    // means only that this round ended.
    bool cut = false;
    if (precise) {
      call = "epoll_pwait2";
      const timespec span{static_cast<time_t>(left_ns / kNanosPerSecond),
                          static_cast<long>(left_ns % kNanosPerSecond)};
      // Called directly, since glibc may lack a wrapper: the kernel's
      // sigset size, _NSIG / 8, must then be passed as a long.
      n = detail::call(Syscall::epoll_pwait2, [&] {
        return static_cast<int>(::syscall(SYS_epoll_pwait2, epoll_fd_, events_.get(), max_ready_events_,
                                          &span, mask, static_cast<long>(_NSIG / 8)));
      });
      if (n < 0 && errno == ENOSYS) {
        detail::epoll_pwait2_missing.store(true, std::memory_order_relaxed);
        precise = false;
        continue;
      }
    } else {
      int millis = timeout.millis_;
      if (timed) {
        millis = Timeout::millis_of(left_ns);
        cut = left_ns > std::int64_t{millis} * kNanosPerMilli;
      }
      if (mask == nullptr) {
        call = "epoll_wait";
        n = detail::call(Syscall::epoll_wait,
                         [&] { return ::epoll_wait(epoll_fd_, events_.get(), max_ready_events_, millis); });
      } else {
        call = "epoll_pwait";
        n = detail::call(Syscall::epoll_pwait, [&] {
          return ::epoll_pwait(epoll_fd_, events_.get(), max_ready_events_, millis, mask);
        });
      }
    }
    if (n > 0) {
      set_ready(n);
      return WaitResult::ok;
    }
    if (n == 0 && !cut) return WaitResult::timeout;
    if (n < 0) {
      if (errno != EINTR) throw_wait_error(operation, call, errno);
      if (mask != nullptr) return WaitResult::interrupted;
    }
    // A signal, or a cut span ran out: go on for the time that is left.
    if (timed) {
      left_ns = deadline_ns - now_ns();
      if (left_ns <= 0) return WaitResult::timeout;
    }
  }
}

}  // namespace linux_ext

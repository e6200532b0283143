// The seam's test side (tests/fault_injection.h): counts and planned
// failures, one per call name.

#include "fault_injection.h"

#include <array>

namespace linux_ext::testing {
namespace {

struct Plan {
  long calls = 0;       // calls counted since the last reset
  long fail_from = 0;   // first call number to fail; 0 for none
  long fail_until = 0;  // last call number to fail; < 0 for no end
  int error = 0;
};

std::array<Plan, detail::kNumSyscalls> plans;

Plan& plan(Syscall id) noexcept { return plans[static_cast<std::size_t>(id)]; }

}  // namespace

const char* name(Syscall id) noexcept {
  switch (id) {
    case Syscall::epoll_create1:
      return "epoll_create1";
    case Syscall::epoll_ctl:
      return "epoll_ctl";
    case Syscall::epoll_wait:
      return "epoll_wait";
    case Syscall::epoll_pwait:
      return "epoll_pwait";
    case Syscall::epoll_pwait2:
      return "epoll_pwait2";
    case Syscall::close:
      return "close";
    case Syscall::clock_gettime:
      return "clock_gettime";
    case Syscall::kcmp:
      return "kcmp";
    case Syscall::fstat:
      return "fstat";
    case Syscall::open:
      return "open";
    case Syscall::read:
      return "read";
    case Syscall::ioctl:
      return "ioctl";
    case Syscall::calloc:
      return "calloc";
  }
  return "?";
}

void fail(Syscall id, int nth, int error, int times) noexcept {
  Plan& p = plan(id);
  p.fail_from = p.calls + nth;
  p.fail_until = times < 0 ? -1 : p.fail_from + times - 1;
  p.error = error;
}

long count(Syscall id) noexcept { return plan(id).calls; }

void reset() noexcept { plans.fill(Plan{}); }

void forget_pwait2_probe() noexcept { detail::epoll_pwait2_missing.store(false, std::memory_order_relaxed); }

}  // namespace linux_ext::testing

namespace linux_ext::detail {

int on_syscall(Syscall id) noexcept {
  testing::Plan& p = testing::plan(id);
  const long n = ++p.calls;
  const bool failing = p.fail_from != 0 && n >= p.fail_from && (p.fail_until < 0 || n <= p.fail_until);
  return failing ? p.error : 0;
}

}  // namespace linux_ext::detail

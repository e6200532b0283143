// The seam under every system call of the library.
//
// src/epoll.cc makes each system call through `detail::call`, which in a
// normal build is the call itself. A build with LINUX_EXT_FAULT_INJECTION
// defined (the test-only target linux_ext_fault_injection) routes each call
// through `testing::on_call` first, which counts it and may make it fail
// with a chosen errno: see src/fault_injection.h.

#ifndef LINUX_EXT_SRC_SEAM_H_
#define LINUX_EXT_SRC_SEAM_H_

#include <cerrno>

namespace linux_ext::detail {

// The system calls the library makes, one name each.
enum class Syscall {
  epoll_create1,
  epoll_ctl,
  epoll_wait,
  epoll_pwait,
  epoll_pwait2,
  close,
  clock_gettime,
};
// The number of `Syscall` values.
inline constexpr int kNumSyscalls = static_cast<int>(Syscall::clock_gettime) + 1;

}  // namespace linux_ext::detail

#if defined(LINUX_EXT_FAULT_INJECTION)
namespace linux_ext::testing {
// Counts a call to `id`; returns the errno it must fail with, or 0.
int on_call(detail::Syscall id) noexcept;
}  // namespace linux_ext::testing
#endif

namespace linux_ext::detail {

// Makes the system call `make` (a lambda returning its result, -1 with
// errno on failure), named `id` for the fault-injection seam.
template <class Make>
inline auto call([[maybe_unused]] Syscall id, Make&& make) -> decltype(make()) {
#if defined(LINUX_EXT_FAULT_INJECTION)
  if (const int injected = testing::on_call(id); injected != 0) {
    errno = injected;
    return -1;
  }
#endif
  return make();
}

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_SRC_SEAM_H_

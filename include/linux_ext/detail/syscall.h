// linux_ext/detail/syscall.h — the seam under every system call of the
// library. Not API.
//
// Each call the operating system can refuse goes through `detail::call`,
// which in the library is the call itself. The test build compiles the same
// sources with LINUX_EXT_SYSCALL_SEAM defined and links
// tests/fault_injection.cc, which defines `on_syscall`: there each call is
// counted and may be made to fail with a chosen errno (EINTR, ENOMEM,
// ENOSPC, ENOSYS...). Nothing above this file reads errno but to build the
// error the API promises.

#ifndef LINUX_EXT_DETAIL_SYSCALL_H_
#define LINUX_EXT_DETAIL_SYSCALL_H_

#include <time.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

namespace linux_ext::detail {

// The calls the library makes, one name each. `calloc` stands for every
// allocation of the table and the ready buffer.
enum class Syscall {
  epoll_create1,
  epoll_ctl,
  epoll_wait,
  epoll_pwait,
  epoll_pwait2,
  close,
  clock_gettime,
  kcmp,
  fstat,
  open,
  read,
  ioctl,
  calloc,
};
// The number of `Syscall` values.
inline constexpr int kNumSyscalls = static_cast<int>(Syscall::calloc) + 1;

#if defined(LINUX_EXT_SYSCALL_SEAM)
// Counts a call to `id`; returns the errno it must fail with, or 0.
// Defined by the tests.
int on_syscall(Syscall id) noexcept;
#endif

// Makes the call `make` (a lambda returning its result: -1 with errno, or a
// null pointer, on failure), named `id` for the seam.
template <class Make>
inline auto call([[maybe_unused]] Syscall id, Make&& make) -> decltype(make()) {
#if defined(LINUX_EXT_SYSCALL_SEAM)
  if (const int injected = on_syscall(id); injected != 0) {
    errno = injected;
    if constexpr (std::is_pointer_v<decltype(make())>) {
      return nullptr;
    } else {
      return -1;
    }
  }
#endif
  return make();
}

// The monotonic clock in nanoseconds (a vDSO call, no system call), or -1
// with errno set.
inline std::int64_t monotonic_now_ns() noexcept {
  timespec now{};
  if (call(Syscall::clock_gettime, [&] { return ::clock_gettime(CLOCK_MONOTONIC, &now); }) != 0) return -1;
  return std::int64_t{now.tv_sec} * 1'000'000'000 + now.tv_nsec;
}

// Throws `std::system_error` with `error` (an errno) and `context`, which
// names the operation, the call and its input (src/error.cc).
[[noreturn, gnu::cold]] void throw_errno(int error, const std::string& context);

// How many times this process's line has forked, counted in units of 2^32:
// 0 in a process that was not made by fork(2), and one unit more in each
// child, added by a `pthread_atfork` handler (src/table.cc) before the child
// runs code of its own. A set remembers the value of the process that owns
// it, so that a child sees it is not the owner by one comparison, without a
// system call.
extern std::atomic<std::uint64_t> fork_generation;
inline constexpr std::uint64_t kForkGenerationUnit = std::uint64_t{1} << 32;

// Whether the kernel answered epoll_pwait2 with ENOSYS (an old kernel, or
// valgrind): found out by the first precise wait, then kept (src/wait.cc).
extern std::atomic<bool> epoll_pwait2_missing;

// Frees memory from `std::calloc`, the allocator of the table and the
// ready buffer.
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_DETAIL_SYSCALL_H_

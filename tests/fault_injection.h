// Test-only control of the system-call seam (include/linux_ext/detail/syscall.h).
//
// Linked only into the test build of the library (`linux_ext_seam`, the
// library's sources compiled with LINUX_EXT_SYSCALL_SEAM). Tests use it to
// count the system calls an operation makes and to make the k-th call to one
// of them fail with any errno. Not thread safe: one test thread at a time.

#ifndef LINUX_EXT_TESTS_FAULT_INJECTION_H_
#define LINUX_EXT_TESTS_FAULT_INJECTION_H_

#include "linux_ext/detail/syscall.h"

namespace linux_ext::testing {

using detail::Syscall;

// The name of a call, e.g. "epoll_ctl".
const char* name(Syscall id) noexcept;

// Makes calls number `nth`, `nth + 1`, ..., `nth + times - 1` to `id`,
// counted from now starting at 1, fail with `error` instead of reaching the
// kernel. `times < 0` means every call from `nth` on.
void fail(Syscall id, int nth, int error, int times = 1) noexcept;

// Calls to `id` since the last `reset`, failed ones included.
long count(Syscall id) noexcept;

// Forgets every planned failure and zeroes every count.
void reset() noexcept;

// Forgets what the library found out about epoll_pwait2 (whether the kernel
// has it), so that the next precise wait probes again.
void forget_pwait2_probe() noexcept;

}  // namespace linux_ext::testing

#endif  // LINUX_EXT_TESTS_FAULT_INJECTION_H_

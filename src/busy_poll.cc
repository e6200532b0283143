// Busy polling per epoll set (Linux 6.9): set_busy_poll and busy_poll, the
// two ioctls on the epoll fd, and the copy after_fork makes of them.
//
// The parameters live in the kernel's instance only; the object keeps no
// copy, so that a move, resize and the kernel itself can never disagree
// with what busy_poll() reports.

#include <string.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "epoll_params.h"
#include "linux_ext/detail/syscall.h"
#include "linux_ext/epoll.h"

namespace linux_ext {

using detail::EpollParams;
using detail::Syscall;

namespace {

constexpr std::int64_t kMaxUsecs = INT32_MAX;  // the kernel refuses more (EINVAL)
constexpr unsigned kMaxBudget = UINT16_MAX;    // the width of its field
constexpr unsigned kNapiPollWeight = 64;       // the largest budget without CAP_NET_ADMIN

// ioctl `request` on `epoll_fd`; returns 0 or the errno.
int params_ioctl(int epoll_fd, unsigned long request, EpollParams& params) noexcept {
  return detail::call(Syscall::ioctl, [&] { return ::ioctl(epoll_fd, request, &params); }) == 0 ? 0 : errno;
}

// Whether `error` says the kernel has no busy-poll ioctls: ENOTTY or EINVAL
// before 6.9, EOPNOTSUPP without CONFIG_NET_RX_BUSY_POLL. (The arguments
// are checked before the ioctl, so EINVAL cannot be about them.)
bool means_unsupported(int error) { return error == ENOTTY || error == EINVAL || error == EOPNOTSUPP; }

std::string describe(const Epoll::BusyPoll& params) {
  return "usecs " + std::to_string(params.usecs.count()) + ", budget " + std::to_string(params.budget) +
         ", prefer " + (params.prefer ? "true" : "false");
}

// Throws the error of a failed busy-poll ioctl: `call` names the operation
// and the ioctl, for the message.
[[noreturn, gnu::cold]] void throw_params_error(int error, const std::string& call, unsigned budget) {
  if (means_unsupported(error)) {
    detail::throw_errno(EOPNOTSUPP, call + ": this kernel has no busy polling per epoll set (Linux 6.9 and " +
                                        "later, built with CONFIG_NET_RX_BUSY_POLL); it answered " +
                                        ::strerrorname_np(error));
  }
  if (error == EPERM && budget > kNapiPollWeight) {
    detail::throw_errno(error, call + ": a budget above " + std::to_string(kNapiPollWeight) +
                                   " (the kernel's NAPI_POLL_WEIGHT) needs CAP_NET_ADMIN");
  }
  detail::throw_errno(error, call);
}

}  // namespace

void Epoll::set_busy_poll(const BusyPoll& params) {
  check_open("set_busy_poll");
  check_owner("set_busy_poll");
  if (params.usecs.count() < 0 || params.usecs.count() > kMaxUsecs) {
    throw std::invalid_argument("Epoll::set_busy_poll: usecs is " + std::to_string(params.usecs.count()) +
                                "; it must be in [0, " + std::to_string(kMaxUsecs) + "] microseconds");
  }
  if (params.budget > kMaxBudget) {
    throw std::invalid_argument("Epoll::set_busy_poll: budget is " + std::to_string(params.budget) +
                                "; it must be in [0, " + std::to_string(kMaxBudget) + "]");
  }
  EpollParams kernel{};
  kernel.busy_poll_usecs = static_cast<std::uint32_t>(params.usecs.count());
  kernel.busy_poll_budget = static_cast<std::uint16_t>(params.budget);
  kernel.prefer_busy_poll = params.prefer ? 1 : 0;
  if (const int error = params_ioctl(epoll_fd_, detail::kEpollSetParams, kernel); error != 0) {
    throw_params_error(error, "Epoll::set_busy_poll: ioctl(EPIOCSPARAMS, " + describe(params) + ")",
                       params.budget);
  }
}

Epoll::BusyPoll Epoll::busy_poll() const {
  check_open("busy_poll");
  EpollParams kernel{};
  if (const int error = params_ioctl(epoll_fd_, detail::kEpollGetParams, kernel); error != 0)
    throw_params_error(error, "Epoll::busy_poll: ioctl(EPIOCGPARAMS)", 0);
  return BusyPoll{std::chrono::microseconds(kernel.busy_poll_usecs), kernel.busy_poll_budget,
                  kernel.prefer_busy_poll != 0};
}

int Epoll::copy_busy_poll(int from_fd, int to_fd) noexcept {
  EpollParams params{};
  if (const int error = params_ioctl(from_fd, detail::kEpollGetParams, params); error != 0)
    return means_unsupported(error) ? 0 : error;
  if (params.busy_poll_usecs == 0 && params.busy_poll_budget == 0 && params.prefer_busy_poll == 0) return 0;
  return params_ioctl(to_fd, detail::kEpollSetParams, params);
}

}  // namespace linux_ext

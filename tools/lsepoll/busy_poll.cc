#include "busy_poll.h"

#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

namespace lsepoll {

// Called through syscall(): glibc wraps pidfd_open and pidfd_getfd only
// from 2.36 on.
PidFd::PidFd(pid_t pid) : pidfd_(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))) {}

PidFd::~PidFd() {
  if (pidfd_ >= 0) ::close(pidfd_);
}

std::optional<BusyPoll> PidFd::busy_poll(int epoll_fd) const {
  if (pidfd_ < 0) return std::nullopt;
  const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd_, epoll_fd, 0));
  if (copy < 0) return std::nullopt;
  // The number may have been closed and reused since /proc was read; an
  // ioctl meant for epoll must not reach another kind of file.
  BusyPoll params{};
  const bool read = read_link(fd_link(::getpid(), copy)) == kEpollLink &&
                    ::ioctl(copy, linux_ext::detail::kEpollGetParams, &params) == 0;
  ::close(copy);
  if (!read) return std::nullopt;
  return params;
}

bool is_off(const BusyPoll& params) {
  return params.busy_poll_usecs == 0 && params.busy_poll_budget == 0 && params.prefer_busy_poll == 0;
}

std::string busy_poll_text(const BusyPoll& params) {
  return "(busy_poll ((usecs " + std::to_string(params.busy_poll_usecs) + ") (budget " +
         std::to_string(params.busy_poll_budget) + ") (prefer " +
         (params.prefer_busy_poll != 0 ? "true" : "false") + ")))";
}

}  // namespace lsepoll

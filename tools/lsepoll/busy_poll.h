// The busy-poll parameters of another process's epoll sets (Linux 6.9). Only
// ioctl(EPIOCGPARAMS) on the epoll fd itself reads them, so lsepoll borrows a
// copy of that fd with pidfd_getfd(2), which needs ptrace access to the
// process, and closes it at once.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_BUSY_POLL_H_
#define LINUX_EXT_TOOLS_LSEPOLL_BUSY_POLL_H_

#include <sys/types.h>

#include <optional>
#include <string>

#include "epoll_params.h"

namespace lsepoll {

// An epoll set's busy-poll parameters, as the kernel holds them.
using BusyPoll = linux_ext::detail::EpollParams;

// A process held by a pidfd, whose epoll fds lsepoll may borrow. Made before
// /proc is read, so that the fds borrowed are those of the process read
// there: had it exited since, and its PID been reused, borrowing fails
// rather than reaching into another process.
class PidFd {
 public:
  explicit PidFd(pid_t pid);
  ~PidFd();
  PidFd(const PidFd&) = delete;
  PidFd& operator=(const PidFd&) = delete;

  // The busy-poll parameters of the epoll set `epoll_fd` of the process, or
  // nullopt where they may not be read: no ptrace access to the process, the
  // process gone, a kernel before 5.6 (pidfd_getfd) or before 6.9 or built
  // without busy polling (the ioctl).
  std::optional<BusyPoll> busy_poll(int epoll_fd) const;

 private:
  int pidfd_;  // -1 when pidfd_open failed
};

// Whether every parameter is zero: what a set that never busy-polls holds.
bool is_off(const BusyPoll& params);

// The parameters as lsepoll prints them:
// "(busy_poll ((usecs 50) (budget 8) (prefer true)))".
std::string busy_poll_text(const BusyPoll& params);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_BUSY_POLL_H_

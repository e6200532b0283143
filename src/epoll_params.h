// The kernel's per-set busy-poll parameters (Linux 6.9,
// include/uapi/linux/eventpoll.h), which glibc's <sys/epoll.h> declares only
// from 2.40 on, and <linux/eventpoll.h> cannot be included beside it. Shared
// by the library (set_busy_poll, busy_poll, after_fork) and lsepoll.

#ifndef LINUX_EXT_SRC_EPOLL_PARAMS_H_
#define LINUX_EXT_SRC_EPOLL_PARAMS_H_

#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace linux_ext::detail {

// struct epoll_params, as the kernel lays it out.
struct EpollParams {
  std::uint32_t busy_poll_usecs;
  std::uint16_t busy_poll_budget;
  std::uint8_t prefer_busy_poll;
  std::uint8_t pad;  // must be zero
};
static_assert(sizeof(EpollParams) == 8);

#ifdef EPIOCSPARAMS
inline constexpr unsigned long kEpollSetParams = EPIOCSPARAMS;
inline constexpr unsigned long kEpollGetParams = EPIOCGPARAMS;
#else
inline constexpr unsigned long kEpollSetParams = _IOW(0x8A, 0x01, EpollParams);
inline constexpr unsigned long kEpollGetParams = _IOR(0x8A, 0x02, EpollParams);
#endif

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_SRC_EPOLL_PARAMS_H_

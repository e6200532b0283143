// What lsepoll learns about a process from /proc: its epoll instances, the
// fds each one watches, and what each of those fds is.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_PROC_H_
#define LINUX_EXT_TOOLS_LSEPOLL_PROC_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "linux_ext/epoll.h"

namespace lsepoll {

// One fd in an epoll set, and what it refers to.
struct WatchedFile {
  int fd = -1;                // the number the fd was added under
  std::uint32_t events = 0;   // the kernel's event mask for it
  std::string kind;           // tcp, tcp6, udp, udp6, unix, socket, pipe, eventfd,
                              // timerfd, signalfd, epoll, file, closed, replaced, ...
  std::string target;         // the link in /proc/PID/fd, e.g. "socket:[1234]"
  std::string local;          // sockets: local address, e.g. "127.0.0.1:6379"
  std::string remote;         // sockets: peer address when connected
  std::string state;          // tcp: LISTEN, ESTABLISHED, ...
  std::string description;    // all of the above as one phrase for people
};

// One epoll instance of a process.
struct EpollInstance {
  int fd = -1;
  std::vector<WatchedFile> watched;
};

// A process and its epoll instances, in ascending fd order.
struct Process {
  pid_t pid = 0;
  std::string command;
  std::vector<EpollInstance> epolls;
};

// Reads the epoll instances of `pid`. The Error names the PID and the cause:
// no such process, or permission denied (another user's process).
linux_ext::OrError<Process> inspect(pid_t pid);

// Every PID in /proc, ascending.
std::vector<pid_t> all_pids();

// The flags the way the library prints them, without the `err` and `hup`
// bits the kernel adds to every entry: `(in)` for an fd set with `Flags::in`.
std::string flags_text(std::uint32_t events);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_PROC_H_

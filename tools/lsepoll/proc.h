// What lsepoll learns about a process from /proc: its epoll instances, the
// fds each one watches, and what each of those fds is.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_PROC_H_
#define LINUX_EXT_TOOLS_LSEPOLL_PROC_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "busy_poll.h"
#include "linux_ext/epoll.h"

namespace lsepoll {

// What a file is, as lsepoll names it (kind.cc decides). `kind` is always
// set; the other fields are empty where they do not apply or are unknown.
// `description` is the phrase lsepoll prints, made of the fields before it.
struct FileInfo {
  // eventfd, timerfd, signalfd, inotify, fanotify, pidfd, epoll, io_uring,
  // userfaultfd, perf_event, bpf-map, ... (any anon inode, by its name);
  // pipe, fifo, memfd, device, file; tcp, tcp6, udp, udp6, udplite, udplite6,
  // raw, raw6, icmp, icmp6, unix, netlink, packet, socket (another family);
  // and, for a watched fd that no longer names the watched file, closed or
  // replaced.
  std::string kind;
  std::string target;       // the link in /proc/PID/fd, e.g. "socket:[1234]"
  std::string name;         // memfd: the name it was created with
  std::string end;          // pipe, fifo: "read" or "write"
  std::string family;       // sockets: inet, inet6, unix, netlink, packet
  std::string type;         // sockets: stream, dgram, seqpacket, raw
  std::string protocol;     // netlink: route, generic...; packet: all, ip...; raw: the IP protocol;
                            // a socket of another family: the kernel's name for it
  std::string local;        // inet: "127.0.0.1:6379"; raw: the address; unix: the path
  std::string remote;       // inet: the peer's address when connected
  std::string state;        // tcp: LISTEN, ESTABLISHED...; unix stream, seqpacket: LISTEN, CONNECTED...
  std::string description;  // all of the above as one phrase for people
};

// How lsepoll decided that a watched fd number still names the file the set
// watches.
enum class VerdictBy {
  none,   // nothing to compare: the fd is closed
  kcmp,   // the kernel compared the files (kcmp KCMP_EPOLL_TFD)
  inode,  // kcmp could not answer; inode and device compared, which cannot
          // tell apart files that share an inode (two eventfds, a pipe's ends)
};

// "", "kcmp" or "inode", as --json prints it.
const char* verdict_by_name(VerdictBy by);

// One entry of an epoll set, and what its fd refers to.
struct WatchedFile {
  int fd = -1;                             // the number the fd was added under
  std::uint32_t events = 0;                // the kernel's event mask for it
  std::uint64_t inode = 0;                 // the inode of the watched file, from the kernel
  dev_t device = 0;                        // the device of that inode, from the kernel
  VerdictBy verdict_by = VerdictBy::none;  // how `file` was told live from replaced
  FileInfo file;                           // what the fd is, or closed / replaced
};

// One epoll instance of a process.
struct EpollInstance {
  int fd = -1;
  std::vector<WatchedFile> watched;   // by fd, then in the kernel's order
  std::optional<BusyPoll> busy_poll;  // nullopt where lsepoll may not read it (busy_poll.h)
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

// The kernel's own view of an epoll set: /proc/<pid>/fdinfo/<epoll fd>, and
// kcmp(2) to tell which file an entry watches. `Epoll::check_against_kernel`
// (src/kernel_view.cc) and the `lsepoll` tool both read it here.
//
// For each fd an epoll instance watches, the kernel prints a line
//   tfd:        5 events:       19 data:                5  pos:0 ino:3f4 sdev:d
// (fd in decimal; events, data, inode and the superblock's device in hex).

#ifndef LINUX_EXT_SRC_KERNEL_VIEW_H_
#define LINUX_EXT_SRC_KERNEL_VIEW_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "linux_ext/error.h"

namespace linux_ext::detail {

// One fd watched by an epoll instance, as the kernel holds it.
struct WatchedFd {
  int fd;                // tfd: the fd number it was added under
  std::uint32_t events;  // the event mask, with the kernel's own changes
  std::uint64_t data;    // the user data (this library puts the fd there)
  std::uint64_t inode;   // the inode of the watched file
  dev_t device;          // its device, as `stat::st_dev` encodes it
  unsigned rank;         // how many entries under the same fd come before it
};

// Parses the text of an epoll instance's fdinfo: one `WatchedFd` per `tfd:`
// line, in the kernel's order; other lines are skipped. Several entries share
// an fd number when a file was closed while in the set (a duplicate keeping
// it alive) and the number was reused; `rank` tells them apart, as kcmp does.
// A `tfd:` line that cannot be read is an Error naming the line.
OrError<std::vector<WatchedFd>> parse_epoll_fdinfo(std::string_view text);

// The whole file at `path` (a /proc or /sys file), read through the
// system-call seam (include/linux_ext/detail/syscall.h), or an Error with the
// errno of the open or read that failed.
OrError<std::string> read_whole_file(const std::string& path);

// Reads the file at `path` (e.g. "/proc/self/fdinfo/3") and parses it as
// above; a file that cannot be read is an Error with its errno. The reads go
// through the system-call seam (include/linux_ext/detail/syscall.h).
OrError<std::vector<WatchedFd>> read_epoll_fdinfo(const std::string& path);

// Whether `entry`, an entry of the epoll set `epoll_fd` of process `pid`,
// watches the file that `entry.fd` names in that process now, asked of the
// kernel with kcmp(KCMP_EPOLL_TFD), which compares the files themselves.
// `std::nullopt` when kcmp cannot answer (a kernel without it, a seccomp
// profile that refuses it, no permission to inspect `pid`, or the fd is
// closed): the caller then compares inodes, which cannot tell apart files
// that share one (two eventfds, the two ends of a pipe).
std::optional<bool> watches_file_of_fd(pid_t pid, int epoll_fd, const WatchedFd& entry);

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_SRC_KERNEL_VIEW_H_

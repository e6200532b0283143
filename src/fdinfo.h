// The kernel's view of an epoll set, from /proc/<pid>/fdinfo/<epoll fd>.
//
// For each fd an epoll instance watches, the kernel prints a line
//   tfd:        5 events:       19 data:                5  pos:0 ino:3f4 sdev:d
// (fd in decimal; events, data, inode and the superblock's device in hex).
// `Epoll::check_against_kernel` and the `lsepoll` tool both read it here.

#ifndef LINUX_EXT_SRC_FDINFO_H_
#define LINUX_EXT_SRC_FDINFO_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "linux_ext/epoll.h"

namespace linux_ext::detail {

// One fd watched by an epoll instance, as the kernel holds it.
struct WatchedFd {
  int fd;                // tfd: the fd number it was added under
  std::uint32_t events;  // the event mask, with the kernel's own changes
  std::uint64_t data;    // the user data (this library puts the fd there)
  std::uint64_t inode;   // the inode of the watched file
  dev_t device;          // its device, as `stat::st_dev` encodes it
};

// Parses the text of an epoll instance's fdinfo: one `WatchedFd` per `tfd:`
// line, in the kernel's order; other lines are skipped. A `tfd:` line that
// cannot be read is an Error naming the line.
OrError<std::vector<WatchedFd>> parse_epoll_fdinfo(std::string_view text);

// Reads the file at `path` (e.g. "/proc/self/fdinfo/3") and parses it as
// above; a file that cannot be read is an Error with its errno.
OrError<std::vector<WatchedFd>> read_epoll_fdinfo(const std::string& path);

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_SRC_FDINFO_H_

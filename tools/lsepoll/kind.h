// Naming what an fd of another process is, from its link in /proc/PID/fd:
// the one place where lsepoll decides an fd's kind and how it is described.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_KIND_H_
#define LINUX_EXT_TOOLS_LSEPOLL_KIND_H_

#include <sys/types.h>

#include <string>

#include "proc.h"
#include "sockets.h"

namespace lsepoll {

// What `fd` of process `pid` is. `target` is its link in /proc/PID/fd and
// `mode` the st_mode of the file it names; `sockets` are the socket tables of
// the process's network namespace. By the link:
//   socket:[N]               a socket, from `sockets` or its protocol's name
//   anon_inode:[X], anon_inode:X
//                            kind X (eventfd, io_uring, perf_event, bpf-map,
//                            ...), but eventpoll is called epoll
//   pipe:[N]                 pipe, with the end it is
//   /memfd:NAME (deleted)    memfd NAME
//   /PATH                    fifo (with its end), device or file, by `mode`
//   X:[N]                    kind X (a namespace, ...)
// and kind other for anything else. Fills every field but the description,
// which `describe` composes.
FileInfo classify(pid_t pid, int fd, const std::string& target, mode_t mode, const SocketTable& sockets);

// The phrase lsepoll prints for `file`, made of its fields: "tcp
// 127.0.0.1:6379 LISTEN", "unix stream /run/x.sock LISTEN", "pipe
// pipe:[1234] read end", "memfd cache", "eventfd".
std::string describe(const FileInfo& file);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_KIND_H_

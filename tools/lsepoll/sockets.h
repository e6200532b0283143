// What a socket of another process is. getsockopt cannot ask across
// processes, so lsepoll reads the tables of the process's network namespace
// in /proc/PID/net, which list sockets by inode, and for a socket none of
// them lists, the kernel's name for its protocol.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_SOCKETS_H_
#define LINUX_EXT_TOOLS_LSEPOLL_SOCKETS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

#include "proc.h"

namespace lsepoll {

// The sockets of one network namespace by inode, each with the socket fields
// of FileInfo (kind, family, type, protocol, local, remote, state) set as far
// as its table tells them.
class SocketTable {
 public:
  // Reads /proc/PID/net/{tcp,tcp6,udp,udp6,udplite,udplite6,raw,raw6,icmp,
  // icmp6,unix,netlink,packet}. A table that cannot be read (a kernel without
  // that protocol) adds nothing.
  static SocketTable read(pid_t pid);

  // The socket with this inode, or nullptr when no table lists it: a TCP
  // socket not yet bound, a netlink socket not yet bound, a socket of another
  // family (vsock, alg, ...) or of another network namespace.
  const FileInfo* find(std::uint64_t inode) const;

 private:
  std::map<std::uint64_t, FileInfo> by_inode_;
};

// A socket that no table lists, named from the kernel's name for its protocol
// (the extended attribute system.sockprotoname of `link`, its
// /proc/PID/fd/FD): "TCP" gives kind tcp, "NETLINK" netlink, and a protocol
// of a family lsepoll has no name for gives kind socket with that name as the
// protocol. Kind socket alone when even that cannot be read.
FileInfo socket_by_protocol_name(const std::string& link);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_SOCKETS_H_

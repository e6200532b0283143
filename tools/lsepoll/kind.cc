#include "kind.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <string_view>
#include <vector>

#include "procfs.h"

namespace lsepoll {
namespace {

// "socket:[1234]" -> 1234.
bool bracketed_inode(std::string_view target, std::string_view prefix, std::uint64_t& inode) {
  if (!target.starts_with(prefix) || !target.ends_with("]")) return false;
  return parse_number(target.substr(prefix.size(), target.size() - prefix.size() - 1), 10, inode);
}

// "read" or "write": which end of a pipe or fifo `fd` is, from the access
// mode in /proc/PID/fdinfo/FD ("flags:\t0100000", in octal). "" for a fifo
// opened for both, or when the fd is gone.
std::string pipe_end(pid_t pid, int fd) {
  for (const std::string& line : read_lines(proc_path(pid, "fdinfo/" + std::to_string(fd)))) {
    const std::vector<std::string> f = split(line);
    unsigned flags = 0;
    if (f.size() != 2 || f[0] != "flags:" || !parse_number(f[1], 8, flags)) continue;
    if ((flags & O_ACCMODE) == O_RDONLY) return "read";
    if ((flags & O_ACCMODE) == O_WRONLY) return "write";
    return "";
  }
  return "";
}

// The kind an anon inode's name gives: "eventfd" for "[eventfd]",
// "inotify" for "inotify".
std::string anon_inode_kind(std::string_view name) {
  if (name.starts_with("[") && name.ends_with("]")) name = name.substr(1, name.size() - 2);
  return name == "eventpoll" ? "epoll" : std::string(name);
}

// What the path of a file in the file system is, by its mode.
std::string path_kind(mode_t mode) {
  if (S_ISFIFO(mode)) return "fifo";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "device";
  return "file";
}

// The IP protocol a raw socket was opened for, by name where it has a
// common one.
std::string ip_protocol_name(const std::string& number) {
  static constexpr std::pair<std::string_view, const char*> kNames[] = {
      {"1", "icmp"}, {"2", "igmp"}, {"6", "tcp"}, {"17", "udp"}, {"58", "icmpv6"}, {"255", "raw"}};
  for (const auto& [n, name] : kNames) {
    if (n == number) return name;
  }
  return number;
}

FileInfo classify_socket(pid_t pid, int fd, std::uint64_t inode, const SocketTable& sockets) {
  const FileInfo* listed = sockets.find(inode);
  FileInfo file = listed != nullptr ? *listed : socket_by_protocol_name(fd_link(pid, fd));
  if (file.type == "raw" && (file.family == "inet" || file.family == "inet6")) {
    file.protocol = ip_protocol_name(file.protocol);
  }
  return file;
}

}  // namespace

FileInfo classify(pid_t pid, int fd, const std::string& target, mode_t mode, const SocketTable& sockets) {
  static constexpr std::string_view kAnonInode = "anon_inode:";
  static constexpr std::string_view kMemfd = "/memfd:";
  static constexpr std::string_view kDeleted = " (deleted)";
  FileInfo file;
  std::uint64_t inode = 0;
  if (bracketed_inode(target, "socket:[", inode)) {
    file = classify_socket(pid, fd, inode, sockets);
  } else if (target.starts_with(kAnonInode)) {
    file.kind = anon_inode_kind(std::string_view(target).substr(kAnonInode.size()));
  } else if (target.starts_with("pipe:[")) {
    file.kind = "pipe";
    file.end = pipe_end(pid, fd);
  } else if (target.starts_with(kMemfd) && target.ends_with(kDeleted)) {
    file.kind = "memfd";
    file.name = target.substr(kMemfd.size(), target.size() - kMemfd.size() - kDeleted.size());
  } else if (target.starts_with("/")) {
    file.kind = path_kind(mode);
    if (file.kind == "fifo") file.end = pipe_end(pid, fd);
  } else if (const std::size_t bracket = target.find(":["); bracket != std::string::npos && bracket > 0) {
    file.kind = target.substr(0, bracket);
  } else {
    file.kind = "other";
  }
  file.target = target;
  return file;
}

std::string describe(const FileInfo& file) {
  std::string text = file.kind;
  auto add = [&text](const std::string& word) {
    if (!word.empty()) text += " " + word;
  };
  if (file.target.starts_with("socket:[")) {
    // tcp, udp, raw, icmp imply their type; unix, netlink, packet and other
    // families do not.
    if (file.kind == "unix" || file.kind == "netlink" || file.kind == "packet" || file.kind == "socket") {
      add(file.type);
    }
    add(file.protocol);
    add(file.local.empty() ? file.target : file.local);
    if (!file.remote.empty()) add("-> " + file.remote);
    add(file.state);
  } else if (file.kind == "memfd") {
    add(file.name);
  } else if (!file.target.starts_with("anon_inode:")) {
    add(file.target);
    if (!file.end.empty()) add(file.end + " end");
  }
  return text;
}

}  // namespace lsepoll

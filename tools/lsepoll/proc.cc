#include "proc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string_view>

#include "kernel_view.h"

namespace lsepoll {
namespace {

using linux_ext::Epoll;
using linux_ext::Error;

// A socket as /proc/PID/net describes it.
struct Socket {
  std::string kind;
  std::string local;
  std::string remote;
  std::string state;
};
using SocketTable = std::map<std::uint64_t, Socket>;  // by inode

std::string proc_path(pid_t pid, std::string_view rest) {
  return "/proc/" + std::to_string(pid) + "/" + std::string(rest);
}

std::vector<std::string> split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> fields;
  for (std::string field; in >> field;) fields.push_back(field);
  return fields;
}

template <class T>
bool parse_number(std::string_view text, int base, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// "0100007F:1F90" -> "127.0.0.1:8080"; IPv6 as "[::1]:8080". The kernel
// prints each 32-bit word of the address as the host reads it, so copying the
// words back into memory gives the address in network order.
std::string decode_address(std::string_view hex) {
  const std::size_t colon = hex.find(':');
  if (colon == std::string_view::npos) return std::string(hex);
  const std::string_view host = hex.substr(0, colon);
  unsigned port = 0;
  if (!parse_number(hex.substr(colon + 1), 16, port)) return std::string(hex);
  unsigned char bytes[16];
  const std::size_t words = host.size() / 8;
  if ((words != 1 && words != 4) || host.size() % 8 != 0) return std::string(hex);
  for (std::size_t i = 0; i < words; ++i) {
    std::uint32_t word = 0;
    if (!parse_number(host.substr(i * 8, 8), 16, word)) return std::string(hex);
    std::memcpy(bytes + 4 * i, &word, sizeof word);
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(words == 1 ? AF_INET : AF_INET6, bytes, text, sizeof text);
  return words == 1 ? std::string(text) + ":" + std::to_string(port)
                    : "[" + std::string(text) + "]:" + std::to_string(port);
}

std::string tcp_state(std::string_view hex) {
  static constexpr const char* kNames[] = {"",          "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                                           "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
                                           "CLOSE_WAIT", "LAST_ACK",   "LISTEN",   "CLOSING"};
  unsigned state = 0;
  if (!parse_number(hex, 16, state) || state == 0 || state >= std::size(kNames)) return std::string(hex);
  return kNames[state];
}

// Adds the sockets of /proc/PID/net/{tcp,tcp6,udp,udp6}: columns
// "sl local_address rem_address st ... uid timeout inode".
void read_inet_table(pid_t pid, const std::string& kind, SocketTable& table) {
  std::ifstream in(proc_path(pid, "net/" + kind));
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split(line);
    std::uint64_t inode = 0;
    if (f.size() < 10 || !parse_number(f[9], 10, inode) || inode == 0) continue;
    Socket s{kind, decode_address(f[1]), decode_address(f[2]), ""};
    if (kind.starts_with("tcp")) s.state = tcp_state(f[3]);
    if (s.remote.ends_with(":0")) s.remote.clear();  // not connected
    table[inode] = s;
  }
}

// Adds the sockets of /proc/PID/net/unix: "Num RefCount Protocol Flags Type
// St Inode Path", the path missing for unnamed sockets.
void read_unix_table(pid_t pid, SocketTable& table) {
  std::ifstream in(proc_path(pid, "net/unix"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split(line);
    std::uint64_t inode = 0;
    if (f.size() < 7 || !parse_number(f[6], 10, inode)) continue;
    table[inode] = Socket{"unix", f.size() > 7 ? f[7] : "", "", ""};
  }
}

SocketTable read_sockets(pid_t pid) {
  SocketTable table;
  for (const char* kind : {"tcp", "tcp6", "udp", "udp6"}) read_inet_table(pid, kind, table);
  read_unix_table(pid, table);
  return table;
}

// "socket:[1234]" -> 1234.
bool bracketed_inode(std::string_view target, std::string_view prefix, std::uint64_t& inode) {
  if (!target.starts_with(prefix) || !target.ends_with("]")) return false;
  return parse_number(target.substr(prefix.size(), target.size() - prefix.size() - 1), 10, inode);
}

// Names what `target` (a link in /proc/PID/fd) is, with the details a
// person looks for first.
void describe(const std::string& target, const SocketTable& sockets, WatchedFile& w) {
  w.target = target;
  std::uint64_t inode = 0;
  if (bracketed_inode(target, "socket:[", inode)) {
    const auto found = sockets.find(inode);
    if (found == sockets.end()) {
      w.kind = "socket";
      w.description = "socket " + target;
      return;
    }
    const Socket& s = found->second;
    w.kind = s.kind;
    w.local = s.local;
    w.remote = s.remote;
    w.state = s.state;
    w.description = s.kind + " " + (s.local.empty() ? target : s.local);
    if (!s.remote.empty()) w.description += " -> " + s.remote;
    if (!s.state.empty()) w.description += " " + s.state;
    return;
  }
  if (target.starts_with("pipe:[")) {
    w.kind = "pipe";
    w.description = "pipe " + target;
    return;
  }
  static constexpr std::pair<std::string_view, std::string_view> kAnon[] = {
      {"anon_inode:[eventfd]", "eventfd"},   {"anon_inode:[timerfd]", "timerfd"},
      {"anon_inode:[signalfd]", "signalfd"}, {"anon_inode:[eventpoll]", "epoll"},
      {"anon_inode:inotify", "inotify"},     {"anon_inode:[pidfd]", "pidfd"},
  };
  for (const auto& [link, kind] : kAnon) {
    if (target == link) {
      w.kind = kind;
      w.description = kind;
      return;
    }
  }
  w.kind = target.starts_with("/") ? "file" : "other";
  w.description = w.kind == "file" ? "file " + target : target;
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

bool read_link(const std::string& path, std::string& target) {
  char buffer[4096];
  const ssize_t n = readlink(path.c_str(), buffer, sizeof buffer);
  if (n < 0) return false;
  target.assign(buffer, static_cast<std::size_t>(n));
  return true;
}

// The watched fds of one epoll instance. The kernel keys each entry by the
// number the fd was added under and the file it named then; the fd may since
// have been closed (a duplicate keeps the entry alive) or reused, which is
// worth telling apart from a live fd.
EpollInstance read_instance(pid_t pid, int epoll_fd, const std::vector<linux_ext::detail::WatchedFd>& entries,
                            const SocketTable& sockets) {
  EpollInstance instance{epoll_fd, {}};
  for (const auto& entry : entries) {
    WatchedFile w;
    w.fd = entry.fd;
    w.events = entry.events;
    const std::string link = proc_path(pid, "fd/" + std::to_string(entry.fd));
    std::string target;
    struct stat st {};
    if (!read_link(link, target) || stat(link.c_str(), &st) != 0) {
      w.kind = "closed";
      w.description = "closed (a duplicate keeps inode " + std::to_string(entry.inode) + " in the set)";
    } else if (st.st_ino != entry.inode || st.st_dev != entry.device) {
      w.kind = "replaced";
      w.target = target;
      w.description = "replaced (the set watches inode " + std::to_string(entry.inode) +
                      ", the fd now names " + target + ")";
    } else {
      describe(target, sockets, w);
    }
    instance.watched.push_back(std::move(w));
  }
  std::sort(instance.watched.begin(), instance.watched.end(),
            [](const WatchedFile& a, const WatchedFile& b) { return a.fd < b.fd; });
  return instance;
}

Error process_error(pid_t pid, int error, const std::string& what) {
  std::string context = std::to_string(pid) + ": ";
  if (error == ENOENT || error == ESRCH) {
    context += "no such process";
  } else if (error == EACCES || error == EPERM) {
    context += "permission denied reading " + what + " (the process belongs to another user; try as root)";
  } else {
    context += "cannot read " + what;
  }
  return Error(std::error_code(error, std::generic_category()), context);
}

}  // namespace

std::string flags_text(std::uint32_t events) {
  return (Epoll::Flags::of_bits(events) - Epoll::Flags::err - Epoll::Flags::hup).to_string();
}

linux_ext::OrError<Process> inspect(pid_t pid) {
  const std::string fd_dir = proc_path(pid, "fd");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(fd_dir.c_str()), closedir);
  if (!dir) return process_error(pid, errno, fd_dir);

  Process process;
  process.pid = pid;
  process.command = read_first_line(proc_path(pid, "comm"));
  std::vector<int> epoll_fds;
  while (const dirent* entry = readdir(dir.get())) {
    int fd = 0;
    std::string target;
    if (!parse_number(std::string_view(entry->d_name), 10, fd)) continue;
    if (read_link(fd_dir + "/" + entry->d_name, target) && target == "anon_inode:[eventpoll]") {
      epoll_fds.push_back(fd);
    }
  }
  std::sort(epoll_fds.begin(), epoll_fds.end());
  if (epoll_fds.empty()) return process;

  const SocketTable sockets = read_sockets(pid);
  for (int epoll_fd : epoll_fds) {
    // An fd closed since the directory was read is simply gone.
    auto entries = linux_ext::detail::read_epoll_fdinfo(proc_path(pid, "fdinfo/" + std::to_string(epoll_fd)));
    if (!entries) continue;
    process.epolls.push_back(read_instance(pid, epoll_fd, *entries, sockets));
  }
  return process;
}

std::vector<pid_t> all_pids() {
  std::vector<pid_t> pids;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc"), closedir);
  if (!dir) return pids;
  while (const dirent* entry = readdir(dir.get())) {
    pid_t pid = 0;
    if (parse_number(std::string_view(entry->d_name), 10, pid)) pids.push_back(pid);
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

}  // namespace lsepoll

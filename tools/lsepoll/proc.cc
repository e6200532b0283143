#include "proc.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>

#include "kernel_view.h"
#include "kind.h"
#include "procfs.h"
#include "sockets.h"

namespace lsepoll {
namespace {

using linux_ext::Epoll;
using linux_ext::Error;
using linux_ext::detail::WatchedFd;

// What `entry`, an entry of the epoll set `epoll_fd` of `pid`, watches. The
// kernel keys each entry by the number the fd was added under and the file
// it named then; since then the fd may have been closed (a duplicate keeps
// the entry alive) or the number may name another file, which is worth
// telling apart from a live fd. kcmp compares the files themselves; where it
// cannot answer, inodes are compared, and the entry says so.
WatchedFile read_entry(pid_t pid, int epoll_fd, const WatchedFd& entry, const SocketTable& sockets) {
  WatchedFile w;
  w.fd = entry.fd;
  w.events = entry.events;
  w.inode = entry.inode;
  w.device = entry.device;
  const std::string link = fd_link(pid, entry.fd);
  const std::optional<std::string> target = read_link(link);
  struct stat st {};
  if (!target || ::stat(link.c_str(), &st) != 0) {
    w.file.kind = "closed";
    w.file.description = "closed (a duplicate keeps inode " + std::to_string(entry.inode) + " in the set)";
    return w;
  }
  FileInfo now = classify(pid, entry.fd, *target, st.st_mode, sockets);
  now.description = describe(now);
  const std::optional<bool> same_file = linux_ext::detail::watches_file_of_fd(pid, epoll_fd, entry);
  w.verdict_by = same_file ? VerdictBy::kcmp : VerdictBy::inode;
  if (same_file.value_or(st.st_ino == entry.inode && st.st_dev == entry.device)) {
    w.file = std::move(now);
    return w;
  }
  w.file.kind = "replaced";
  w.file.target = *target;
  w.file.description = "replaced (the set watches another file, inode " + std::to_string(entry.inode) +
                       "; the fd now names " + now.description + ")";
  return w;
}

// The epoll instance `epoll_fd` of `pid`: its entries, each read as above,
// and its busy-poll parameters where `pidfd` may read them.
EpollInstance read_instance(pid_t pid, int epoll_fd, const std::vector<WatchedFd>& entries,
                            const SocketTable& sockets, const PidFd& pidfd) {
  EpollInstance instance{epoll_fd, {}, pidfd.busy_poll(epoll_fd)};
  for (const WatchedFd& entry : entries)
    instance.watched.push_back(read_entry(pid, epoll_fd, entry, sockets));
  std::stable_sort(instance.watched.begin(), instance.watched.end(),
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

const char* verdict_by_name(VerdictBy by) {
  switch (by) {
    case VerdictBy::kcmp:
      return "kcmp";
    case VerdictBy::inode:
      return "inode";
    case VerdictBy::none:
      break;
  }
  return "";
}

std::string flags_text(std::uint32_t events) {
  return (Epoll::Flags::of_bits(events) - Epoll::Flags::err - Epoll::Flags::hup).to_string();
}

linux_ext::OrError<Process> inspect(pid_t pid) {
  const PidFd pidfd(pid);
  const std::string fd_dir = proc_path(pid, "fd");
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(fd_dir.c_str()), closedir);
  if (!dir) return process_error(pid, errno, fd_dir);

  Process process;
  process.pid = pid;
  const std::vector<std::string> comm = read_lines(proc_path(pid, "comm"));
  process.command = comm.empty() ? "" : comm.front();
  std::vector<int> epoll_fds;
  while (const dirent* entry = readdir(dir.get())) {
    int fd = 0;
    if (parse_number(std::string_view(entry->d_name), 10, fd) && read_link(fd_link(pid, fd)) == kEpollLink) {
      epoll_fds.push_back(fd);
    }
  }
  std::sort(epoll_fds.begin(), epoll_fds.end());
  if (epoll_fds.empty()) return process;

  const SocketTable sockets = SocketTable::read(pid);
  for (int epoll_fd : epoll_fds) {
    // An fd closed since the directory was read is simply gone.
    auto entries = linux_ext::detail::read_epoll_fdinfo(proc_path(pid, "fdinfo/" + std::to_string(epoll_fd)));
    if (!entries) continue;
    process.epolls.push_back(read_instance(pid, epoll_fd, *entries, sockets, pidfd));
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

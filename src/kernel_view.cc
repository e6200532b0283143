#include "kernel_view.h"

#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <map>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace linux_ext::detail {
namespace {

// Reads the number after `key` (e.g. "events:") in `line`, in `base`.
template <class T>
bool read_field(std::string_view line, std::string_view key, int base, T& out) {
  const std::size_t at = line.find(key);
  if (at == std::string_view::npos) return false;
  std::size_t pos = at + key.size();
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  const char* first = line.data() + pos;
  const char* last = line.data() + line.size();
  const auto [end, ec] = std::from_chars(first, last, out, base);
  return ec == std::errc() && end != first;
}

// The kernel prints a superblock's dev_t in its own encoding (major in the
// bits above 20); user space encodes it with makedev.
dev_t from_kernel_dev(std::uint32_t kernel_dev) {
  return makedev(kernel_dev >> 20, kernel_dev & ((1U << 20) - 1));
}

}  // namespace

OrError<std::vector<WatchedFd>> parse_epoll_fdinfo(std::string_view text) {
  std::vector<WatchedFd> watched;
  std::map<int, unsigned> entries_per_fd;
  while (!text.empty()) {
    const std::size_t newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.substr(0, 4) != "tfd:") continue;
    WatchedFd w{};
    std::uint32_t kernel_dev = 0;
    if (!read_field(line, "tfd:", 10, w.fd) || !read_field(line, "events:", 16, w.events) ||
        !read_field(line, "data:", 16, w.data) || !read_field(line, "ino:", 16, w.inode) ||
        !read_field(line, "sdev:", 16, kernel_dev)) {
      return Error(std::make_error_code(std::errc::invalid_argument),
                   "epoll fdinfo: cannot read the line \"" + std::string(line) + "\"");
    }
    w.device = from_kernel_dev(kernel_dev);
    w.rank = entries_per_fd[w.fd]++;
    watched.push_back(w);
  }
  return watched;
}

OrError<std::vector<WatchedFd>> read_epoll_fdinfo(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    const int error = errno != 0 ? errno : EIO;
    return Error(std::error_code(error, std::generic_category()), "cannot read " + path);
  }
  return parse_epoll_fdinfo(text.str());
}

std::optional<bool> watches_file_of_fd(pid_t pid, int epoll_fd, const WatchedFd& entry) {
  kcmp_epoll_slot slot{static_cast<std::uint32_t>(epoll_fd), static_cast<std::uint32_t>(entry.fd), entry.rank};
  const long same = ::syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, entry.fd, &slot);
  if (same < 0) return std::nullopt;
  return same == 0;
}

}  // namespace linux_ext::detail

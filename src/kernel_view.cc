// The kernel's view of an epoll set (/proc fdinfo, kcmp), and
// Epoll::check_against_kernel, which compares the table with it.

#include "kernel_view.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <map>
#include <stdexcept>
#include <system_error>

#include "linux_ext/detail/syscall.h"
#include "linux_ext/epoll.h"

namespace linux_ext {
namespace detail {
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

OrError<std::string> read_whole_file(const std::string& path) {
  auto fail = [&](int error) {
    return Error(std::error_code(error, std::generic_category()), "cannot read " + path);
  };
  const int fd = call(Syscall::open, [&] { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); });
  if (fd < 0) return fail(errno);
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t n = call(Syscall::read, [&] { return ::read(fd, buffer, sizeof buffer); });
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      call(Syscall::close, [&] { return ::close(fd); });
      return fail(error);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  call(Syscall::close, [&] { return ::close(fd); });
  return text;
}

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
  OrError<std::string> text = read_whole_file(path);
  if (!text) return text.error();
  return parse_epoll_fdinfo(*text);
}

std::optional<bool> watches_file_of_fd(pid_t pid, int epoll_fd, const WatchedFd& entry) {
  kcmp_epoll_slot slot{static_cast<std::uint32_t>(epoll_fd), static_cast<std::uint32_t>(entry.fd),
                       entry.rank};
  const long same =
      call(Syscall::kcmp, [&] { return ::syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, entry.fd, &slot); });
  if (same < 0) return std::nullopt;
  return same == 0;
}

}  // namespace detail

namespace {

using Flags = Epoll::Flags;
using detail::WatchedFd;

// The bits the kernel keeps in an entry whose one-shot event fired.
constexpr Flags kPrivateFlags = Flags::wakeup + Flags::oneshot + Flags::et + Flags::exclusive;

// Whether the kernel's `events` for an entry are what the table's `flags`
// ask for, up to the kernel's own changes: it adds err and hup to every
// entry, disarms a fired oneshot entry down to its private bits, and drops
// wakeup without CAP_BLOCK_SUSPEND.
bool same_flags(Flags flags, std::uint32_t events) {
  const Flags kernel = Flags::of_bits(events) - (Flags::err + Flags::hup);
  Flags expected = flags - (Flags::err + Flags::hup);
  if (expected.do_intersect(Flags::wakeup) && !kernel.do_intersect(Flags::wakeup)) expected -= Flags::wakeup;
  const bool fired_oneshot = expected.do_intersect(Flags::oneshot) && kernel.is_subset(kPrivateFlags);
  return kernel == expected || (fired_oneshot && kernel == (expected & kPrivateFlags));
}

}  // namespace

void Epoll::check_against_kernel() const {
  check_open("check_against_kernel");
  const std::string path = "/proc/self/fdinfo/" + std::to_string(epoll_fd_);
  OrError<std::vector<WatchedFd>> read = detail::read_epoll_fdinfo(path);
  if (!read)
    throw std::system_error(read.error().code(), "Epoll::check_against_kernel: " + read.error().context());
  std::vector<WatchedFd>& kernel = *read;
  auto by_fd = [](const WatchedFd& a, const WatchedFd& b) { return a.fd < b.fd; };
  std::stable_sort(kernel.begin(), kernel.end(), by_fd);

  std::vector<std::string> problems;
  auto problem = [&](int fd, const std::string& what) {
    problems.push_back("fd " + std::to_string(fd) + ": " + what);
  };
  for (const WatchedFd& entry : kernel) {
    if (entry.fd < 0 || entry.fd >= num_file_descrs_ || !find(entry.fd)) {
      problem(entry.fd,
              "in the kernel's set with " + Flags::of_bits(entry.events).to_string() + ", not in the table");
    }
  }
  const pid_t self = ::getpid();
  walk_table("check_against_kernel", [&](int fd, Flags flags) {
    const auto [first, last] =
        std::equal_range(kernel.begin(), kernel.end(), WatchedFd{fd, 0, 0, 0, 0, 0}, by_fd);
    if (first == last) {
      problem(fd, "in the table with " + flags.to_string() +
                      ", not in the kernel's set (closed while in the set?)");
      return;
    }
    struct stat st;
    if (detail::call(detail::Syscall::fstat, [&] { return ::fstat(fd, &st); }) != 0) {
      problem(fd, "closed while in the set (a duplicate keeps the kernel's entry alive)");
      return;
    }
    // Every entry under this number must watch the file it names now;
    // others are left over from a file closed while in the set. kcmp tells
    // exactly; where it cannot, the inode tells.
    const WatchedFd* match = nullptr;
    for (auto entry = first; entry != last; ++entry) {
      const bool same = detail::watches_file_of_fd(self, epoll_fd_, *entry)
                            .value_or(st.st_ino == entry->inode && st.st_dev == entry->device);
      if (same) {
        match = &*entry;
      } else {
        problem(fd, "now names another file (inode " + std::to_string(st.st_ino) +
                        ") than one the kernel watches under it (inode " + std::to_string(entry->inode) +
                        ")");
      }
    }
    if (match == nullptr) return;
    if (!same_flags(flags, match->events)) {
      problem(fd, "the table has " + flags.to_string() + ", the kernel has " +
                      Flags::of_bits(match->events).to_string());
    }
    if (match->data != static_cast<std::uint64_t>(fd)) {
      problem(fd, "the kernel's data is " + std::to_string(match->data) + ", not the fd");
    }
  });
  if (problems.empty()) return;
  std::string message = "Epoll::check_against_kernel: the table and the kernel disagree (epoll fd " +
                        std::to_string(epoll_fd_) + "):";
  for (const std::string& p : problems) message += "\n  " + p;
  throw std::logic_error(message);
}

}  // namespace linux_ext

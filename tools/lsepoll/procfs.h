// Reading /proc: the few primitives every part of lsepoll uses to look at
// another process (its fd links, its fdinfo and net files).

#ifndef LINUX_EXT_TOOLS_LSEPOLL_PROCFS_H_
#define LINUX_EXT_TOOLS_LSEPOLL_PROCFS_H_

#include <sys/types.h>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lsepoll {

// The link in /proc/PID/fd of an epoll instance.
inline constexpr std::string_view kEpollLink = "anon_inode:[eventpoll]";

// "/proc/PID/REST".
std::string proc_path(pid_t pid, std::string_view rest);

// "/proc/PID/fd/FD", the link that names what `fd` is in process `pid`.
std::string fd_link(pid_t pid, int fd);

// The target of the symbolic link `path`, or nullopt when it cannot be read
// (the fd was closed, the process exited).
std::optional<std::string> read_link(const std::string& path);

// The lines of the text file `path`; none when it cannot be read.
std::vector<std::string> read_lines(const std::string& path);

// The whitespace-separated fields of `line`.
std::vector<std::string> split(std::string_view line);

// Parses all of `text` as a number in `base`; false when anything is left
// over or it does not fit `T`.
template <class T>
bool parse_number(std::string_view text, int base, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_PROCFS_H_

// Small helpers the examples share, so each example shows only its pattern.

#ifndef LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_
#define LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace example {

// Prints the program's name, `what` and errno's text, and exits 1: the
// examples stop at the first failed system call rather than hide it.
[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, what, std::strerror(errno));
  std::exit(1);
}

// Returns `result`, or fails with `what` when it is -1.
inline long check(long result, const char* what) {
  if (result == -1) fail(what);
  return result;
}

// The domain for an Epoll's table: every fd the process may open. The cap is
// the kernel's default for fs.nr_open, above which no fd exists unless an
// administrator raised it, and keeps an unlimited RLIMIT_NOFILE from asking
// for a table of billions of slots.
inline int fd_domain() {
  rlimit limit{};
  check(getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
  return static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
}

// 127.0.0.1:`port`. Port 0 binds to a free port that the kernel picks.
inline sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  return address;
}

// The port that the socket `fd` is bound to.
inline std::uint16_t local_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  check(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), "getsockname");
  return ntohs(address.sin_port);
}

// The integer after `--name` on the command line, or `fallback`. A value
// that is not a positive number is a usage error.
inline int int_option(int argc, char** argv, std::string_view name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name != argv[i]) continue;
    char* end = nullptr;
    const long value = std::strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || value <= 0 || value > 1'000'000) {
      std::fprintf(stderr, "%s wants a positive number, not \"%s\"\n", argv[i], argv[i + 1]);
      std::exit(2);
    }
    return static_cast<int>(value);
  }
  return fallback;
}

// True when `--name` is on the command line.
inline bool has_flag(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    if (name == argv[i]) return true;
  }
  return false;
}

}  // namespace example

#endif  // LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

// Small helpers the examples share, so each example shows only its pattern.

#ifndef LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_
#define LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

#include <arpa/inet.h>
#include <linux_ext/epoll.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

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

// One option of a command line: `--name VALUE` sets an int or a double,
// `--name` alone sets a bool to true. The variable holds the default.
struct Option {
  Option(std::string_view option_name, int& value) : name(option_name), target(&value) {}
  Option(std::string_view option_name, double& value) : name(option_name), target(&value) {}
  Option(std::string_view option_name, bool& flag) : name(option_name), target(&flag) {}

  std::string_view name;
  std::variant<int*, double*, bool*> target;
};

// Reads `text` into `value` and returns true when it is a whole positive
// number that fits an int; returns false and leaves `value` alone otherwise.
inline bool parse_positive(const char* text, int& value) {
  char* end = nullptr;
  errno = 0;
  const long number = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || number <= 0 || number > INT_MAX) return false;
  value = static_cast<int>(number);
  return true;
}

// Reads `text` into `value` and returns true when it is a finite positive
// number; returns false and leaves `value` alone otherwise.
inline bool parse_positive(const char* text, double& value) {
  char* end = nullptr;
  const double number = std::strtod(text, &end);
  if (end == text || *end != '\0' || !std::isfinite(number) || number <= 0) return false;
  value = number;
  return true;
}

// Prints what is wrong with the command line and `usage`, and exits 2.
[[noreturn]] inline void usage_error(const std::string& problem, const char* usage) {
  std::fprintf(stderr, "%s: %s\n%s", program_invocation_short_name, problem.c_str(), usage);
  std::exit(2);
}

// Sets the variables of `options` from the command line. `--help` prints
// `usage` and exits 0. An argument that names none of `options`, an option
// without its value, or a value that is not a positive number is a usage
// error.
inline void parse_options(int argc, char** argv, const char* usage, std::initializer_list<Option> options) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    const Option* option =
        std::find_if(options.begin(), options.end(), [&](const Option& o) { return o.name == arg; });
    if (option == options.end()) usage_error("unknown argument " + arg, usage);
    if (bool* const* flag = std::get_if<bool*>(&option->target)) {
      **flag = true;
      continue;
    }
    if (i + 1 == argc) usage_error(arg + " needs a value", usage);
    const char* text = argv[++i];
    const bool parsed = std::holds_alternative<int*>(option->target)
                            ? parse_positive(text, *std::get<int*>(option->target))
                            : parse_positive(text, *std::get<double*>(option->target));
    if (!parsed) usage_error(arg + " wants a positive number, not \"" + text + "\"", usage);
  }
}

// Opens `connections` TCP connections to 127.0.0.1:`port` and returns
// their fds (blocking sockets, as a simple client uses them).
inline std::vector<int> connect_all(std::uint16_t port, int connections) {
  const sockaddr_in server = loopback_address(port);
  std::vector<int> fds;
  for (int i = 0; i < connections; ++i) {
    const int fd = static_cast<int>(check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
    check(connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof server), "connect");
    fds.push_back(fd);
  }
  return fds;
}

// Accepts every connection waiting on the non-blocking `listen_fd` into
// `ep`, watched for `in`, and returns how many. EAGAIN ends it: another
// thread or process may have taken a connection first.
inline int accept_all(linux_ext::Epoll& ep, int listen_fd) {
  int accepted = 0;
  int connection;
  while ((connection = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
    ep.set(connection, linux_ext::Epoll::Flags::in);
    ++accepted;
  }
  if (errno != EAGAIN && errno != ECONNABORTED) fail("accept4");
  return accepted;
}

// Echoes what the connection `fd` has to read, byte for byte, and returns
// how many bytes; at its end, or on an error, removes it from `ep` (before
// closing it, as always) and closes it. The replies are small and the
// clients read each one before sending more, so the socket buffer has room.
inline long echo(linux_ext::Epoll& ep, int fd) {
  char buffer[4096];
  const long n = read(fd, buffer, sizeof buffer);
  if (n > 0) {
    check(write(fd, buffer, static_cast<std::size_t>(n)), "write");
    return n;
  }
  if (n == 0 || errno != EAGAIN) {
    ep.remove(fd);
    close(fd);
  }
  return 0;
}

}  // namespace example

#endif  // LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

// Owned fds and the files tests watch (pipes, eventfds, socketpairs), and
// the environment knobs that scale randomized tests. Free of GoogleTest, so
// that the fuzz targets share them with the unit tests (test_util.h
// includes this).

#ifndef LINUX_EXT_TESTS_FDS_H_
#define LINUX_EXT_TESTS_FDS_H_

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace linux_ext::test {

// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }

  int get() const { return fd_; }
  // Closes the fd now (e.g. to hang up a pipe).
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Gives up ownership without closing.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

// The value of the environment variable `name` as a number, or `fallback`
// when it is unset or empty: how the randomized and load tests are scaled
// or pointed at one seed.
inline long env_or(const char* name, long fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::strtol(value, nullptr, 10) : fallback;
}

// The name of an errno, e.g. "EBADF", for test names and messages.
inline std::string errno_name(int error) {
  const char* name = ::strerrorname_np(error);
  return name != nullptr ? name : std::to_string(error);
}

// Throws std::system_error when a setup system call fails: GoogleTest
// reports it as a failure of the test, with the message naming the call.
inline int check_sys(int result, const char* what) {
  if (result < 0) throw std::system_error(errno, std::generic_category(), what);
  return result;
}

struct Pipe {
  Fd read;
  Fd write;
};

// A non-blocking pipe.
inline Pipe make_pipe() {
  int fds[2];
  check_sys(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), "pipe2");
  return Pipe{Fd(fds[0]), Fd(fds[1])};
}

// A non-blocking eventfd with counter `initial`: readable iff the counter is
// positive, so writing 1 makes it ready and reading drains it.
inline Fd make_eventfd(unsigned initial = 0) {
  return Fd(check_sys(::eventfd(initial, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"));
}

// A non-blocking AF_UNIX stream socketpair.
inline std::pair<Fd, Fd> make_socketpair() {
  int fds[2];
  check_sys(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), "socketpair");
  return {Fd(fds[0]), Fd(fds[1])};
}

// Makes the other end of `fd` readable: adds 1 to an eventfd, writes 8
// bytes to a pipe or socket (an eventfd takes exactly 8 bytes).
inline void poke(int fd) {
  const std::uint64_t one = 1;
  check_sys(static_cast<int>(::write(fd, &one, sizeof one)), "write");
}

// Reads everything there is to read from non-blocking `fd`.
inline void drain(int fd) {
  char buf[4096];
  while (::read(fd, buf, sizeof buf) > 0) {
  }
}

}  // namespace linux_ext::test

#endif  // LINUX_EXT_TESTS_FDS_H_

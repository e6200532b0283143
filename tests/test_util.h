// Helpers shared by the unit tests: the kernel's own view of an epoll set,
// and matchers that say what a test expects of the table and the ready set.
// Owned fds, pipes, eventfds and socketpairs are in fds.h, included here.

#ifndef LINUX_EXT_TESTS_TEST_UTIL_H_
#define LINUX_EXT_TESTS_TEST_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "fds.h"
#include "linux_ext/epoll.h"

#if defined(LINUX_EXT_SYSCALL_SEAM)
#include "fault_injection.h"
#endif

namespace linux_ext::test {

using Flags = Epoll::Flags;
using Timeout = Epoll::Timeout;
using WaitResult = Epoll::WaitResult;
using namespace std::chrono_literals;

// The largest max_ready_events that create and resize take: what
// epoll_wait can be given.
inline constexpr int kMaxReadyEvents = static_cast<int>(INT_MAX / sizeof(epoll_event));

// A fresh Epoll; fails the test when `create` does not succeed.
inline Epoll make_epoll(int num_file_descrs = 1024, int max_ready_events = 64) {
  OrError<Epoll> created = Epoll::create(num_file_descrs, max_ready_events);
  if (!created) {
    ADD_FAILURE() << created.error().message();
  }
  return std::move(created).value();
}

// One entry of the kernel's epoll set, from /proc/self/fdinfo/<epoll fd>.
// Parsed here independently of the library's own parser, so that tests
// check the library against the kernel, not against itself.
struct KernelEntry {
  int fd;
  std::uint32_t events;
  std::uint64_t data;
  std::uint64_t inode;
};

// The kernel's epoll set of `epoll_fd`, in the kernel's order.
inline std::vector<KernelEntry> kernel_entries(int epoll_fd) {
  std::ifstream in("/proc/self/fdinfo/" + std::to_string(epoll_fd));
  EXPECT_TRUE(in.good()) << "cannot read the fdinfo of epoll fd " << epoll_fd;
  std::vector<KernelEntry> entries;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("tfd:", 0) != 0) continue;
    KernelEntry e{};
    unsigned long long data = 0;
    unsigned long inode = 0;
    unsigned events = 0;
    const int n = std::sscanf(line.c_str(), "tfd: %d events: %x data: %llx pos:%*d ino:%lx", &e.fd, &events,
                              &data, &inode);
    EXPECT_EQ(n, 4) << "unexpected fdinfo line: " << line;
    e.events = events;
    e.data = data;
    e.inode = inode;
    entries.push_back(e);
  }
  return entries;
}

// The flags the kernel holds for `fd` in `epoll_fd`'s set, or nullopt. The
// kernel adds `err` and `hup` to every entry; they are kept here.
inline std::optional<Flags> kernel_flags(int epoll_fd, int fd) {
  for (const KernelEntry& e : kernel_entries(epoll_fd)) {
    if (e.fd == fd) return Flags::of_bits(e.events);
  }
  return std::nullopt;
}

// The table as `iter` walks it, as (fd, flags) pairs sorted by fd: the
// order of `iter` is left open. Fails the test when the walk visits an fd
// twice.
inline std::vector<std::pair<int, Flags>> table_of(const Epoll& ep) {
  std::vector<std::pair<int, Flags>> table;
  ep.iter([&](int fd, Flags flags) { table.emplace_back(fd, flags); });
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const auto twice = std::adjacent_find(table.begin(), table.end(),
                                        [](const auto& a, const auto& b) { return a.first == b.first; });
  if (twice != table.end()) ADD_FAILURE() << "iter visited fd " << twice->first << " twice";
  return table;
}

// The ready set as (fd, flags) pairs in the order `iter_ready` walks it.
inline std::vector<std::pair<int, Flags>> ready_of(const Epoll& ep) {
  std::vector<std::pair<int, Flags>> ready;
  ep.iter_ready([&](int fd, Flags flags) { ready.emplace_back(fd, flags); });
  return ready;
}

// The fds of the ready set, sorted.
inline std::vector<int> ready_fds(const Epoll& ep) {
  std::vector<int> fds;
  ep.iter_ready([&](int fd, Flags) { fds.push_back(fd); });
  std::sort(fds.begin(), fds.end());
  return fds;
}

// Expects the ready set to hold exactly these events, in any order.
inline void expect_ready(const Epoll& ep, std::vector<std::pair<int, Flags>> expected) {
  std::vector<std::pair<int, Flags>> actual = ready_of(ep);
  auto by_fd = [](const auto& a, const auto& b) { return a.first < b.first; };
  std::sort(actual.begin(), actual.end(), by_fd);
  std::sort(expected.begin(), expected.end(), by_fd);
  EXPECT_EQ(static_cast<std::size_t>(ep.num_ready()), actual.size());
  ASSERT_EQ(actual.size(), expected.size()) << ep;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first) << ep;
    EXPECT_EQ(actual[i].second, expected[i].second) << "fd " << actual[i].first << " in " << ep;
  }
}

// The errno of the std::system_error that `f()` throws; 0 when it throws
// nothing. Any other exception, or an error code that is not an errno,
// fails the test.
template <class F>
int errno_thrown(F&& f) {
  try {
    f();
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().category(), std::generic_category()) << e.what();
    return e.code().value();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected std::system_error, got: " << e.what();
    return -1;
  }
  return 0;
}

// The exception of type E that `f()` throws, copied; fails the test and
// returns nothing when it throws nothing or something else.
template <class E, class F>
std::optional<E> thrown(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected another exception type, got: " << e.what();
    return std::nullopt;
  }
  ADD_FAILURE() << "expected an exception, none was thrown";
  return std::nullopt;
}

// The what() of the exception of type E that `f()` throws; fails the test
// when it throws nothing or something else.
template <class E, class F>
std::string what_thrown(F&& f) {
  const std::optional<E> e = thrown<E>(std::forward<F>(f));
  return e ? e->what() : std::string();
}

// Runs `f()` (returning an int) in a forked child, e.g. to change process
// limits or capabilities this process must keep, and returns what it
// returned (the child's exit status), or -1 when the child did not exit.
// A child still running after a minute is killed and gives -1, so that a
// child that hangs (on a lock some other thread held at the fork, say)
// fails the test instead of hanging it.
template <class F>
int exit_code_in_child(F&& f) {
  // Output still buffered would be printed again by a child whose exit
  // flushes stdio, as ThreadSanitizer's _exit does.
  std::fflush(stdout);
  const pid_t child = ::fork();
  if (child < 0) return -1;
  if (child == 0) ::_exit(f());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    ::usleep(1000);
  }
  if (waited == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    return -1;
  }
  if (waited != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// Runs `checks` (returning 0 when all pass, or the number of the first that
// failed) in a forked child, and returns its exit code; an exception there
// is printed and gives 100. Printed with write(2), which takes no lock that
// another thread of the parent may have held at the fork.
template <class F>
int in_child(F&& checks) {
  return exit_code_in_child([&] {
    try {
      return checks();
    } catch (const std::exception& e) {
      for (const char* part : {"child: ", e.what(), "\n"}) {
        [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, part, std::strlen(part));
      }
      return 100;
    }
  });
}

// What an Epoll holds, as its API shows it: the epoll fd, the sizes, the
// table and the ready set. Equal before and after an operation that must
// change nothing.
struct Snapshot {
  int epoll_fd;
  int num_file_descrs;
  int max_ready_events;
  std::size_t size;
  std::vector<std::pair<int, Flags>> table;
  int num_ready;
  std::vector<std::pair<int, Flags>> ready;

  explicit Snapshot(const Epoll& ep)
      : epoll_fd(ep.fd()),
        num_file_descrs(ep.num_file_descrs()),
        max_ready_events(ep.max_ready_events()),
        size(ep.size()),
        table(table_of(ep)),
        num_ready(ep.num_ready()),
        ready(ready_of(ep)) {}
  bool operator==(const Snapshot&) const = default;

  friend std::ostream& operator<<(std::ostream& out, const Snapshot& s) {
    out << "epoll fd " << s.epoll_fd << ", sizes " << s.num_file_descrs << "/" << s.max_ready_events
        << ", size " << s.size << ", table {";
    for (const auto& [fd, flags] : s.table) out << " " << fd << " " << flags;
    out << " }, num_ready " << s.num_ready << ", ready {";
    for (const auto& [fd, flags] : s.ready) out << " " << fd << " " << flags;
    return out << " }";
  }
};

// Expects both of the library's checks to pass.
inline void expect_consistent(const Epoll& ep) {
  EXPECT_NO_THROW(ep.invariant()) << ep;
  if (!ep.is_closed()) {
    EXPECT_NO_THROW(ep.check_against_kernel()) << ep;
  }
}

// The time `f()` takes, on the monotonic clock.
template <class F>
std::chrono::nanoseconds time_of(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::steady_clock::now() - start;
}

// Installs a handler for `signal` that only counts, without SA_RESTART, so
// that a blocking system call returns EINTR; restores the old one on exit.
class CountingSignalHandler {
 public:
  explicit CountingSignalHandler(int signal) : signal_(signal) {
    count() = 0;
    struct sigaction action {};
    action.sa_handler = [](int) { ++count(); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    check_sys(::sigaction(signal_, &action, &old_), "sigaction");
  }
  ~CountingSignalHandler() { ::sigaction(signal_, &old_, nullptr); }
  CountingSignalHandler(const CountingSignalHandler&) = delete;
  CountingSignalHandler& operator=(const CountingSignalHandler&) = delete;

  // Signals handled since construction (a lock-free atomic is safe to
  // touch from a handler).
  static std::atomic<int>& count() {
    static std::atomic<int> n{0};
    return n;
  }

 private:
  int signal_;
  struct sigaction old_ {};
};

#if defined(LINUX_EXT_SYSCALL_SEAM)
// The calls the library made through the seam since construction, per
// kind: system calls, and the allocations of create and resize (which the
// seam names `calloc`, though no system call).
class SyscallCounter {
 public:
  SyscallCounter() { testing::reset(); }
  ~SyscallCounter() { testing::reset(); }

  long operator[](testing::Syscall id) const { return testing::count(id); }
  // Every system call, allocations not included.
  long total() const {
    long sum = 0;
    for (int i = 0; i < detail::kNumSyscalls; ++i) {
      if (const auto id = static_cast<testing::Syscall>(i); id != testing::Syscall::calloc)
        sum += testing::count(id);
    }
    return sum;
  }
  // The allocations of the table and the ready buffer.
  long allocations() const { return testing::count(testing::Syscall::calloc); }
  // Every count, e.g. "epoll_ctl=1 clock_gettime=0 ...", for failure output.
  std::string describe() const {
    std::string out;
    for (int i = 0; i < detail::kNumSyscalls; ++i) {
      const auto id = static_cast<testing::Syscall>(i);
      out += std::string(testing::name(id)) + "=" + std::to_string(testing::count(id)) + " ";
    }
    return out;
  }
  void reset() { testing::reset(); }
};

// Whether the running kernel has epoll_pwait2 (valgrind and kernels before
// 5.11 answer ENOSYS); asked with arguments it refuses otherwise.
inline bool kernel_has_epoll_pwait2() {
  return ::syscall(SYS_epoll_pwait2, -1, nullptr, 0, nullptr, nullptr, 0L) == 0 || errno != ENOSYS;
}
#endif

// The soft RLIMIT_NOFILE, before and after raise_fd_limit.
struct FdLimit {
  int before;
  int now;
};

// Raises the soft RLIMIT_NOFILE toward `wanted`, as far as the hard limit
// lets it (it never lowers it): a fresh Debian starts processes at 1024,
// too few for a test of thousands of connections. The test sizes itself to
// `now` and says so. (Linux caps the limit at nr_open, so it fits an int.)
inline FdLimit raise_fd_limit(int wanted) {
  rlimit limit{};
  check_sys(::getrlimit(RLIMIT_NOFILE, &limit), "getrlimit");
  const int before = static_cast<int>(limit.rlim_cur);
  if (limit.rlim_cur < static_cast<rlim_t>(wanted)) {
    limit.rlim_cur = std::min(static_cast<rlim_t>(wanted), limit.rlim_max);
    check_sys(::setrlimit(RLIMIT_NOFILE, &limit), "setrlimit");
  }
  return {before, static_cast<int>(limit.rlim_cur)};
}

}  // namespace linux_ext::test

#endif  // LINUX_EXT_TESTS_TEST_UTIL_H_

// lsepoll, run as a program: on this test's own process, whose epoll sets it
// knows, and on a live redis-server started on loopback.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include <memory>
#include <regex>
#include <thread>

#include "test_util.h"

extern char** environ;

namespace linux_ext::test {
namespace {

#ifdef LSEPOLL_PATH

struct Output {
  int status = -1;  // the exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs lsepoll with `args` (a shell word list) and collects what it prints.
Output run_lsepoll(const std::string& args) {
  Output run;
  const std::string command = std::string(LSEPOLL_PATH) + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    ADD_FAILURE() << "popen: " << std::strerror(errno);
    return run;
  }
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
  const int status = ::pclose(pipe);
  run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The line lsepoll prints for `fd`, or "" when there is none.
std::string line_for_fd(const std::string& output, int fd) {
  std::istringstream in(output);
  const std::string prefix = "  fd " + std::to_string(fd) + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) return line;
  }
  return "";
}

// A TCP listener on 127.0.0.1 at a port the kernel picks.
Fd make_listener() {
  Fd fd(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  check_sys(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), "bind");
  check_sys(::listen(fd.get(), 8), "listen");
  return fd;
}

int local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  check_sys(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
  return ntohs(addr.sin_port);
}

std::string self() { return std::to_string(::getpid()); }

// This process's name as lsepoll prints it: lsepoll_test, or the tool's name
// when run under valgrind.
std::string own_command() {
  std::ifstream in("/proc/self/comm");
  std::string command;
  std::getline(in, command);
  return command;
}

TEST(Lsepoll, ListsEveryFdOfOwnEpollWithFlagsAndKind) {
  Epoll ep = make_epoll();
  Pipe pipe = make_pipe();
  Fd event = make_eventfd();
  Fd timer(check_sys(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), "timerfd_create"));
  Fd listener = make_listener();
  auto [left, right] = make_socketpair();
  Epoll inner = make_epoll();
  ep.set(pipe.read.get(), Flags::in);
  ep.set(event.get(), Flags::in + Flags::et);
  ep.set(timer.get(), Flags::in + Flags::oneshot);
  ep.set(listener.get(), Flags::in);
  ep.set(left.get(), Flags::in + Flags::out + Flags::rdhup);
  ep.set(inner.fd(), Flags::in);

  const Output run = run_lsepoll(self());
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find(self() + " " + own_command() + ": epoll fd " + std::to_string(ep.fd()) + ", 6 watched\n"),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find(self() + " " + own_command() + ": epoll fd " + std::to_string(inner.fd()) + ", 0 watched\n"),
            std::string::npos)
      << run.output;
  const std::string port = std::to_string(local_port(listener.get()));
  const std::pair<int, std::string> expected[] = {
      {pipe.read.get(), "(in) pipe pipe:\\[[0-9]+\\]"},
      {event.get(), "(in et) eventfd"},
      {timer.get(), "(in oneshot) timerfd"},
      {listener.get(), "(in) tcp 127.0.0.1:" + port + " LISTEN"},
      {left.get(), "(in out rdhup) unix socket:\\[[0-9]+\\]"},
      {inner.fd(), "(in) epoll"},
  };
  for (const auto& [fd, text] : expected) {
    const std::string line = line_for_fd(run.output, fd);
    std::string pattern = "  fd " + std::to_string(fd) + " " + text;
    // Parentheses are the flags' own, not regex groups.
    pattern = std::regex_replace(pattern, std::regex(R"(\((\w[\w ]*)\))"), R"(\($1\))");
    EXPECT_TRUE(std::regex_match(line, std::regex(pattern))) << "line: " << line << "\nwanted: " << pattern;
  }
  // lsepoll and the library print flags alike.
  EXPECT_NE(line_for_fd(run.output, left.get()).find(" " + ep.find_exn(left.get()).to_string() + " "),
            std::string::npos);
  ep.iter([&](int fd, Flags) { EXPECT_NE(line_for_fd(run.output, fd), "") << fd; });
}

TEST(Lsepoll, JsonHasOneObjectPerWatchedFd) {
  Epoll ep = make_epoll();
  Pipe pipe = make_pipe();
  Fd event = make_eventfd();
  ep.set(pipe.read.get(), Flags::in);
  ep.set(event.get(), Flags::in + Flags::et);

  const Output run = run_lsepoll("--json " + self());
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(run.output.starts_with("[{\"pid\":" + self() + ",\"command\":\"" + own_command() + "\",\"epolls\":[")) << run.output;
  EXPECT_NE(run.output.find("{\"fd\":" + std::to_string(ep.fd()) + ",\"watched\":[{\"fd\":"), std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("{\"fd\":" + std::to_string(pipe.read.get()) + ",\"events\":25,\"flags\":\"(in)\"," +
                            "\"kind\":\"pipe\",\"target\":\"pipe:["),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("{\"fd\":" + std::to_string(event.get()) + ",\"events\":" +
                            std::to_string((Flags::in + Flags::et + Flags::err + Flags::hup).bits()) +
                            ",\"flags\":\"(in et)\",\"kind\":\"eventfd\""),
            std::string::npos)
      << run.output;
  EXPECT_TRUE(run.output.ends_with("]}]}]\n")) << run.output;
}

TEST(Lsepoll, SaysWhenAWatchedFdWasClosedOrReplacedBehindTheSetsBack) {
  Epoll ep = make_epoll();
  Pipe pipe = make_pipe();
  // High numbers, so that the pipe lsepoll is run through cannot reuse them.
  Fd closed(check_sys(::fcntl(pipe.read.get(), F_DUPFD_CLOEXEC, 500), "fcntl"));
  Fd replaced(check_sys(::fcntl(pipe.read.get(), F_DUPFD_CLOEXEC, 600), "fcntl"));
  const int closed_fd = closed.get();
  const int replaced_fd = replaced.get();
  ep.set(closed_fd, Flags::in);
  ep.set(replaced_fd, Flags::in + Flags::et);
  // pipe.read, a duplicate, keeps the kernel's entries alive once closed.
  closed.reset();
  Fd other = make_eventfd();
  check_sys(::dup3(other.get(), replaced_fd, O_CLOEXEC), "dup3");

  const Output run = run_lsepoll(self());
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(line_for_fd(run.output, closed_fd).starts_with("  fd " + std::to_string(closed_fd) + " (in) closed ("))
      << run.output;
  EXPECT_TRUE(line_for_fd(run.output, replaced_fd)
                  .starts_with("  fd " + std::to_string(replaced_fd) + " (in et) replaced (the set watches inode "))
      << run.output;
  EXPECT_NE(line_for_fd(run.output, replaced_fd).find("the fd now names anon_inode:[eventfd])"), std::string::npos)
      << run.output;
  EXPECT_THROW(ep.remove(closed_fd), std::system_error);
}

TEST(Lsepoll, MissingPidIsAnErrorNamingThePid) {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  in >> pid_max;
  ASSERT_GT(pid_max, 0);
  const std::string missing = std::to_string(pid_max + 1);  // no PID can be this large

  const Output run = run_lsepoll(missing + " " + self());
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("lsepoll: " + missing + ": no such process\n"), std::string::npos) << run.output;
  // The other PID is still listed.
  EXPECT_NE(run.output.find(self() + " " + own_command() + ": "), std::string::npos) << run.output;
}

TEST(Lsepoll, NotAPidIsAUsageError) {
  const Output run = run_lsepoll("12abc");
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.output.find("lsepoll: 12abc: not a process id\n"), std::string::npos) << run.output;
}

TEST(Lsepoll, AnotherUsersProcessIsPermissionDenied) {
  if (::geteuid() != 0) {
    // PID 1 is root's, unless this runs in a namespace of its own.
    struct stat st {};
    if (::stat("/proc/1", &st) != 0 || st.st_uid == ::geteuid()) GTEST_SKIP() << "PID 1 is this user's";
    const Output run = run_lsepoll("1");
    EXPECT_EQ(run.status, 1);
    EXPECT_NE(run.output.find("lsepoll: 1: permission denied reading /proc/1/fd"), std::string::npos) << run.output;
    return;
  }
  // As root, look at this root-owned process as the unprivileged user nobody.
  Pipe out = make_pipe();
  const std::string target = self();
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(out.write.get(), 1);
    ::dup2(out.write.get(), 2);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(100);
    ::execl(LSEPOLL_PATH, "lsepoll", target.c_str(), static_cast<char*>(nullptr));
    ::_exit(101);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  out.write.reset();
  std::string output;
  char buffer[1024];
  long n;
  while ((n = ::read(out.read.get(), buffer, sizeof buffer)) > 0) output.append(buffer, static_cast<std::size_t>(n));
  if (WIFEXITED(status) && WEXITSTATUS(status) >= 100) GTEST_SKIP() << "cannot run lsepoll as nobody here";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << output;
  EXPECT_NE(output.find("lsepoll: " + target + ": permission denied reading /proc/" + target + "/fd"),
            std::string::npos)
      << output;
}

// A redis-server on 127.0.0.1, killed when the test ends, pass or fail.
class RedisServer {
 public:
  // Starts redis-server on a free loopback port; false when it did not come
  // up (the port may have been taken between the probe and the start).
  bool start(const std::string& program) {
    {
      Fd probe = make_listener();
      port_ = local_port(probe.get());
    }
    const std::string port = std::to_string(port_);
    const char* argv[] = {"redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning", nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, "/tmp");
    const int error = ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, const_cast<char**>(argv), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) return false;
    // Up when it accepts a connection; bounded to 10 s.
    for (int attempt = 0; attempt < 200; ++attempt) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      client_ = Fd(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<std::uint16_t>(port_));
      if (::connect(client_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  ~RedisServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(50ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  // A connection to the server, open while the test runs.
  int client() const { return client_.get(); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  Fd client_;
};

std::string find_in_path(const char* name) {
  std::istringstream path(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
  for (std::string dir; std::getline(path, dir, ':');) {
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  for (const char* dir : {"/usr/bin", "/usr/sbin"}) {
    const std::string candidate = std::string(dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

TEST(Lsepoll, ShowsTheListeningSocketAndAClientOfALiveRedisServer) {
  const std::string program = find_in_path("redis-server");
  if (program.empty()) GTEST_SKIP() << "redis-server is not installed (make test installs it)";
  std::unique_ptr<RedisServer> redis;
  for (int attempt = 0; attempt < 3 && !redis; ++attempt) {
    redis = std::make_unique<RedisServer>();
    if (!redis->start(program)) redis.reset();
  }
  ASSERT_TRUE(redis) << "redis-server did not start";
  const std::string port = std::to_string(redis->port());
  const std::string client_port = std::to_string(local_port(redis->client()));
  // The server registers the connection once it accepted it; a round trip
  // makes sure it has.
  const std::string ping = "PING\r\n";
  ASSERT_EQ(::write(redis->client(), ping.data(), ping.size()), static_cast<long>(ping.size()));
  char reply[16];
  ASSERT_GT(::read(redis->client(), reply, sizeof reply), 0);

  const Output run = run_lsepoll(std::to_string(redis->pid()));
  ASSERT_EQ(run.status, 0) << run.output;
  const std::string pid = std::to_string(redis->pid());
  EXPECT_TRUE(std::regex_search(run.output, std::regex("(^|\n)" + pid + " redis-server: epoll fd [0-9]+, [0-9]+ watched\n")))
      << run.output;
  EXPECT_TRUE(std::regex_search(run.output, std::regex("\n  fd [0-9]+ \\(in\\) tcp 127\\.0\\.0\\.1:" + port + " LISTEN\n")))
      << run.output;
  EXPECT_TRUE(std::regex_search(run.output, std::regex("\n  fd [0-9]+ \\(in\\) tcp 127\\.0\\.0\\.1:" + port +
                                                       " -> 127\\.0\\.0\\.1:" + client_port + " ESTABLISHED\n")))
      << run.output;

  const Output json = run_lsepoll("--json " + pid);
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(json.output.find("\"flags\":\"(in)\",\"kind\":\"tcp\",\"target\":\"socket:["), std::string::npos)
      << json.output;
  EXPECT_NE(json.output.find("\"local\":\"127.0.0.1:" + port + "\",\"remote\":\"\",\"state\":\"LISTEN\""),
            std::string::npos)
      << json.output;
}

#else
TEST(Lsepoll, NotBuilt) { GTEST_SKIP() << "lsepoll is not built (LINUX_EXT_TOOLS=OFF)"; }
#endif

}  // namespace
}  // namespace linux_ext::test

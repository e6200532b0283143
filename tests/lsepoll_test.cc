// lsepoll, run as a program: on this test's own process, whose epoll sets it
// knows, and on a live redis-server started on loopback.

#include <arpa/inet.h>
#include <linux/bpf.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/io_uring.h>
#include <linux/kcmp.h>
#include <linux/netlink.h>
#include <linux/perf_event.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/fanotify.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <thread>

#include "epoll_params.h"
#include "test_util.h"

extern char** environ;

namespace linux_ext::test {
namespace {

#ifdef LSEPOLL_PATH

// How long a test waits for lsepoll to print what it expects before it gives
// up; a bound against hanging, not a measure of speed.
constexpr auto kPatience = 30s;

// The exit status of a child whose setup before exec failed.
constexpr int kSetupFailed = 100;

// lsepoll running as a child of this process, its stdout and stderr read
// through a pipe.
class LsepollProcess {
 public:
  // Starts lsepoll with `args`. `in_child`, when given, runs in the child
  // before exec (to drop privileges, to install a seccomp filter); when it
  // returns false the child exits with kSetupFailed.
  explicit LsepollProcess(const std::vector<std::string>& args, bool (*in_child)() = nullptr) {
    Pipe out = make_pipe();
    std::vector<char*> argv{const_cast<char*>(LSEPOLL_PATH)};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    pid_ = check_sys(::fork(), "fork");
    if (pid_ == 0) {
      ::dup2(out.write.get(), 1);
      ::dup2(out.write.get(), 2);
      if (in_child != nullptr && !in_child()) ::_exit(kSetupFailed);
      ::execv(LSEPOLL_PATH, argv.data());
      ::_exit(kSetupFailed + 1);
    }
    out_ = std::move(out.read);
  }

  ~LsepollProcess() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  LsepollProcess(const LsepollProcess&) = delete;
  LsepollProcess& operator=(const LsepollProcess&) = delete;

  // Reads what lsepoll prints until `done(output())` holds (true), or until
  // it closes its output or kPatience has passed (false).
  bool read_until(const std::function<bool(const std::string&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!done(output_)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      pollfd ready{out_.get(), POLLIN, 0};
      if (::poll(&ready, 1, static_cast<int>(left.count())) < 0 && errno != EINTR) return false;
      char buffer[4096];
      const ssize_t n = ::read(out_.get(), buffer, sizeof buffer);
      if (n == 0) return done(output_);
      if (n > 0) output_.append(buffer, static_cast<std::size_t>(n));
    }
    return true;
  }

  // Sends `signal` to lsepoll.
  void signal(int signal) { ::kill(pid_, signal); }

  // Reads everything lsepoll prints, waits for it to exit and returns its
  // exit status, or -1 when it did not exit normally.
  int finish() {
    read_until([](const std::string&) { return false; });
    int status = 0;
    const bool exited = ::waitpid(pid_, &status, 0) == pid_;
    pid_ = -1;
    return exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Everything read so far, stdout and stderr together.
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  Fd out_;
  std::string output_;
};

struct Output {
  int status = -1;     // the exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs lsepoll with `args` to the end.
Output run_lsepoll(const std::vector<std::string>& args, bool (*in_child)() = nullptr) {
  LsepollProcess lsepoll(args, in_child);
  Output run;
  run.status = lsepoll.finish();
  run.output = lsepoll.output();
  return run;
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

// The header lsepoll prints for the epoll instance `epoll_fd` of this
// process, up to the count: "1234 lsepoll_test: epoll fd 5, ".
std::string header_of(int epoll_fd) {
  return self() + " " + own_command() + ": epoll fd " + std::to_string(epoll_fd) + ", ";
}

// The lines lsepoll prints under the header of the epoll instance
// `epoll_fd` of this process, without their indentation.
std::vector<std::string> instance_lines(const std::string& output, int epoll_fd) {
  std::istringstream in(output);
  std::vector<std::string> lines;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("  ")) {
      inside = line.starts_with(header_of(epoll_fd));
    } else if (inside) {
      lines.push_back(line.substr(2));
    }
  }
  return lines;
}

// What lsepoll prints after "fd FD " for each entry under `fd` in the epoll
// instance `epoll_fd`: the flags and the description.
std::vector<std::string> entries_of(const std::string& output, int epoll_fd, int fd) {
  std::vector<std::string> entries;
  const std::string prefix = "fd " + std::to_string(fd) + " ";
  for (const std::string& line : instance_lines(output, epoll_fd)) {
    if (line.starts_with(prefix)) entries.push_back(line.substr(prefix.size()));
  }
  return entries;
}

// The one entry under `fd`, or "" (and a failure) when there is not exactly one.
std::string entry_of(const std::string& output, int epoll_fd, int fd) {
  const std::vector<std::string> entries = entries_of(output, epoll_fd, fd);
  EXPECT_EQ(entries.size(), 1u) << "fd " << fd << " in epoll fd " << epoll_fd << " of:\n" << output;
  return entries.size() == 1 ? entries[0] : "";
}

// Whether `text` matches `pattern` whole, where `#` in the pattern stands for
// a number and every other character for itself: "pipe pipe:[#] read end".
bool matches(const std::string& pattern, const std::string& text) {
  std::string regex;
  for (const char c : pattern) {
    if (c == '#') {
      regex += "[0-9]+";
    } else {
      if (std::strchr("\\^$.|?*+()[]{}", c) != nullptr) regex += '\\';
      regex += c;
    }
  }
  return std::regex_match(text, std::regex(regex));
}

// The fields of a flat JSON object, numbers as their text and strings
// unescaped (lsepoll escapes only quotes, backslashes and control bytes).
using JsonFields = std::map<std::string, std::string>;

// Parses the flat JSON object at `pos` in `json` and moves `pos` past it;
// empty when there is none.
JsonFields parse_flat_object(const std::string& json, std::size_t& pos) {
  // The next character, moving past it; '\0' at the end of the text.
  auto next = [&] { return pos < json.size() ? json[pos++] : '\0'; };
  auto peek = [&] { return pos < json.size() ? json[pos] : '\0'; };
  auto parse_string = [&](std::string& out) {
    if (next() != '"') return false;
    for (char c = next(); c != '"'; c = next()) {
      if (c == '\0') return false;
      if (c == '\\' && (c = next()) == 'u') {
        out += static_cast<char>(std::stoi(json.substr(pos, 4), nullptr, 16));
        pos += 4;
        continue;
      }
      out += c;
    }
    return true;
  };
  JsonFields fields;
  if (next() != '{') return {};
  while (true) {
    std::string key, value;
    if (!parse_string(key) || next() != ':') return {};
    if (peek() == '"') {
      if (!parse_string(value)) return {};
    } else {
      while (peek() != ',' && peek() != '}' && peek() != '\0') value += next();
    }
    fields[key] = value;
    const char after = next();
    if (after == '}') return fields;
    if (after != ',') return {};
  }
}

// The objects lsepoll --json prints for the entries under `fd` in the epoll
// instance `epoll_fd`.
std::vector<JsonFields> json_entries_of(const std::string& json, int epoll_fd, int fd) {
  std::vector<JsonFields> entries;
  const std::string start = "{\"fd\":" + std::to_string(epoll_fd) + ",\"watched\":[";
  std::size_t pos = json.find(start);
  if (pos == std::string::npos) return entries;
  pos += start.size();
  while (pos < json.size() && json[pos] == '{') {
    JsonFields fields = parse_flat_object(json, pos);
    if (fields.empty()) break;
    if (fields["fd"] == std::to_string(fd)) entries.push_back(std::move(fields));
    if (json[pos] == ',') ++pos;
  }
  return entries;
}

// Every field of a watched entry in lsepoll --json.
const char* const kJsonFields[] = {"fd",    "events", "flags",      "kind",       "target", "name",
                                   "end",   "family", "type",       "protocol",   "local",  "remote",
                                   "state", "inode",  "verdict_by", "description"};

// Whether kcmp(KCMP_EPOLL_TFD) answers for this process, which lsepoll then
// uses to tell which file an entry watches.
bool kcmp_answers() {
  Epoll ep = make_epoll();
  Fd event = make_eventfd();
  ep.set(event.get(), Flags::in);
  kcmp_epoll_slot slot{static_cast<std::uint32_t>(ep.fd()), static_cast<std::uint32_t>(event.get()), 0};
  return ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_EPOLL_TFD, event.get(), &slot) == 0;
}

// Makes the system call `kCall` fail with `kError` in this process and the
// programs it runs: kcmp with ENOSYS as on a kernel built without it,
// pidfd_getfd with EPERM as without ptrace access. (The filter looks at the
// system-call number only, which is enough for lsepoll: it makes only native
// calls.)
template <long kCall, int kError>
bool refuse() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kCall, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | kError),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

// Says, in the test's output, that `what` could not be made here and is not
// checked.
void note_not_checked(const std::string& what, int error, const std::string& needs) {
  std::cout << "[   NOTE   ] " << what << ": " << std::strerror(error) << " (" << needs
            << "): not checked here\n";
}

// The loopback address of `family` (127.0.0.1 or ::1), port 0, in
// `storage`; returns its length.
socklen_t loopback(int family, sockaddr_storage& storage) {
  storage = {};
  if (family == AF_INET) {
    auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
    addr->sin_family = AF_INET;
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sizeof *addr;
  }
  auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
  addr->sin6_family = AF_INET6;
  addr->sin6_addr = in6addr_loopback;
  return sizeof *addr;
}

// A TCP listener on loopback (127.0.0.1 or ::1) at a port the kernel picks;
// -1 when the address family is not available.
Fd make_listener(int family = AF_INET) {
  Fd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage storage;
  const socklen_t len = loopback(family, storage);
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
      ::listen(fd.get(), 8) != 0) {
    return Fd();
  }
  return fd;
}

// A UDP socket bound to loopback (127.0.0.1 or ::1); -1 when the address
// family is not available.
Fd make_udp(int family) {
  Fd fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_storage storage;
  const socklen_t len = loopback(family, storage);
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), len) != 0) return Fd();
  return fd;
}

int local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  check_sys(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), "getsockname");
  return addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                    : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// The link /proc/self/fd/FD.
std::string link_of(int fd) {
  char target[4096];
  const ssize_t n = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), target, sizeof target);
  return n < 0 ? "" : std::string(target, static_cast<std::size_t>(n));
}

// One fd of a kind lsepoll names, and what lsepoll must print for it.
struct KindCase {
  std::string what;  // for failure messages
  Fd fd;
  Flags flags;
  std::string description;  // a `matches` pattern
  JsonFields fields;        // fields its JSON object must have, beside those it shares with the text
};

// A directory of its own under /tmp, removed with what it holds.
class TempDir {
 public:
  TempDir() {
    char path[] = "/tmp/lsepoll_test.XXXXXX";
    if (::mkdtemp(path) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp");
    path_ = path;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An fd for each kind lsepoll names, and what else they need while the test
// runs: the other end of each connection, the directory of the fifo.
struct EveryKind {
  std::vector<KindCase> cases;
  std::vector<Fd> peers;
  TempDir dir;
};

// Makes an fd of each kind lsepoll names, in the test's own process. Those
// this process may not make (a missing capability, a kernel without them)
// are left out, and the test's output says so.
void make_every_kind(EveryKind& every) {
  std::vector<KindCase>& cases = every.cases;
  auto add = [&cases](std::string what, Fd fd, Flags flags, std::string description, JsonFields fields) {
    cases.push_back({std::move(what), std::move(fd), flags, std::move(description), std::move(fields)});
  };
  // Adds `fd` when it was made, else notes why not.
  auto add_if_made = [&add](std::string what, long fd, const std::string& needs, Flags flags,
                            std::string description, JsonFields fields) {
    if (fd < 0) return note_not_checked(what, errno, needs);
    add(std::move(what), Fd(static_cast<int>(fd)), flags, std::move(description), std::move(fields));
  };

  Pipe pipe = make_pipe();
  add("pipe read end", std::move(pipe.read), Flags::in, "pipe pipe:[#] read end",
      {{"kind", "pipe"}, {"end", "read"}});
  add("pipe write end", std::move(pipe.write), Flags::out, "pipe pipe:[#] write end",
      {{"kind", "pipe"}, {"end", "write"}});
  add("eventfd", make_eventfd(), Flags::in + Flags::et, "eventfd", {{"kind", "eventfd"}});
  add("timerfd", Fd(check_sys(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC), "timerfd_create")),
      Flags::in + Flags::oneshot, "timerfd", {{"kind", "timerfd"}});
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  add("signalfd", Fd(check_sys(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK), "signalfd")), Flags::in,
      "signalfd", {{"kind", "signalfd"}});
  add("inotify", Fd(check_sys(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK), "inotify_init1")), Flags::in,
      "inotify", {{"kind", "inotify"}});
  add("epoll", Fd(check_sys(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")), Flags::in, "epoll",
      {{"kind", "epoll"}});
  add_if_made("pidfd_open", ::syscall(SYS_pidfd_open, ::getpid(), 0), "a kernel before 5.3", Flags::in,
              "pidfd", {{"kind", "pidfd"}});
  io_uring_params params{};
  add_if_made("io_uring_setup", ::syscall(__NR_io_uring_setup, 4, &params),
              "io_uring disabled by kernel.io_uring_disabled or a seccomp profile", Flags::in, "io_uring",
              {{"kind", "io_uring"}});
  add_if_made("fanotify_init", ::fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY),
              "needs CAP_SYS_ADMIN", Flags::in, "fanotify", {{"kind", "fanotify"}});
  add_if_made("userfaultfd", ::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK),
              "needs vm.unprivileged_userfaultfd=1 or CAP_SYS_PTRACE", Flags::in, "userfaultfd",
              {{"kind", "userfaultfd"}});
  perf_event_attr perf{};
  perf.type = PERF_TYPE_SOFTWARE;
  perf.size = sizeof perf;
  perf.config = PERF_COUNT_SW_DUMMY;
  perf.disabled = 1;
  perf.exclude_kernel = 1;
  perf.exclude_hv = 1;
  add_if_made("perf_event_open", ::syscall(SYS_perf_event_open, &perf, 0, -1, -1, PERF_FLAG_FD_CLOEXEC),
              "kernel.perf_event_paranoid too high", Flags::in, "perf_event", {{"kind", "perf_event"}});
  bpf_attr map{};
  map.map_type = BPF_MAP_TYPE_ARRAY;
  map.key_size = 4;
  map.value_size = 4;
  map.max_entries = 1;
  add_if_made("bpf(BPF_MAP_CREATE)", ::syscall(SYS_bpf, BPF_MAP_CREATE, &map, sizeof map), "needs CAP_BPF",
              Flags::in, "bpf-map", {{"kind", "bpf-map"}});
  const int terminal = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  add_if_made("posix_openpt", terminal, "no /dev/ptmx", Flags::in, "device " + link_of(terminal),
              {{"kind", "device"}});
  const std::string fifo = every.dir.path() + "/fifo";
  check_sys(::mkfifo(fifo.c_str(), 0600), "mkfifo");
  add("fifo", Fd(check_sys(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC), "open")), Flags::in,
      "fifo " + fifo + " read end", {{"kind", "fifo"}, {"end", "read"}});

  // Sockets: family and type, from /proc/PID/net.
  Fd listener = make_listener();
  const std::string port = std::to_string(local_port(listener.get()));
  Fd client(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<std::uint16_t>(local_port(listener.get())));
  check_sys(::connect(client.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), "connect");
  Fd accepted(check_sys(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC), "accept4"));
  const std::string client_port = std::to_string(local_port(client.get()));
  add("tcp listener", std::move(listener), Flags::in, "tcp 127.0.0.1:" + port + " LISTEN",
      {{"kind", "tcp"},
       {"family", "inet"},
       {"type", "stream"},
       {"local", "127.0.0.1:" + port},
       {"remote", ""},
       {"state", "LISTEN"}});
  add("tcp connection", std::move(accepted), Flags::in + Flags::rdhup,
      "tcp 127.0.0.1:" + port + " -> 127.0.0.1:" + client_port + " ESTABLISHED",
      {{"kind", "tcp"},
       {"family", "inet"},
       {"type", "stream"},
       {"remote", "127.0.0.1:" + client_port},
       {"state", "ESTABLISHED"}});
  // Not bound, so in no table: named by its protocol alone.
  add("unbound tcp", Fd(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")), Flags::out,
      "tcp socket:[#]", {{"kind", "tcp"}, {"family", "inet"}, {"type", "stream"}, {"local", ""}});
  Fd listener6 = make_listener(AF_INET6);
  if (listener6.get() < 0) {
    note_not_checked("a tcp6 listener on ::1", errno, "no IPv6 here");
  } else {
    const std::string port6 = std::to_string(local_port(listener6.get()));
    add("tcp6 listener", std::move(listener6), Flags::in, "tcp6 [::1]:" + port6 + " LISTEN",
        {{"kind", "tcp6"}, {"family", "inet6"}, {"type", "stream"}, {"state", "LISTEN"}});
  }
  Fd udp = make_udp(AF_INET);
  const std::string udp_port = std::to_string(local_port(udp.get()));
  add("udp", std::move(udp), Flags::in, "udp 127.0.0.1:" + udp_port,
      {{"kind", "udp"},
       {"family", "inet"},
       {"type", "dgram"},
       {"local", "127.0.0.1:" + udp_port},
       {"state", ""}});
  Fd udp6 = make_udp(AF_INET6);
  if (udp6.get() < 0) {
    note_not_checked("a udp6 socket on ::1", errno, "no IPv6 here");
  } else {
    const std::string port6 = std::to_string(local_port(udp6.get()));
    add("udp6", std::move(udp6), Flags::in, "udp6 [::1]:" + port6,
        {{"kind", "udp6"}, {"family", "inet6"}, {"type", "dgram"}});
  }
  auto [stream, stream_peer] = make_socketpair();
  add("unix stream", std::move(stream), Flags::in + Flags::out, "unix stream socket:[#] CONNECTED",
      {{"kind", "unix"}, {"family", "unix"}, {"type", "stream"}, {"state", "CONNECTED"}});
  int pair[2];
  check_sys(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair), "socketpair");
  Fd dgram_peer(pair[1]);
  add("unix dgram", Fd(pair[0]), Flags::in, "unix dgram socket:[#]",
      {{"kind", "unix"}, {"family", "unix"}, {"type", "dgram"}, {"state", ""}});
  Fd seqpacket(check_sys(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), "socket"));
  const std::string abstract_name = "lsepoll_test." + self();
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::memcpy(unix_address.sun_path + 1, abstract_name.data(), abstract_name.size());
  check_sys(::bind(seqpacket.get(), reinterpret_cast<sockaddr*>(&unix_address),
                   static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract_name.size())),
            "bind");
  check_sys(::listen(seqpacket.get(), 1), "listen");
  add("unix seqpacket listener", std::move(seqpacket), Flags::in,
      "unix seqpacket @" + abstract_name + " LISTEN",
      {{"kind", "unix"},
       {"family", "unix"},
       {"type", "seqpacket"},
       {"local", "@" + abstract_name},
       {"state", "LISTEN"}});
  Fd netlink(check_sys(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), "socket"));
  sockaddr_nl netlink_address{};
  netlink_address.nl_family = AF_NETLINK;
  check_sys(::bind(netlink.get(), reinterpret_cast<sockaddr*>(&netlink_address), sizeof netlink_address),
            "bind");
  add("netlink", std::move(netlink), Flags::in, "netlink route socket:[#]",
      {{"kind", "netlink"}, {"family", "netlink"}, {"protocol", "route"}});
  add_if_made("an AF_PACKET socket", ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP)),
              "needs CAP_NET_RAW", Flags::in, "packet raw arp socket:[#]",
              {{"kind", "packet"}, {"family", "packet"}, {"type", "raw"}, {"protocol", "arp"}});
  add_if_made(
      "a raw ICMP socket", ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP), "needs CAP_NET_RAW",
      Flags::in, "raw icmp 0.0.0.0",
      {{"kind", "raw"}, {"family", "inet"}, {"type", "raw"}, {"protocol", "icmp"}, {"local", "0.0.0.0"}});
  every.peers.push_back(std::move(client));
  every.peers.push_back(std::move(stream_peer));
  every.peers.push_back(std::move(dgram_peer));
}

TEST(Lsepoll, NamesEveryKindOfFdAlikeInTextAndJson) {
  Epoll ep = make_epoll();
  EveryKind every;
  make_every_kind(every);
  const std::vector<KindCase>& cases = every.cases;
  for (const KindCase& c : cases) ep.set(c.fd.get(), c.flags);

  const Output text = run_lsepoll({self()});
  const Output json = run_lsepoll({"--json", self()});
  ASSERT_EQ(text.status, 0) << text.output;
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(text.output.find(header_of(ep.fd()) + std::to_string(cases.size()) + " watched\n"),
            std::string::npos)
      << text.output;
  const std::string verdict_by = kcmp_answers() ? "kcmp" : "inode";
  for (const KindCase& c : cases) {
    SCOPED_TRACE(c.what + " (fd " + std::to_string(c.fd.get()) + ")");
    const std::string line = entry_of(text.output, ep.fd(), c.fd.get());
    // The flags as the library prints them.
    const std::string flags = ep.find_exn(c.fd.get()).to_string();
    ASSERT_TRUE(line.starts_with(flags + " ")) << line;
    EXPECT_TRUE(matches(c.description, line.substr(flags.size() + 1)))
        << "printed: " << line << "\nwanted: " << flags << " " << c.description;

    const std::vector<JsonFields> objects = json_entries_of(json.output, ep.fd(), c.fd.get());
    ASSERT_EQ(objects.size(), 1u) << json.output;
    const JsonFields& object = objects[0];
    for (const char* field : kJsonFields) EXPECT_TRUE(object.contains(field)) << field;
    // The text line is made of the JSON's fields.
    EXPECT_EQ(line, object.at("flags") + " " + object.at("description"));
    EXPECT_EQ(object.at("events"), std::to_string(kernel_flags(ep.fd(), c.fd.get())->bits()));
    EXPECT_EQ(object.at("target"), link_of(c.fd.get()));
    EXPECT_EQ(object.at("verdict_by"), verdict_by);
    for (const auto& [field, value] : c.fields) EXPECT_EQ(object.at(field), value) << field;
  }
}

TEST(Lsepoll, AnFdReplacedByAFileOfTheSameInodeIsReplaced) {
  if (!kcmp_answers()) GTEST_SKIP() << "kcmp(KCMP_EPOLL_TFD) does not answer here";
  Epoll ep = make_epoll();
  // An eventfd replaced by another eventfd: all eventfds share one inode.
  Fd first = make_eventfd();
  Fd first_alive(check_sys(::fcntl(first.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(first.get(), Flags::in);
  Fd second = make_eventfd();
  check_sys(::dup3(second.get(), first.get(), O_CLOEXEC), "dup3");
  // A pipe's read end replaced by its own write end: one inode for both.
  Pipe pipe = make_pipe();
  Fd read_alive(check_sys(::fcntl(pipe.read.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(pipe.read.get(), Flags::in + Flags::et);
  check_sys(::dup3(pipe.write.get(), pipe.read.get(), O_CLOEXEC), "dup3");
  // A memfd, which epoll cannot watch, named where it replaced a watched fd.
  Fd third = make_eventfd();
  Fd third_alive(check_sys(::fcntl(third.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(third.get(), Flags::in);
  Fd memfd(check_sys(::memfd_create("lsepoll test", MFD_CLOEXEC), "memfd_create"));
  check_sys(::dup3(memfd.get(), third.get(), O_CLOEXEC), "dup3");

  const Output text = run_lsepoll({self()});
  const Output json = run_lsepoll({"--json", self()});
  ASSERT_EQ(text.status, 0) << text.output;
  const std::string replaced = "replaced (the set watches another file, inode #; the fd now names ";
  EXPECT_TRUE(matches("(in) " + replaced + "eventfd)", entry_of(text.output, ep.fd(), first.get())))
      << text.output;
  EXPECT_TRUE(matches("(in et) " + replaced + "pipe pipe:[#] write end)",
                      entry_of(text.output, ep.fd(), pipe.read.get())))
      << text.output;
  EXPECT_TRUE(
      matches("(in) " + replaced + "memfd lsepoll test)", entry_of(text.output, ep.fd(), third.get())))
      << text.output;
  EXPECT_EQ(text.output.find("note:"), std::string::npos) << text.output;
  for (const int fd : {first.get(), pipe.read.get(), third.get()}) {
    const std::vector<JsonFields> objects = json_entries_of(json.output, ep.fd(), fd);
    ASSERT_EQ(objects.size(), 1u) << json.output;
    EXPECT_EQ(objects[0].at("kind"), "replaced");
    EXPECT_EQ(objects[0].at("verdict_by"), "kcmp");
    EXPECT_EQ(objects[0].at("target"), link_of(fd));
  }
}

TEST(Lsepoll, TwoEntriesUnderOneFdNumberAreJudgedEachByItself) {
  if (!kcmp_answers()) GTEST_SKIP() << "kcmp(KCMP_EPOLL_TFD) does not answer here";
  Epoll ep = make_epoll();
  Fd first = make_eventfd();
  Fd first_alive(check_sys(::fcntl(first.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(first.get(), Flags::in);
  Fd second = make_eventfd();
  check_sys(::dup3(second.get(), first.get(), O_CLOEXEC), "dup3");
  // The kernel cannot remove the first entry by its number any more (EPOLL_CTL_DEL
  // finds no entry for the new file); the table forgets it, and the new file
  // joins the set under the same number.
  EXPECT_THROW(ep.remove(first.get()), std::system_error);
  ep.set(first.get(), Flags::out);

  const Output run = run_lsepoll({self()});
  ASSERT_EQ(run.status, 0) << run.output;
  std::vector<std::string> entries = entries_of(run.output, ep.fd(), first.get());
  std::sort(entries.begin(), entries.end());
  ASSERT_EQ(entries.size(), 2u) << run.output;
  EXPECT_TRUE(
      matches("(in) replaced (the set watches another file, inode #; the fd now names eventfd)", entries[0]))
      << run.output;
  EXPECT_EQ(entries[1], "(out) eventfd") << run.output;
}

TEST(Lsepoll, WithoutKcmpTheVerdictIsByInodeAndSaysSo) {
  Epoll ep = make_epoll();
  Fd first = make_eventfd();
  Fd first_alive(check_sys(::fcntl(first.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(first.get(), Flags::in);
  Fd second = make_eventfd();
  check_sys(::dup3(second.get(), first.get(), O_CLOEXEC), "dup3");
  Pipe pipe = make_pipe();
  Fd read_alive(check_sys(::fcntl(pipe.read.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(pipe.read.get(), Flags::in);
  check_sys(::dup3(pipe.write.get(), pipe.read.get(), O_CLOEXEC), "dup3");
  // A file of another inode is still told apart.
  Fd third = make_eventfd();
  Fd third_alive(check_sys(::fcntl(third.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  ep.set(third.get(), Flags::in);
  check_sys(::dup3(pipe.write.get(), third.get(), O_CLOEXEC), "dup3");

  const Output text = run_lsepoll({self()}, refuse<SYS_kcmp, ENOSYS>);
  const Output json = run_lsepoll({"--json", self()}, refuse<SYS_kcmp, ENOSYS>);
  if (text.status == kSetupFailed) GTEST_SKIP() << "cannot install a seccomp filter here";
  ASSERT_EQ(text.status, 0) << text.output;
  // Inodes cannot tell these from live fds...
  EXPECT_EQ(entry_of(text.output, ep.fd(), first.get()), "(in) eventfd") << text.output;
  EXPECT_TRUE(matches("(in) pipe pipe:[#] write end", entry_of(text.output, ep.fd(), pipe.read.get())))
      << text.output;
  EXPECT_TRUE(matches(
      "(in) replaced (the set watches another file, inode #; the fd now names pipe pipe:[#] write end)",
      entry_of(text.output, ep.fd(), third.get())))
      << text.output;
  // ...and lsepoll says so.
  std::vector<int> fds = {first.get(), pipe.read.get(), third.get()};
  std::sort(fds.begin(), fds.end());
  const std::string note = "note: verdict by inode for fd " + std::to_string(fds[0]) + ", fd " +
                           std::to_string(fds[1]) + ", fd " + std::to_string(fds[2]) +
                           " (kcmp cannot compare files";
  const std::vector<std::string> lines = instance_lines(text.output, ep.fd());
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.starts_with(note);
  })) << text.output;
  for (const int fd : {first.get(), pipe.read.get(), third.get()}) {
    const std::vector<JsonFields> objects = json_entries_of(json.output, ep.fd(), fd);
    ASSERT_EQ(objects.size(), 1u) << json.output;
    EXPECT_EQ(objects[0].at("verdict_by"), "inode");
  }
}

TEST(Lsepoll, SaysWhenAWatchedFdWasClosed) {
  Epoll ep = make_epoll();
  Pipe pipe = make_pipe();
  // A high number, so that the pipe lsepoll is run through cannot reuse it.
  Fd closed(check_sys(::fcntl(pipe.read.get(), F_DUPFD_CLOEXEC, 500), "fcntl"));
  const int closed_fd = closed.get();
  ep.set(closed_fd, Flags::in);
  // pipe.read, a duplicate, keeps the kernel's entry alive once closed.
  closed.reset();

  const Output run = run_lsepoll({self()});
  EXPECT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(
      matches("(in) closed (a duplicate keeps inode # in the set)", entry_of(run.output, ep.fd(), closed_fd)))
      << run.output;
  const Output json = run_lsepoll({"--json", self()});
  const std::vector<JsonFields> objects = json_entries_of(json.output, ep.fd(), closed_fd);
  ASSERT_EQ(objects.size(), 1u) << json.output;
  EXPECT_EQ(objects[0].at("kind"), "closed");
  EXPECT_EQ(objects[0].at("verdict_by"), "");
  EXPECT_THROW(ep.remove(closed_fd), std::system_error);
}

TEST(Lsepoll, ListsEveryEpollInstanceOfTheProcessAndJsonIsOneArray) {
  Epoll ep = make_epoll();
  Epoll empty = make_epoll();
  Fd event = make_eventfd();
  ep.set(event.get(), Flags::in);

  const Output run = run_lsepoll({self()});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_NE(run.output.find(header_of(ep.fd()) + "1 watched\n"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find(header_of(empty.fd()) + "0 watched\n"), std::string::npos) << run.output;

  const Output json = run_lsepoll({"--json", self()});
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_TRUE(
      json.output.starts_with("[{\"pid\":" + self() + ",\"command\":\"" + own_command() + "\",\"epolls\":["))
      << json.output;
  EXPECT_NE(json.output.find("{\"fd\":" + std::to_string(empty.fd()) + ",\"watched\":[]}"), std::string::npos)
      << json.output;
  EXPECT_TRUE(json.output.ends_with("]}]\n")) << json.output;
}

// Sets the busy-poll parameters of the epoll set `epoll_fd` with the
// kernel's ioctl; 0, or the errno when the kernel refuses (before Linux 6.9,
// or built without busy polling).
int set_busy_poll(int epoll_fd, std::uint32_t usecs, std::uint16_t budget, bool prefer) {
  detail::EpollParams params{usecs, budget, static_cast<std::uint8_t>(prefer ? 1 : 0), 0};
  return ::ioctl(epoll_fd, detail::kEpollSetParams, &params) == 0 ? 0 : errno;
}

// Tests of what lsepoll shows of busy polling, on `busy_`: a set that
// busy-polls for 50 µs, 8 packets at a time, preferred to interrupts.
// Skipped where the kernel refuses to set that.
class LsepollBusyPoll : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const int error = set_busy_poll(busy_.fd(), 50, 8, true); error != 0) {
      GTEST_SKIP() << "ioctl(EPIOCSPARAMS): " << std::strerror(error)
                   << " (needs Linux 6.9 built with CONFIG_NET_RX_BUSY_POLL): busy polling not checked";
    }
  }

  Epoll busy_ = make_epoll();
};

TEST_F(LsepollBusyPoll, ShowsParametersThatAreNotAllZero) {
  Epoll untouched = make_epoll();
  // Set, then all back to zero: like a set never touched.
  Epoll reset = make_epoll();
  ASSERT_EQ(set_busy_poll(reset.fd(), 10, 4, true), 0);
  ASSERT_EQ(set_busy_poll(reset.fd(), 0, 0, false), 0);

  const Output text = run_lsepoll({self()});
  ASSERT_EQ(text.status, 0) << text.output;
  EXPECT_NE(text.output.find(header_of(busy_.fd()) +
                             "0 watched (busy_poll ((usecs 50) (budget 8) (prefer true)))\n"),
            std::string::npos)
      << text.output;
  for (const Epoll* off : {&untouched, &reset}) {
    EXPECT_NE(text.output.find(header_of(off->fd()) + "0 watched\n"), std::string::npos) << text.output;
  }

  const Output json = run_lsepoll({"--json", self()});
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(json.output.find("{\"fd\":" + std::to_string(busy_.fd()) +
                             ",\"watched\":[],\"busy_poll\":{\"usecs\":50,\"budget\":8,\"prefer\":true}}"),
            std::string::npos)
      << json.output;
  for (const Epoll* off : {&untouched, &reset}) {
    EXPECT_NE(json.output.find("{\"fd\":" + std::to_string(off->fd()) + ",\"watched\":[]}"),
              std::string::npos)
        << json.output;
  }
}

TEST_F(LsepollBusyPoll, SaysNothingWhereItMayNotReadThem) {
  const std::pair<const char*, bool (*)()> refusals[] = {
      {"without ptrace access (pidfd_getfd refused)", refuse<SYS_pidfd_getfd, EPERM>},
      {"on a kernel without the ioctl", refuse<SYS_ioctl, ENOTTY>},
  };
  for (const auto& [what, refusal] : refusals) {
    SCOPED_TRACE(what);
    const Output text = run_lsepoll({self()}, refusal);
    if (text.status == kSetupFailed) GTEST_SKIP() << "cannot install a seccomp filter here";
    EXPECT_EQ(text.status, 0) << text.output;
    EXPECT_NE(text.output.find(header_of(busy_.fd()) + "0 watched\n"), std::string::npos) << text.output;
    const Output json = run_lsepoll({"--json", self()}, refusal);
    EXPECT_EQ(json.status, 0) << json.output;
    EXPECT_NE(json.output.find("{\"fd\":" + std::to_string(busy_.fd()) + ",\"watched\":[]}"),
              std::string::npos)
        << json.output;
  }
}

// "2026-01-02T15:04:05.123+0100 ", the stamp of a line of lsepoll --watch.
const std::string kTimestamp =
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}[+-][0-9]{4} ";

// The lines lsepoll --watch printed after the first `first_reading`
// characters of `output`: one per change.
std::vector<std::string> lines_after(const std::string& output, std::size_t first_reading) {
  std::vector<std::string> lines;
  std::istringstream in(output.substr(first_reading));
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(Lsepoll, WatchPrintsOnlyWhatChangedUntilSigterm) {
  Epoll ep = make_epoll();
  Fd kept = make_eventfd();
  Fd modified = make_eventfd();
  Fd removed = make_eventfd();
  Fd replaced = make_eventfd();
  Fd replaced_alive(check_sys(::fcntl(replaced.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
  for (const Fd* fd : {&kept, &modified, &removed, &replaced}) ep.set(fd->get(), Flags::in);

  LsepollProcess watch({"--watch", "0.05", self()});
  // Once the last fd of the first reading is printed, that reading is over.
  ASSERT_TRUE(watch.read_until([&](const std::string& out) {
    return entries_of(out, ep.fd(), replaced.get()).size() == 1;
  })) << watch.output();
  const std::size_t first_reading = watch.output().size();
  Fd added = make_eventfd();
  ep.set(added.get(), Flags::in);
  ep.set(modified.get(), Flags::in + Flags::out);
  ep.remove(removed.get());
  Pipe pipe = make_pipe();
  check_sys(::dup3(pipe.read.get(), replaced.get(), O_CLOEXEC), "dup3");

  const std::string prefix =
      kTimestamp + self() + " " + own_command() + ": epoll fd " + std::to_string(ep.fd()) + ": ";
  auto fd = [](const Fd& f) { return "fd " + std::to_string(f.get()) + " "; };
  const std::vector<std::regex> expected = {
      std::regex(prefix + "added " + fd(added) + "\\(in\\) eventfd"),
      std::regex(prefix + "changed " + fd(modified) + "\\(in\\) eventfd -> \\(in out\\) eventfd"),
      std::regex(prefix + "removed " + fd(removed) + "\\(in\\) eventfd"),
      std::regex(
          prefix + "changed " + fd(replaced) +
          "\\(in\\) eventfd -> \\(in\\) replaced \\(.*the fd now names pipe pipe:\\[[0-9]+\\] read end\\)"),
  };
  auto all_reported = [&](const std::string& out) {
    const std::vector<std::string> lines = lines_after(out, first_reading);
    return std::all_of(expected.begin(), expected.end(), [&](const std::regex& want) {
      return std::any_of(lines.begin(), lines.end(),
                         [&](const std::string& line) { return std::regex_match(line, want); });
    });
  };
  EXPECT_TRUE(watch.read_until(all_reported)) << watch.output();
  // What did not change is not printed again.
  for (const std::string& line : lines_after(watch.output(), first_reading)) {
    EXPECT_EQ(line.find(fd(kept)), std::string::npos) << line;
  }
  watch.signal(SIGTERM);
  EXPECT_EQ(watch.finish(), 0) << watch.output();
}

TEST(Lsepoll, WatchShowsAFileAddedUnderANumberWithAStaleEntryAsOneAddition) {
  // Under one number, the kernel orders entries by the files' addresses: with
  // eight numbers, some new entry comes before the stale one of its number.
  constexpr int kNumbers = 8;
  Epoll ep = make_epoll();
  std::vector<Fd> numbers;
  std::vector<Fd> stale_alive;
  for (int i = 0; i < kNumbers; ++i) {
    // UDP sockets, each of its own inode, and eventfds, which all share one.
    auto make = [i] { return i % 2 == 0 ? make_udp(AF_INET) : make_eventfd(); };
    Fd number = make();
    stale_alive.emplace_back(check_sys(::fcntl(number.get(), F_DUPFD_CLOEXEC, 0), "fcntl"));
    ep.set(number.get(), Flags::in);
    // The number is closed and names a new file: the old file's entry stays
    // in the kernel's set, and the table forgets it.
    check_sys(::dup3(make().get(), number.get(), O_CLOEXEC), "dup3");
    EXPECT_THROW(ep.remove(number.get()), std::system_error);
    numbers.push_back(std::move(number));
  }

  LsepollProcess watch({"--watch", "0.05", self()});
  ASSERT_TRUE(watch.read_until([&](const std::string& out) {
    return std::all_of(numbers.begin(), numbers.end(),
                       [&](const Fd& number) { return entries_of(out, ep.fd(), number.get()).size() == 1; });
  })) << watch.output();
  const std::size_t first_reading = watch.output().size();
  for (const Fd& number : numbers) ep.set(number.get(), Flags::in);

  const std::string prefix =
      kTimestamp + self() + " " + own_command() + ": epoll fd " + std::to_string(ep.fd()) + ": added fd ";
  std::vector<std::regex> additions;
  for (int i = 0; i < kNumbers; ++i) {
    const std::string file = i % 2 == 0 ? "udp 127\\.0\\.0\\.1:[0-9]+" : "eventfd";
    additions.emplace_back(prefix + std::to_string(numbers[i].get()) + " \\(in\\) " + file);
  }
  // Whether each addition is printed exactly once, and nothing else.
  auto only_additions = [&](const std::string& out) {
    const std::vector<std::string> lines = lines_after(out, first_reading);
    return lines.size() == additions.size() &&
           std::all_of(additions.begin(), additions.end(), [&](const std::regex& addition) {
             return std::count_if(lines.begin(), lines.end(), [&](const std::string& line) {
                      return std::regex_match(line, addition);
                    }) == 1;
           });
  };
  // Read until every addition is in, then to the end: nothing else may follow.
  EXPECT_TRUE(watch.read_until([&](const std::string& out) {
    return lines_after(out, first_reading).size() >= additions.size();
  })) << watch.output();
  watch.signal(SIGTERM);
  EXPECT_EQ(watch.finish(), 0) << watch.output();
  EXPECT_TRUE(only_additions(watch.output())) << watch.output().substr(first_reading);
}

TEST(Lsepoll, WatchWithJsonPrintsEachChangeAsAnObjectUntilSigint) {
  Epoll ep = make_epoll();
  LsepollProcess watch({"--json", "--watch", "0.05", self()});
  ASSERT_TRUE(watch.read_until([](const std::string& out) { return out.ends_with("]\n"); }))
      << watch.output();
  EXPECT_TRUE(watch.output().starts_with("[{\"pid\":" + self())) << watch.output();
  Fd added = make_eventfd();
  ep.set(added.get(), Flags::in);

  const std::regex change("(^|\n)\\{\"time\":\"" + kTimestamp.substr(0, kTimestamp.size() - 1) +
                          "\",\"pid\":" + self() + ",\"command\":\"" + own_command() +
                          "\",\"epoll_fd\":" + std::to_string(ep.fd()) +
                          ",\"change\":\"added\",\"watched\":\\{\"fd\":" + std::to_string(added.get()) +
                          ",\"events\":[0-9]+,\"flags\":\"\\(in\\)\",\"kind\":\"eventfd\",[^\n]*\\}\\}\n");
  EXPECT_TRUE(watch.read_until([&](const std::string& out) { return std::regex_search(out, change); }))
      << watch.output();
  watch.signal(SIGINT);
  EXPECT_EQ(watch.finish(), 0) << watch.output();
}

TEST(Lsepoll, WatchIntervalThatIsNotAPositiveNumberIsAUsageError) {
  for (const std::string interval : {"0", "-1", "abc", "1s", "nan", "100000"}) {
    const Output run = run_lsepoll({"--watch", interval, self()});
    EXPECT_EQ(run.status, 2) << interval;
    EXPECT_TRUE(
        run.output.starts_with("lsepoll: --watch " + interval + ": SECONDS must be a positive number"))
        << run.output;
  }
  const Output missing = run_lsepoll({"--watch"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_TRUE(missing.output.starts_with("lsepoll: --watch: missing SECONDS\n")) << missing.output;
}

TEST(Lsepoll, HelpNamesEveryOption) {
  const Output run = run_lsepoll({"--help"});
  EXPECT_EQ(run.status, 0);
  for (const char* option : {"--json", "--watch SECONDS"}) {
    EXPECT_NE(run.output.find(option), std::string::npos) << option << " in:\n" << run.output;
  }
}

TEST(Lsepoll, MissingPidIsAnErrorNamingThePid) {
  std::ifstream in("/proc/sys/kernel/pid_max");
  long pid_max = 0;
  in >> pid_max;
  ASSERT_GT(pid_max, 0);
  const std::string missing = std::to_string(pid_max + 1);  // no PID can be this large

  const Output run = run_lsepoll({missing, self()});
  EXPECT_EQ(run.status, 1);
  EXPECT_NE(run.output.find("lsepoll: " + missing + ": no such process\n"), std::string::npos) << run.output;
  // The other PID is still listed.
  EXPECT_NE(run.output.find(self() + " " + own_command() + ": "), std::string::npos) << run.output;
}

TEST(Lsepoll, NotAPidIsAUsageError) {
  const Output run = run_lsepoll({"12abc"});
  EXPECT_EQ(run.status, 2);
  EXPECT_NE(run.output.find("lsepoll: 12abc: not a process id\n"), std::string::npos) << run.output;
}

// Becomes the unprivileged user nobody.
bool become_nobody() { return ::setgid(65534) == 0 && ::setuid(65534) == 0; }

TEST(Lsepoll, AnotherUsersProcessIsPermissionDenied) {
  std::string target = self();
  Output run;
  if (::geteuid() == 0) {
    // As root, look at this root-owned process as nobody.
    run = run_lsepoll({target}, become_nobody);
    if (run.status >= kSetupFailed) GTEST_SKIP() << "cannot run lsepoll as nobody here";
  } else {
    // PID 1 is root's, unless this runs in a namespace of its own.
    struct stat st {};
    if (::stat("/proc/1", &st) != 0 || st.st_uid == ::geteuid()) GTEST_SKIP() << "PID 1 is this user's";
    target = "1";
    run = run_lsepoll({target});
  }
  EXPECT_EQ(run.status, 1) << run.output;
  EXPECT_NE(run.output.find("lsepoll: " + target + ": permission denied reading /proc/" + target + "/fd"),
            std::string::npos)
      << run.output;
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
    const char* argv[] = {"redis-server", "--port",     port.c_str(),   "--bind", "127.0.0.1",
                          "--save",       "",           "--appendonly", "no",     "--daemonize",
                          "no",           "--loglevel", "warning",      nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addchdir_np(&actions, "/tmp");
    const int error =
        ::posix_spawn(&pid_, program.c_str(), &actions, nullptr, const_cast<char**>(argv), environ);
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

  const std::string pid = std::to_string(redis->pid());
  const Output run = run_lsepoll({pid});
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(std::regex_search(
      run.output, std::regex("(^|\n)" + pid + " redis-server: epoll fd [0-9]+, [0-9]+ watched\n")))
      << run.output;
  EXPECT_TRUE(std::regex_search(
      run.output, std::regex("\n  fd [0-9]+ \\(in\\) tcp 127\\.0\\.0\\.1:" + port + " LISTEN\n")))
      << run.output;
  EXPECT_TRUE(
      std::regex_search(run.output, std::regex("\n  fd [0-9]+ \\(in\\) tcp 127\\.0\\.0\\.1:" + port +
                                               " -> 127\\.0\\.0\\.1:" + client_port + " ESTABLISHED\n")))
      << run.output;

  const Output json = run_lsepoll({"--json", pid});
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(json.output.find("\"flags\":\"(in)\",\"kind\":\"tcp\",\"target\":\"socket:["), std::string::npos)
      << json.output;
  EXPECT_NE(
      json.output.find("\"family\":\"inet\",\"type\":\"stream\",\"protocol\":\"\",\"local\":\"127.0.0.1:" +
                       port + "\",\"remote\":\"\",\"state\":\"LISTEN\""),
      std::string::npos)
      << json.output;
}

#else
TEST(Lsepoll, NotBuilt) { GTEST_SKIP() << "lsepoll is not built (LINUX_EXT_TOOLS=OFF)"; }
#endif

}  // namespace
}  // namespace linux_ext::test

// busy_poll_latency: what busy polling per epoll set (Epoll::set_busy_poll)
// does to a request/response round trip, and what it costs in CPU.
//
// Busy polling acts only on sockets whose packets came through a device
// queue with a NAPI id, and loopback has none. So the program makes two
// network namespaces joined by a veth pair (as root, with iproute2's `ip`),
// finds out which settings of the veth give its sockets a NAPI id
// (SO_INCOMING_NAPI_ID), and measures ping-pongs over it with and without
// busy polling on the server's Epoll. It prints a markdown section for
// docs/benchmarks.md (bench/run.sh) that says what could be measured and
// what could not, and removes the namespaces whatever happens.
//
//   busy_poll_latency [--quick] [--requests N] [--rounds R] [--usecs U]
//
// Over a real NIC, the same server and client run on two machines:
//   busy_poll_latency --serve PORT [--usecs U] [--prefer]   on one,
//   busy_poll_latency --connect IPV4:PORT [--requests N]    on the other.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux_ext/epoll.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using linux_ext::Epoll;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kRequestSize = 32;
// The first byte of a request: the client's warm-up, or one it measures
// (from which on the server counts its CPU time).
constexpr char kWarmUp = 'w';
constexpr char kMeasured = 'm';

[[noreturn]] void fail(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

int check(int result, const std::string& what) {
  if (result < 0) fail(what);
  return result;
}

// An owned fd.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The CPU time of the calling thread, user and system, in microseconds: the
// system part holds the kernel's network work done in this thread.
double thread_cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  auto us = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec);
  };
  return us(usage.ru_utime) + us(usage.ru_stime);
}

// The NAPI id of the device queue the socket's last packet came through;
// 0 when it had none (loopback, a veth without NAPI).
unsigned napi_id_of(int fd) {
  unsigned id = 0;
  socklen_t length = sizeof id;
  check(getsockopt(fd, SOL_SOCKET, SO_INCOMING_NAPI_ID, &id, &length), "getsockopt(SO_INCOMING_NAPI_ID)");
  return id;
}

void pin_to_cpu(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

void write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("write");
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// ---------------------------------------------------------------------------
// The server and the client

struct ServerStats {
  long measured_requests = 0;
  double cpu_us = 0;  // over the measured requests
  unsigned napi_id = 0;
};

// Accepts one connection on `listen_fd` and echoes each request until the
// client closes it: one level-triggered Epoll with `busy_poll` set, one
// read and one write per request.
ServerStats serve_connection(int listen_fd, const Epoll::BusyPoll& busy_poll, int cpu) {
  pin_to_cpu(cpu);
  const Fd connection(check(accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), "accept4"));
  const int one = 1;
  setsockopt(connection.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Epoll ep = Epoll::create(connection.get() + 1, 8).value();
  ep.set_busy_poll(busy_poll);
  ep.set(connection.get(), Epoll::Flags::in);
  ServerStats stats;
  double cpu_start = -1;
  long bytes = 0;
  char buffer[4096];
  for (;;) {
    ep.wait(Epoll::Timeout::never());  // the connection is the one fd in the set
    const ssize_t n = ::read(connection.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;  // the client is done
    if (cpu_start < 0 && buffer[0] == kMeasured) cpu_start = thread_cpu_us();
    if (cpu_start >= 0) bytes += n;
    write_all(connection.get(), buffer, static_cast<std::size_t>(n));
  }
  stats.cpu_us = cpu_start < 0 ? 0 : thread_cpu_us() - cpu_start;
  stats.measured_requests = bytes / static_cast<long>(kRequestSize);
  stats.napi_id = napi_id_of(connection.get());
  ep.remove(connection.get());
  return stats;
}

struct ClientStats {
  std::vector<double> round_trips_us;
  double cpu_us = 0;  // over the measured requests
  unsigned napi_id = 0;
};

// Connects the blocking socket `fd` to `server` and makes `warm_up`
// requests, then `requests` timed ones, one at a time: write 32 bytes, read
// the 32 echoed. `socket_busy_poll_us` > 0 sets SO_BUSY_POLL, so that the
// client's blocking reads busy-poll too.
ClientStats run_client(const Fd& fd, const sockaddr_in& server, int warm_up, int requests,
                       int socket_busy_poll_us, int cpu) {
  pin_to_cpu(cpu);
  const int one = 1;
  setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (socket_busy_poll_us > 0) {
    check(setsockopt(fd.get(), SOL_SOCKET, SO_BUSY_POLL, &socket_busy_poll_us, sizeof socket_busy_poll_us),
          "setsockopt(SO_BUSY_POLL)");
  }
  check(connect(fd.get(), reinterpret_cast<const sockaddr*>(&server), sizeof server), "connect");
  char request[kRequestSize];
  char reply[kRequestSize];
  auto round_trip = [&](char kind) {
    std::memset(request, kind, sizeof request);
    write_all(fd.get(), request, sizeof request);
    for (std::size_t got = 0; got < sizeof reply;) {
      const ssize_t n = ::read(fd.get(), reply + got, sizeof reply - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("read of the reply");
      got += static_cast<std::size_t>(n);
    }
  };
  for (int i = 0; i < warm_up; ++i) round_trip(kWarmUp);
  ClientStats stats;
  stats.round_trips_us.reserve(static_cast<std::size_t>(requests));
  const double cpu_start = thread_cpu_us();
  for (int i = 0; i < requests; ++i) {
    const Clock::time_point start = Clock::now();
    round_trip(kMeasured);
    stats.round_trips_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  stats.cpu_us = thread_cpu_us() - cpu_start;
  stats.napi_id = napi_id_of(fd.get());
  ::shutdown(fd.get(), SHUT_WR);
  return stats;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

// ---------------------------------------------------------------------------
// The two namespaces and the veth pair

// What the signal handler needs to remove the namespaces, set before they
// are made: fork and execve are safe in a handler, std::string is not.
char ip_path[256];
char namespace_names[2][64];
bool namespaces_made = false;

// Runs `ip_path argv...` and waits for it; true when it exited 0. Only
// async-signal-safe calls, for the handler.
bool run_ip_raw(char* const argv[], bool quiet) {
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    if (quiet) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    execve(ip_path, argv, environ);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool run_ip(std::vector<std::string> args, bool quiet = false) {
  std::vector<char*> argv{ip_path};
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  return run_ip_raw(argv.data(), quiet);
}

void remove_namespaces() {
  if (!namespaces_made) return;
  for (char* name : namespace_names) {
    char netns[] = "netns";
    char del[] = "del";
    char* argv[] = {ip_path, netns, del, name, nullptr};
    run_ip_raw(argv, true);
  }
  namespaces_made = false;
}

void remove_namespaces_and_exit(int signal) {
  remove_namespaces();
  _exit(128 + signal);
}

// Where `ip` is, from PATH and the usual sbin directories; empty if nowhere.
std::string find_ip() {
  std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
  dirs += ":/usr/sbin:/sbin:/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const std::size_t end = std::min(dirs.find(':', start), dirs.size());
    const std::string candidate = dirs.substr(start, end - start) + "/ip";
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// Two network namespaces, "server" and "client", joined by a veth pair
// (10.199.0.1 and 10.199.0.2). Made by `ip`; removed by the destructor, or
// by the handler of SIGINT, SIGTERM and SIGHUP. Removing a namespace
// removes its end of the veth, and with it the other end.
class VethPair {
 public:
  explicit VethPair(const std::string& ip) {
    const std::string id = std::to_string(getpid());
    server_ns_ = "lxbp-server-" + id;
    client_ns_ = "lxbp-client-" + id;
    server_dev_ = "lxbp" + id + "s";
    client_dev_ = "lxbp" + id + "c";
    std::snprintf(ip_path, sizeof ip_path, "%s", ip.c_str());
    std::snprintf(namespace_names[0], sizeof namespace_names[0], "%s", server_ns_.c_str());
    std::snprintf(namespace_names[1], sizeof namespace_names[1], "%s", client_ns_.c_str());
    struct sigaction action {};
    action.sa_handler = remove_namespaces_and_exit;
    for (const int signal : {SIGINT, SIGTERM, SIGHUP}) sigaction(signal, &action, nullptr);
    namespaces_made = true;
    const bool made = run_ip({"netns", "add", server_ns_}) && run_ip({"netns", "add", client_ns_}) &&
                      run_ip({"link", "add", server_dev_, "netns", server_ns_, "type", "veth", "peer", "name",
                              client_dev_, "netns", client_ns_}) &&
                      run_ip({"-n", server_ns_, "addr", "add", "10.199.0.1/24", "dev", server_dev_}) &&
                      run_ip({"-n", client_ns_, "addr", "add", "10.199.0.2/24", "dev", client_dev_}) &&
                      run_ip({"-n", server_ns_, "link", "set", server_dev_, "up"}) &&
                      run_ip({"-n", client_ns_, "link", "set", client_dev_, "up"});
    if (!made) {
      remove_namespaces();
      throw std::runtime_error("ip could not make the namespaces and the veth pair (its error is above)");
    }
    root_ns_ = Fd(check(open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), "open /proc/self/ns/net"));
    server_ns_fd_ = open_namespace(server_ns_);
    client_ns_fd_ = open_namespace(client_ns_);
  }
  ~VethPair() { remove_namespaces(); }
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  enum Side { server, client };

  // Runs `f()` in the calling thread with the network namespace of `side`:
  // sockets it makes belong there for good, and device names are looked up
  // there.
  template <class F>
  auto inside(Side side, F&& f) {
    check(setns((side == server ? server_ns_fd_ : client_ns_fd_).get(), CLONE_NEWNET), "setns");
    struct Back {
      int root;
      ~Back() { setns(root, CLONE_NEWNET); }
    } back{root_ns_.get()};
    return f();
  }

  const std::string& device(Side side) const { return side == server ? server_dev_ : client_dev_; }
  const std::string& name(Side side) const { return side == server ? server_ns_ : client_ns_; }

  // Turns GRO on or off on both ends (what `ethtool -K DEV gro on` does).
  void set_gro(bool on) {
    for (const Side side : {server, client}) {
      inside(side, [&] {
        const Fd fd(check(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
        ethtool_value value{ETHTOOL_SGRO, on ? 1U : 0U};
        ifreq request{};
        std::snprintf(request.ifr_name, sizeof request.ifr_name, "%s", device(side).c_str());
        request.ifr_data = reinterpret_cast<char*>(&value);
        check(ioctl(fd.get(), SIOCETHTOOL, &request), "ioctl(SIOCETHTOOL, ETHTOOL_SGRO)");
      });
    }
  }

  // Turns threaded NAPI on or off on both ends, by writing
  // /sys/class/net/DEV/threaded as seen from inside each namespace.
  bool set_threaded_napi(bool on) {
    bool all = true;
    for (const Side side : {server, client}) {
      all = run_ip({"netns", "exec", name(side), "sh", "-c",
                    std::string("echo ") + (on ? "1" : "0") + " > /sys/class/net/" + device(side) +
                        "/threaded"}) &&
            all;
    }
    return all;
  }

  // Attaches an XDP program that passes every packet to both ends, for as
  // long as the returned links are open: a veth with an XDP program
  // receives through NAPI.
  std::vector<Fd> attach_xdp_pass() {
    // Two instructions: r0 = XDP_PASS; exit.
    bpf_insn program[2]{};
    program[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    program[0].dst_reg = BPF_REG_0;
    program[0].imm = XDP_PASS;
    program[1].code = BPF_JMP | BPF_EXIT;
    static const char license[] = "GPL";
    bpf_attr load{};
    load.prog_type = BPF_PROG_TYPE_XDP;
    load.insns = reinterpret_cast<std::uintptr_t>(program);
    load.insn_cnt = 2;
    load.license = reinterpret_cast<std::uintptr_t>(license);
    const Fd prog(check(static_cast<int>(syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof load)),
                        "bpf(BPF_PROG_LOAD) of an XDP program"));
    std::vector<Fd> links;
    for (const Side side : {server, client}) {
      links.push_back(inside(side, [&] {
        bpf_attr attach{};
        attach.link_create.prog_fd = static_cast<std::uint32_t>(prog.get());
        attach.link_create.target_ifindex = if_nametoindex(device(side).c_str());
        attach.link_create.attach_type = BPF_XDP;
        return Fd(check(static_cast<int>(syscall(SYS_bpf, BPF_LINK_CREATE, &attach, sizeof attach)),
                        "bpf(BPF_LINK_CREATE) of XDP on " + device(side)));
      }));
    }
    return links;
  }

 private:
  static Fd open_namespace(const std::string& name) {
    return Fd(check(open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC), "open netns " + name));
  }

  std::string server_ns_, client_ns_, server_dev_, client_dev_;
  Fd root_ns_, server_ns_fd_, client_ns_fd_;
};

// ---------------------------------------------------------------------------
// Runs over the veth

// How one run is set up: busy polling on the server's Epoll, and on the
// client's socket.
struct Mode {
  std::string path;
  std::string label;
  Epoll::BusyPoll busy_poll;
  int client_busy_poll_us = 0;
};

struct RunStats {
  ServerStats server;
  ClientStats client;
};

// One connection over `veth`: the server in its namespace on the last CPU,
// the client in the other on the first, each in a thread of its own.
RunStats run_once(VethPair& veth, const Mode& mode, int warm_up, int requests) {
  const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  const int server_cpu = cpus > 1 ? cpus - 1 : -1;
  const int client_cpu = cpus > 1 ? 0 : -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  inet_pton(AF_INET, "10.199.0.1", &address.sin_addr);
  const Fd listener = veth.inside(
      VethPair::server, [] { return Fd(check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")); });
  socklen_t length = sizeof address;
  check(bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  check(listen(listener.get(), 1), "listen");
  check(getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), "getsockname");
  const Fd client_fd = veth.inside(
      VethPair::client, [] { return Fd(check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket")); });
  auto server = std::async(std::launch::async,
                           [&] { return serve_connection(listener.get(), mode.busy_poll, server_cpu); });
  auto client = std::async(std::launch::async, [&] {
    return run_client(client_fd, address, warm_up, requests, mode.client_busy_poll_us, client_cpu);
  });
  RunStats stats;
  try {
    stats.client = client.get();
  } catch (...) {
    // Wakes the server wherever it waits (accept4, or its Epoll) before
    // its thread is joined.
    ::shutdown(client_fd.get(), SHUT_RDWR);
    ::shutdown(listener.get(), SHUT_RDWR);
    server.wait();
    throw;
  }
  stats.server = server.get();
  return stats;
}

// The NAPI ids the server's and the client's sockets got over a short run.
std::pair<unsigned, unsigned> probe_napi_ids(VethPair& veth) {
  const RunStats stats = run_once(veth, Mode{}, 0, 20);
  return {stats.server.napi_id, stats.client.napi_id};
}

// What the runs of one mode add up to.
struct Totals {
  std::vector<double> round_trips_us;
  double server_cpu_us = 0, client_cpu_us = 0;
  unsigned server_napi_id = 0;

  void add(const RunStats& run) {
    round_trips_us.insert(round_trips_us.end(), run.client.round_trips_us.begin(),
                          run.client.round_trips_us.end());
    server_cpu_us += run.server.cpu_us;
    client_cpu_us += run.client.cpu_us;
    server_napi_id = run.server.napi_id;
  }
  double p50() const { return percentile(round_trips_us, 0.5); }
  double p99() const { return percentile(round_trips_us, 0.99); }
  double server_cpu_per_request() const { return server_cpu_us / requests(); }
  double client_cpu_per_request() const { return client_cpu_us / requests(); }

 private:
  double requests() const { return static_cast<double>(std::max<std::size_t>(round_trips_us.size(), 1)); }
};

struct Options {
  int requests = 20000;
  int rounds = 3;
  int warm_up = 1000;
  int usecs = 50;
  bool quick = false;
  // Two machines: the server's port and busy polling, the client's target.
  int serve_port = 0;
  int serve_usecs = 0;
  bool prefer = false;
  std::string connect_to;
};

void print_how_to_run_on_a_nic(const Options& options) {
  std::printf(
      "\nOn a real NIC, the server's Epoll can poll the queue its sockets' packets arrive on, before the "
      "NIC's\n"
      "interrupt and the server's wake-up: that is the latency busy polling removes, paid for by a CPU that\n"
      "spins for up to `usecs` in each wait that finds nothing. To measure it, run the server on one "
      "machine\n"
      "and the client on another, once without busy polling and once with it:\n\n"
      "    busy_poll_latency --serve 7000                # then: --serve 7000 --usecs %d\n"
      "    busy_poll_latency --connect SERVER_IPV4:7000 --requests %d\n\n"
      "The client prints p50/p99 round trips, its CPU time per request and its socket's NAPI id; the "
      "server,\n"
      "its CPU time per request and its socket's NAPI id (0: busy polling had nothing to poll). Busy "
      "polling\n"
      "needs no privilege up to a budget of 64; the server's CPU time per request is what it costs.\n",
      options.usecs, options.requests);
}

// ---------------------------------------------------------------------------
// The markdown section

void print_section(const Options& options) {
  std::printf("\n## Busy polling: request/response round trips over a veth pair\n\n");
  utsname system{};
  uname(&system);
  char date[64];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  // Other work on the machine shows in the round trips, the p99 most.
  double load[1] = {0};
  getloadavg(load, 1);
  std::printf(
      "Printed by `bench/busy_poll_latency%s` (`make bench%s`) on %s, Linux %s, %ld CPUs, load average %.2f "
      "when it began.\n",
      options.quick ? " --quick" : "", options.quick ? "-quick" : "", date, system.release,
      sysconf(_SC_NPROCESSORS_ONLN), load[0]);
  std::string ip;
  if (geteuid() != 0) {
    std::printf(
        "\nNot measured: making network namespaces and a veth pair needs root, and this ran as uid %d.\n"
        "Busy polling cannot be measured on loopback, whose packets come through no device queue (NAPI id "
        "0).\n",
        static_cast<int>(geteuid()));
    print_how_to_run_on_a_nic(options);
    return;
  }
  if ((ip = find_ip()).empty()) {
    std::printf("\nNot measured: iproute2's `ip` is not installed (Debian: `apt-get install iproute2`).\n");
    print_how_to_run_on_a_nic(options);
    return;
  }
  try {
    VethPair veth(ip);
    std::printf(
        "\nTwo network namespaces made for the run (`ip netns add`), joined by a veth pair, one TCP "
        "connection "
        "between them.\nFirst, which settings of the veth give its sockets a NAPI id (`SO_INCOMING_NAPI_ID`; "
        "0: "
        "none, so busy polling has nothing to poll):\n\n"
        "| veth setting | server socket's NAPI id | client socket's NAPI id |\n| --- | ---: | ---: |\n");
    auto probe_row = [&](const char* setting) {
      const auto [server_id, client_id] = probe_napi_ids(veth);
      std::printf("| %s | %u | %u |\n", setting, server_id, client_id);
      return server_id;
    };
    probe_row("none");
    veth.set_gro(true);
    probe_row("GRO on (`ethtool -K DEV gro on`)");
    if (veth.set_threaded_napi(true)) {
      probe_row("GRO and threaded NAPI on (`echo 1 > /sys/class/net/DEV/threaded`)");
      veth.set_threaded_napi(false);
    } else {
      std::printf("| threaded NAPI | not tried: /sys/class/net/DEV/threaded could not be written | |\n");
    }
    veth.set_gro(false);

    std::vector<Fd> xdp_links;
    std::string xdp_failure;
    try {
      xdp_links = veth.attach_xdp_pass();
    } catch (const std::exception& e) {
      xdp_failure = e.what();
    }
    unsigned xdp_napi_id = 0;
    if (xdp_failure.empty()) {
      xdp_napi_id = probe_row("an XDP program that passes every packet (`bpf(BPF_LINK_CREATE)`)");
      xdp_links.clear();  // detached again, for the runs without it
    } else {
      std::printf("| an XDP program | not tried: %s | |\n", xdp_failure.c_str());
    }

    const Epoll::BusyPoll on{std::chrono::microseconds(options.usecs), 0, false};
    const Epoll::BusyPoll on_prefer{std::chrono::microseconds(options.usecs), 0, true};
    const std::string usecs = std::to_string(options.usecs);
    std::vector<Mode> modes = {
        {"veth", "off", {}, 0},
        {"veth", "usecs " + usecs, on, 0},
    };
    if (xdp_napi_id != 0) {
      modes.push_back({"veth + XDP", "off", {}, 0});
      modes.push_back({"veth + XDP", "usecs " + usecs, on, 0});
      modes.push_back({"veth + XDP", "usecs " + usecs + ", prefer", on_prefer, 0});
      modes.push_back(
          {"veth + XDP", "usecs " + usecs + ", and the client's SO_BUSY_POLL " + usecs, on, options.usecs});
    }
    std::vector<Totals> totals(modes.size());
    // Round by round, the modes in turn, each round starting one further:
    // the machine's drift spreads over all of them.
    for (const bool with_xdp : {false, true}) {
      std::vector<std::size_t> indices;
      for (std::size_t i = 0; i < modes.size(); ++i)
        if ((modes[i].path != "veth") == with_xdp) indices.push_back(i);
      if (indices.empty()) continue;
      if (with_xdp) xdp_links = veth.attach_xdp_pass();
      for (int round = 0; round < options.rounds; ++round) {
        for (std::size_t k = 0; k < indices.size(); ++k) {
          const std::size_t i = indices[(k + static_cast<std::size_t>(round)) % indices.size()];
          std::fprintf(stderr, "busy_poll_latency: %s, busy polling %s, round %d\n", modes[i].path.c_str(),
                       modes[i].label.c_str(), round + 1);
          totals[i].add(run_once(veth, modes[i], options.warm_up, options.requests));
        }
      }
      xdp_links.clear();
    }

    const int cpus = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    std::printf(
        "\nThen the ping-pong: the client writes %zu bytes and reads them back, %d times per run after %d "
        "unmeasured, %d run%s per row, the rows of one path interleaved. The server answers from a "
        "linux_ext::Epoll with `set_busy_poll` as the row says (budget 0: the kernel's default). %s CPU time "
        "is each thread's own (getrusage(RUSAGE_THREAD), user and system: the kernel's receive work counts "
        "in the thread it ran in).\n\n",
        kRequestSize, options.requests, options.warm_up, options.rounds, options.rounds == 1 ? "" : "s",
        cpus > 1
            ? ("The server's thread runs on CPU " + std::to_string(cpus - 1) + ", the client's on CPU 0.")
                  .c_str()
            : "Both threads share the one CPU.");
    std::printf(
        "| path | server socket's NAPI id | busy polling | p50 µs | p99 µs | server CPU µs/request | "
        "client CPU µs/request |\n| --- | ---: | --- | ---: | ---: | ---: | ---: |\n");
    for (std::size_t i = 0; i < modes.size(); ++i) {
      const Totals& t = totals[i];
      std::printf("| %s | %u | %s | %.1f | %.1f | %.2f | %.2f |\n", modes[i].path.c_str(), t.server_napi_id,
                  modes[i].label.c_str(), t.p50(), t.p99(), t.server_cpu_per_request(),
                  t.client_cpu_per_request());
    }
    // The modes in the order they were listed: veth off and on first.
    const Totals& veth_off = totals[0];
    const Totals& veth_on = totals[1];
    std::printf(
        "\nWithout a NAPI id (veth alone), busy polling moved the p50 round trip from %.1f to %.1f µs: a "
        "wait has no queue to poll, and sleeps as it would without it.",
        veth_off.p50(), veth_on.p50());
    if (xdp_napi_id != 0) {
      const Totals& xdp_off = totals[2];
      const Totals& xdp_on = totals[3];
      std::printf(
          " With NAPI ids (veth + XDP), it took the p50 from %.1f to %.1f µs and the p99 from %.1f to %.1f "
          "µs, "
          "and the server's CPU time per request from %.2f to %.2f µs. A veth is no NIC: the sender's CPU "
          "fills its queue and runs its NAPI poll in its own softirq, so there is no interrupt to avoid; "
          "what busy polling saves here is the server's sleep and wake-up, as its wait spins until the "
          "request is there (or polls the queue itself). On a NIC it also takes the interrupt out of the "
          "path.\n",
          xdp_off.p50(), xdp_on.p50(), xdp_off.p99(), xdp_on.p99(), xdp_off.server_cpu_per_request(),
          xdp_on.server_cpu_per_request());
    } else {
      std::printf(
          " No setting tried gave the veth's sockets a NAPI id, so the effect of busy polling could not be "
          "measured on this machine.\n");
    }
  } catch (const std::exception& e) {
    std::printf("\nNot measured: %s.\n", e.what());
  }
  print_how_to_run_on_a_nic(options);
}

// ---------------------------------------------------------------------------
// Two machines

// Serves one connection after another on every address at
// `options.serve_port`, with busy polling as the options say, and prints
// each one's figures; runs until killed.
void serve_forever(const Options& options) {
  const Fd listener(check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  const int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(options.serve_port));
  check(bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  check(listen(listener.get(), 1), "listen");
  const Epoll::BusyPoll busy_poll{std::chrono::microseconds(options.serve_usecs), 0, options.prefer};
  std::printf("serving on port %d, busy polling: usecs %d%s\n", options.serve_port, options.serve_usecs,
              options.prefer ? ", prefer" : "");
  for (;;) {
    std::fflush(stdout);
    const ServerStats stats = serve_connection(listener.get(), busy_poll, -1);
    std::printf("connection: %ld requests measured, server CPU %.2f µs/request, NAPI id %u\n",
                stats.measured_requests,
                stats.cpu_us / static_cast<double>(std::max(stats.measured_requests, 1L)), stats.napi_id);
  }
}

// Runs the client against `options.connect_to` (IPV4:PORT) and prints its
// figures.
void connect_once(const Options& options) {
  const std::size_t colon = options.connect_to.rfind(':');
  sockaddr_in server{};
  server.sin_family = AF_INET;
  if (colon == std::string::npos ||
      inet_pton(AF_INET, options.connect_to.substr(0, colon).c_str(), &server.sin_addr) != 1) {
    throw std::invalid_argument("--connect wants IPV4:PORT, not " + options.connect_to);
  }
  server.sin_port = htons(static_cast<std::uint16_t>(std::atoi(options.connect_to.c_str() + colon + 1)));
  const Fd fd(check(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  const ClientStats stats = run_client(fd, server, options.warm_up, options.requests, 0, -1);
  std::printf("%zu requests of %zu bytes: p50 %.1f µs, p99 %.1f µs, client CPU %.2f µs/request, NAPI id %u\n",
              stats.round_trips_us.size(), kRequestSize, percentile(stats.round_trips_us, 0.5),
              percentile(stats.round_trips_us, 0.99),
              stats.cpu_us / static_cast<double>(std::max<std::size_t>(stats.round_trips_us.size(), 1)),
              stats.napi_id);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 == argc) {
        std::fprintf(stderr, "busy_poll_latency: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") {
      options.quick = true;
      options.requests = 3000;
      options.rounds = 1;
      options.warm_up = 300;
    } else if (arg == "--requests") {
      options.requests = std::atoi(value().c_str());
    } else if (arg == "--rounds") {
      options.rounds = std::atoi(value().c_str());
    } else if (arg == "--usecs") {
      options.usecs = options.serve_usecs = std::atoi(value().c_str());
    } else if (arg == "--serve") {
      options.serve_port = std::atoi(value().c_str());
    } else if (arg == "--connect") {
      options.connect_to = value();
    } else if (arg == "--prefer") {
      options.prefer = true;
    } else {
      std::fprintf(stderr, "busy_poll_latency: unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  try {
    if (options.serve_port > 0) {
      serve_forever(options);
    } else if (!options.connect_to.empty()) {
      connect_once(options);
    } else {
      print_section(options);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "busy_poll_latency: %s\n", e.what());
    return 1;
  }
  return 0;
}

// echo_demo: an echo server on linux_ext::Epoll, driven by a few hundred
// client connections from a second Epoll in the same program.
//
// The server runs in its own thread with its own Epoll, level-triggered as
// in Core: a readable connection is read and echoed at once; what the
// socket will not take yet waits in a buffer while the fd is watched for
// `out` instead of `in`. The clients run in the main thread with a second
// Epoll. Each sends messages of random sizes cut from a byte stream that is
// a function of (connection, offset), so every echoed byte can be checked
// without keeping copies. The program prints a live progress line, the
// server's Epoll as an S-expression while the clients are connected, and a
// summary; it exits 0 only when every byte came back intact.
//
// `--busy-poll USECS` makes the server's Epoll busy-poll (Linux 6.9): each
// wait spins up to USECS over the device queues its sockets' packets came
// through before it sleeps. Loopback has no such queue, so here it shows
// only how a server turns it on; over a real NIC it trades CPU for latency
// (see the README, "Busy polling").

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "example_util.h"
#include "linux_ext/epoll.h"

namespace {

using linux_ext::Epoll;
using Flags = Epoll::Flags;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBufferSize = 16 * 1024;
constexpr std::size_t kMaxMessage = 8 * 1024;

constexpr const char* kUsage =
    "usage: echo_demo [--connections N] [--messages M] [--duration SECONDS] [--busy-poll USECS]\n"
    "\n"
    "An echo server on linux_ext::Epoll on 127.0.0.1 (a free port), driven by N\n"
    "client connections from a second Epoll. Each client sends M messages of\n"
    "random sizes and checks every echoed byte; the run stops early after\n"
    "SECONDS. Exits 0 only when every byte came back intact.\n"
    "\n"
    "  --connections N    client connections (default 300)\n"
    "  --messages M       messages per connection (default 1000)\n"
    "  --duration SECONDS longest run (default 10)\n"
    "  --busy-poll USECS  the server's Epoll busy-polls up to USECS in each wait\n"
    "                     (Linux 6.9; default: off)\n";

struct Options {
  int connections = 300;
  int messages = 1000;  // per connection
  double duration_s = 10;
  int busy_poll_us = 0;  // 0: off
};

// The byte at `offset` of connection `id`'s stream.
char stream_byte(int id, std::uint64_t offset) {
  std::uint64_t x = (static_cast<std::uint64_t>(id) << 40) ^ offset;
  x *= 0x9e3779b97f4a7c15ULL;
  return static_cast<char>(x >> 56);
}

// ---------------------------------------------------------------------------
// The server

// What the server thread shares with the main thread.
struct ServerStatus {
  std::mutex mutex;
  std::string snapshot;  // the server's to_sexp() once all clients were connected
  std::string failure;   // what went wrong in the server thread, if anything
  std::atomic<int> connections{0};
  std::atomic<bool> done{false};  // the server thread has returned
};

class EchoServer {
 public:
  EchoServer(int listen_fd, int stop_fd, int expected_connections, int busy_poll_us, ServerStatus& status)
      : listen_fd_(listen_fd),
        stop_fd_(stop_fd),
        expected_(expected_connections),
        status_(status),
        epoll_(Epoll::create(example::fd_domain(), 256).value()),
        pending_(static_cast<std::size_t>(epoll_.num_file_descrs())) {
    if (busy_poll_us > 0) epoll_.set_busy_poll({.usecs = std::chrono::microseconds(busy_poll_us)});
    epoll_.set(listen_fd_, Flags::in);
    epoll_.set(stop_fd_, Flags::in);
  }

  // The busy-poll parameters the kernel holds for the server's Epoll.
  Epoll::BusyPoll busy_poll() const { return epoll_.busy_poll(); }

  void run() {
    while (!stopping_) {
      epoll_.wait(Epoll::Timeout::never());
      for (const Epoll::ReadyEvent event : epoll_.ready()) {
        if (event.fd == listen_fd_) {
          accept_all();
        } else if (event.fd == stop_fd_) {
          stopping_ = true;
        } else if (event.is_writable()) {
          flush(event.fd);
        } else if (event.is_readable() || event.is_read_closed() || event.is_error()) {
          echo(event.fd);  // its read finds the data, the end or the error
        }
      }
    }
    epoll_.remove(listen_fd_);
    epoll_.remove(stop_fd_);
    // Every client closed its connection, so the server removed every fd.
    if (epoll_.size() != 0) report("the server still watches " + std::to_string(epoll_.size()) + " fds");
    epoll_.check_against_kernel();
  }

 private:
  void accept_all() {
    for (;;) {
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        example::fail("accept4");
      }
      epoll_.set(fd, Flags::in);
      if (status_.connections.fetch_add(1) + 1 == expected_) {
        const std::lock_guard lock(status_.mutex);
        status_.snapshot = epoll_.to_sexp();
      }
    }
  }

  // Reads what is there and writes it back; keeps the rest for `flush`.
  void echo(int fd) {
    std::string& pending = pending_[static_cast<std::size_t>(fd)];
    char buffer[kBufferSize];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      disconnect(fd);
      return;
    }
    if (n < 0) return;
    pending.assign(buffer, static_cast<std::size_t>(n));
    flush(fd);
  }

  // Writes pending bytes; watches `out` while some are left, `in` after.
  void flush(int fd) {
    std::string& pending = pending_[static_cast<std::size_t>(fd)];
    const ssize_t n = write(fd, pending.data(), pending.size());
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      disconnect(fd);
      return;
    }
    pending.erase(0, n < 0 ? 0 : static_cast<std::size_t>(n));
    // Unchanged level-triggered flags cost no system call.
    epoll_.set(fd, pending.empty() ? Flags::in : Flags::out);
  }

  void disconnect(int fd) {
    epoll_.remove(fd);
    close(fd);
    pending_[static_cast<std::size_t>(fd)].clear();
    status_.connections.fetch_sub(1);
  }

  void report(const std::string& what) {
    const std::lock_guard lock(status_.mutex);
    status_.failure = what;
  }

  int listen_fd_;
  int stop_fd_;
  int expected_;
  ServerStatus& status_;
  Epoll epoll_;
  std::vector<std::string> pending_;  // by fd: bytes read but not yet echoed
  bool stopping_ = false;
};

// ---------------------------------------------------------------------------
// The clients

struct Client {
  int id = 0;
  int fd = -1;
  int messages_left = 0;
  std::uint64_t sent = 0;         // stream bytes written
  std::uint64_t received = 0;     // stream bytes read back and checked
  std::uint64_t message_end = 0;  // stream offset where the current message ends
};

class ClientFleet {
 public:
  ClientFleet(const Options& options, const sockaddr_in& server)
      : options_(options),
        epoll_(Epoll::create(example::fd_domain(), 256).value()),
        by_fd_(static_cast<std::size_t>(epoll_.num_file_descrs()), -1) {
    clients_.resize(static_cast<std::size_t>(options.connections));
    open_ = options.connections;
    for (int id = 0; id < options.connections; ++id) {
      Client& c = clients_[static_cast<std::size_t>(id)];
      c.id = id;
      c.messages_left = options.messages;
      c.fd = static_cast<int>(
          example::check(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
      const int one = 1;
      setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (connect(c.fd, reinterpret_cast<const sockaddr*>(&server), sizeof server) != 0 &&
          errno != EINPROGRESS) {
        example::fail("connect");
      }
      by_fd_[static_cast<std::size_t>(c.fd)] = id;
      start_message(c);
    }
  }

  // Runs until every client is done or the deadline passes; returns false
  // when a byte came back wrong.
  bool run(ServerStatus& status) {
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline = start + std::chrono::duration_cast<Clock::duration>(
                                                   std::chrono::duration<double>(options_.duration_s));
    Clock::time_point last_report = start;
    long reported_messages = 0;
    bool snapshot_printed = false;
    while (open_ > 0) {
      if (epoll_.wait_timeout_after(std::chrono::milliseconds(50)) == Epoll::WaitResult::ok) {
        for (const Epoll::ReadyEvent event : epoll_.ready()) {
          Client& c = clients_[static_cast<std::size_t>(by_fd_[static_cast<std::size_t>(event.fd)])];
          if (event.is_error()) return lost(c, "the connection failed");
          if (event.is_writable()) send_some(c);
          if ((event.is_readable() || event.is_read_closed()) && !receive_some(c)) return false;
        }
      }
      const Clock::time_point now = Clock::now();
      if (now >= deadline && !stopping_) {
        // Let each client finish the message under way, then stop.
        stopping_ = true;
        for (Client& c : clients_) c.messages_left = std::min(c.messages_left, 1);
      }
      if (!snapshot_printed) snapshot_printed = print_snapshot(status);
      if (now - last_report >= std::chrono::milliseconds(250)) {
        const double interval = std::chrono::duration<double>(now - last_report).count();
        print_progress(status, std::chrono::duration<double>(now - start).count(),
                       static_cast<double>(messages_done_ - reported_messages) / interval);
        reported_messages = messages_done_;
        last_report = now;
      }
    }
    elapsed_s_ = std::chrono::duration<double>(Clock::now() - start).count();
    return true;
  }

  long messages_done() const { return messages_done_; }
  std::uint64_t bytes_echoed() const { return bytes_echoed_; }
  double elapsed_s() const { return elapsed_s_; }
  const Epoll& epoll() const { return epoll_; }

 private:
  void start_message(Client& c) {
    std::uniform_int_distribution<std::size_t> size(1, kMaxMessage);
    c.message_end = c.sent + size(rng_);
    epoll_.set(c.fd, Flags::in + Flags::out);
  }

  void send_some(Client& c) {
    char buffer[kMaxMessage];
    const std::size_t n = static_cast<std::size_t>(c.message_end - c.sent);
    for (std::size_t i = 0; i < n; ++i) buffer[i] = stream_byte(c.id, c.sent + i);
    const ssize_t written = write(c.fd, buffer, n);
    if (written < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      example::fail("write");
    }
    c.sent += static_cast<std::uint64_t>(written);
    if (c.sent == c.message_end) epoll_.set(c.fd, Flags::in);
  }

  // Reads and checks echoed bytes; false when one is wrong or missing.
  bool receive_some(Client& c) {
    char buffer[kBufferSize];
    const ssize_t n = read(c.fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return true;
      return lost(c, std::string("read failed: ") + std::strerror(errno));
    }
    if (n == 0) return lost(c, "the server closed the connection");
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[i] != stream_byte(c.id, c.received + static_cast<std::uint64_t>(i))) {
        return lost(
            c, "byte " + std::to_string(c.received + static_cast<std::uint64_t>(i)) + " came back wrong");
      }
    }
    c.received += static_cast<std::uint64_t>(n);
    bytes_echoed_ += static_cast<std::uint64_t>(n);
    if (c.received > c.sent) return lost(c, "more bytes came back than were sent");
    if (c.received == c.message_end) {
      ++messages_done_;
      if (--c.messages_left > 0) {
        start_message(c);
      } else {
        epoll_.remove(c.fd);
        close(c.fd);
        --open_;
      }
    }
    return true;
  }

  bool lost(const Client& c, const std::string& what) {
    std::cout << "\nconnection " << c.id << " (fd " << c.fd << "): " << what << "\n";
    return false;
  }

  bool print_snapshot(ServerStatus& status) {
    const std::lock_guard lock(status.mutex);
    if (status.snapshot.empty()) return false;
    std::cout << "\rThe server's Epoll with " << options_.connections << " clients connected:\n"
              << status.snapshot << "\n\n";
    return true;
  }

  void print_progress(ServerStatus& status, double elapsed, double messages_per_s) {
    const bool tty = isatty(STDOUT_FILENO) != 0;
    std::printf("%sconnections %4d/%d  messages %8ld  messages/s %8.0f  echoed %7.1f MB  %5.1f s%s",
                tty ? "\r" : "", status.connections.load(), options_.connections, messages_done_,
                messages_per_s, static_cast<double>(bytes_echoed_) / 1e6, elapsed, tty ? "" : "\n");
    std::fflush(stdout);
  }

  const Options& options_;
  Epoll epoll_;
  std::vector<Client> clients_;
  std::vector<int> by_fd_;  // fd -> client id
  std::mt19937_64 rng_{42};
  int open_ = 0;  // connections not yet closed
  long messages_done_ = 0;
  std::uint64_t bytes_echoed_ = 0;
  double elapsed_s_ = 0;
  bool stopping_ = false;
};

// A nonblocking listener on 127.0.0.1, on a free port that the kernel picks.
int listen_on_loopback() {
  const int fd = static_cast<int>(
      example::check(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  const sockaddr_in address = example::loopback_address(0);
  example::check(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  // Every client connects at once: the backlog must hold them all.
  example::check(listen(fd, 4096), "listen");
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  example::parse_options(argc, argv, kUsage,
                         {{"--connections", options.connections},
                          {"--messages", options.messages},
                          {"--duration", options.duration_s},
                          {"--busy-poll", options.busy_poll_us}});
  // A peer that closes early must cost an EPIPE, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  const int listen_fd = listen_on_loopback();
  const std::uint16_t port = example::local_port(listen_fd);
  const int stop_fd = static_cast<int>(example::check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"));
  std::cout << "echo server on 127.0.0.1:" << port << ", " << options.connections << " clients, "
            << options.messages << " messages each, at most " << options.duration_s << " s\n";

  ServerStatus status;
  // Made here, so that a kernel refusing busy polling stops the program
  // before any client starts.
  std::unique_ptr<EchoServer> server;
  try {
    server =
        std::make_unique<EchoServer>(listen_fd, stop_fd, options.connections, options.busy_poll_us, status);
  } catch (const std::system_error& e) {
    std::cout << "echo_demo: " << e.what() << "\n";
    return 1;
  }
  if (options.busy_poll_us > 0) {
    const Epoll::BusyPoll busy_poll = server->busy_poll();
    std::cout << "the server's Epoll busy-polls: usecs " << busy_poll.usecs.count() << ", budget "
              << busy_poll.budget << " (loopback has no NAPI id: nothing to poll here)\n";
  }
  std::thread server_thread([&] {
    try {
      server->run();
    } catch (const std::exception& e) {
      const std::lock_guard lock(status.mutex);
      status.failure = e.what();
    }
    status.done = true;
  });

  bool intact = false;
  long messages = 0;
  std::uint64_t bytes = 0;
  double elapsed = 0;
  try {
    ClientFleet fleet(options, example::loopback_address(port));
    intact = fleet.run(status);
    fleet.epoll().check_against_kernel();
    messages = fleet.messages_done();
    bytes = fleet.bytes_echoed();
    elapsed = fleet.elapsed_s();
  } catch (const std::exception& e) {
    std::cout << "\nclients: " << e.what() << "\n";
  }

  // Give the server up to five seconds to see every client leave, then stop it.
  const Clock::time_point give_up = Clock::now() + std::chrono::seconds(5);
  while (intact && status.connections.load() > 0 && !status.done && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::uint64_t one = 1;
  example::check(write(stop_fd, &one, sizeof one), "write to the stop eventfd");
  server_thread.join();
  close(listen_fd);
  close(stop_fd);

  std::cout << "\n\nsummary\n"
            << "  connections      " << options.connections << "\n"
            << "  messages echoed  " << messages << "\n"
            << "  bytes echoed     " << bytes << "\n"
            << "  seconds          " << elapsed << "\n"
            << "  messages/s       "
            << (elapsed > 0 ? static_cast<long>(static_cast<double>(messages) / elapsed) : 0) << "\n"
            << "  bytes checked    " << (intact ? "all intact" : "LOST OR CORRUPTED") << "\n";
  if (!status.failure.empty()) std::cout << "  server           " << status.failure << "\n";
  const bool ok = intact && status.failure.empty();
  std::cout << (ok ? "OK: every byte came back\n" : "FAILED\n");
  return ok ? 0 : 1;
}

// many_cores: an echo server that uses every core, one Epoll per thread.
//
// An Epoll is not thread safe, and nothing needs it to be: each thread owns
// its own Epoll and its own listening socket. All the listeners are bound to
// the same loopback port with SO_REUSEPORT, so the kernel spreads incoming
// connections over them and a connection lives on one thread for its whole
// life; no lock is taken anywhere. The port is chosen at run time (the first
// listener binds port 0, the others reuse the port it got).

#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;

namespace {

constexpr const char* kUsage =
    "usage: many_cores [--threads N] [--connections C] [--messages M]\n"
    "       many_cores --serve [--threads N]\n"
    "  start N server threads (default: one per core), then a built-in client\n"
    "  opens C connections (default 4 per thread), sends M messages on each\n"
    "  (default 10), checks every echo and stops the servers; with --serve,\n"
    "  only serve, until interrupted\n";

// A nonblocking TCP listener on 127.0.0.1:`port` that shares its port with
// the other threads' listeners.
int make_listener(std::uint16_t port) {
  const int fd = static_cast<int>(
      example::check(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  const int on = 1;
  example::check(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on), "setsockopt SO_REUSEPORT");
  const sockaddr_in address = example::loopback_address(port);
  example::check(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  example::check(listen(fd, SOMAXCONN), "listen");
  return fd;
}

// Closes every connection still open at shutdown. The table knows them all.
// Each leaves the set before it is closed (the library's first rule);
// removing the fd a walk is visiting keeps the walk going.
void close_connections(Epoll& ep, int listen_fd, int stop_fd) {
  ep.iter([&](int fd, Epoll::Flags) {
    if (fd == listen_fd || fd == stop_fd) return;
    ep.remove(fd);
    close(fd);
  });
}

// What one server thread did.
struct ServerStats {
  int connections = 0;
  long bytes = 0;
};

// One thread's event loop: accept on its own listener, echo on its own
// connections, return when `stop_fd` becomes readable.
ServerStats serve(int listen_fd, int stop_fd) {
  ServerStats stats;
  auto ep = Epoll::create(example::fd_domain(), /*max_ready_events=*/64).value();
  ep.set(listen_fd, Epoll::Flags::in);
  // Every thread watches the same eventfd; nobody reads it, so it stays
  // readable and stops them all.
  ep.set(stop_fd, Epoll::Flags::in);
  for (;;) {
    ep.wait(Epoll::Timeout::never());
    for (auto [fd, flags] : ep.ready()) {
      if (fd == stop_fd) {
        close_connections(ep, listen_fd, stop_fd);
        return stats;
      }
      if (fd == listen_fd) {
        stats.connections += example::accept_all(ep, listen_fd);
        continue;
      }
      stats.bytes += example::echo(ep, fd);
    }
  }
}

// Opens `connections` connections to the port, sends `messages` lines on each
// and checks that each comes back unchanged. Returns the number of correct
// echoes.
long run_client(std::uint16_t port, int connections, int messages) {
  const std::vector<int> fds = example::connect_all(port, connections);
  long correct = 0;
  for (int m = 0; m < messages; ++m) {
    for (std::size_t i = 0; i < fds.size(); ++i) {
      const std::string line = "connection " + std::to_string(i) + " message " + std::to_string(m) + "\n";
      example::check(write(fds[i], line.data(), line.size()), "write");
      std::string echo;
      while (echo.size() < line.size()) {
        char buffer[256];
        const long n = example::check(read(fds[i], buffer, line.size() - echo.size()), "read");
        if (n == 0) break;
        echo.append(buffer, static_cast<std::size_t>(n));
      }
      if (echo == line) ++correct;
    }
  }
  for (int fd : fds) close(fd);
  return correct;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  int connections = 0;  // until given: four per thread, once the thread count is known
  int messages = 10;
  bool serve_only = false;
  example::parse_options(argc, argv, kUsage,
                         {{"--threads", threads},
                          {"--connections", connections},
                          {"--messages", messages},
                          {"--serve", serve_only}});
  if (connections == 0) connections = 4 * threads;

  // All listeners exist before any client connects, so the kernel can hand a
  // connection to any of them from the start.
  std::vector<int> listeners{make_listener(0)};
  const std::uint16_t port = example::local_port(listeners[0]);
  for (int i = 1; i < threads; ++i) listeners.push_back(make_listener(port));
  const int stop_fd = static_cast<int>(example::check(eventfd(0, EFD_CLOEXEC), "eventfd"));

  std::vector<ServerStats> stats(static_cast<std::size_t>(threads));
  std::vector<std::thread> servers;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    servers.emplace_back([&, i] { stats[i] = serve(listeners[i], stop_fd); });
  }
  std::printf("%d threads listening on 127.0.0.1:%u\n", threads, static_cast<unsigned>(port));
  std::fflush(stdout);
  if (serve_only) {
    for (std::thread& server : servers) server.join();
    return 0;
  }

  const long correct = run_client(port, connections, messages);
  const std::uint64_t one = 1;
  example::check(write(stop_fd, &one, sizeof one), "write eventfd");
  for (std::thread& server : servers) server.join();

  int busy_threads = 0;
  int accepted = 0;
  for (std::size_t i = 0; i < stats.size(); ++i) {
    std::printf("thread %zu: %d connections, %ld bytes echoed\n", i, stats[i].connections, stats[i].bytes);
    busy_threads += stats[i].connections > 0 ? 1 : 0;
    accepted += stats[i].connections;
  }
  for (int fd : listeners) close(fd);
  close(stop_fd);
  const long expected = static_cast<long>(connections) * messages;
  std::printf("%d connections accepted by %d of %d threads\n", accepted, busy_threads, threads);
  if (correct != expected || accepted != connections) {
    std::printf("FAIL: %ld of %ld echoes correct\n", correct, expected);
    return 1;
  }
  std::printf("ok: %ld of %ld echoes correct\n", correct, expected);
  return 0;
}

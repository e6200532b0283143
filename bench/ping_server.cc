// A PING server for redis-benchmark (`-t ping_inline`): it answers each
// inline "PING\r\n" with "+PONG\r\n", on linux_ext::Epoll or, with --raw,
// on a raw epoll loop written the same way, to measure what the wrapper
// costs a real client.
//
//   ping_server [--raw] [--seconds S]
// Listens on 127.0.0.1 at a port the kernel picks and prints "port N" on
// stdout; exits after S seconds (default 60) whatever happens.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux_ext/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::exit(1);
}

constexpr int kMaxFds = 4096;

// The event loop on linux_ext::Epoll.
class WrappedLoop {
 public:
  WrappedLoop() : ep_(linux_ext::Epoll::create(kMaxFds, 256).value()) {}
  void watch(int fd, bool write) {
    ep_.set(fd,
            write ? linux_ext::Epoll::Flags::in + linux_ext::Epoll::Flags::out : linux_ext::Epoll::Flags::in);
  }
  void forget(int fd) { ep_.remove(fd); }
  // Waits up to 100 ms and calls f(fd, readable, writable) per event.
  template <class F>
  void wait(F&& f) {
    if (ep_.wait_timeout_after(std::chrono::milliseconds(100)) != linux_ext::Epoll::WaitResult::ok) return;
    for (const linux_ext::Epoll::ReadyEvent event : ep_.ready()) {
      f(event.fd, event.is_readable() || event.is_read_closed() || event.is_error(), event.is_writable());
    }
  }

 private:
  linux_ext::Epoll ep_;
};

// The same loop on raw epoll, with its own record of what is watched.
class RawLoop {
 public:
  RawLoop() : epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)), watched_(kMaxFds, 0) {
    if (epoll_fd_ < 0) die("epoll_create1");
  }
  ~RawLoop() { ::close(epoll_fd_); }
  void watch(int fd, bool write) {
    const std::uint32_t events = write ? EPOLLIN | EPOLLOUT : EPOLLIN;
    std::uint32_t& current = watched_[static_cast<std::size_t>(fd)];
    if (current == events) return;
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll_fd_, current == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event) != 0)
      die("epoll_ctl");
    current = events;
  }
  void forget(int fd) {
    watched_[static_cast<std::size_t>(fd)] = 0;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  template <class F>
  void wait(F&& f) {
    const int n = ::epoll_wait(epoll_fd_, events_, 256, 100);
    for (int i = 0; i < n; ++i) {
      f(events_[i].data.fd, (events_[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0,
        (events_[i].events & EPOLLOUT) != 0);
    }
  }

 private:
  int epoll_fd_;
  std::vector<std::uint32_t> watched_;
  epoll_event events_[256];
};

struct Connection {
  std::string in, out;
};

// Appends the reply to every complete command in `c.in`: inline commands
// ("PING\r\n") and, for the CONFIG GET redis-benchmark sends first, RESP
// arrays, which get an empty array back.
void handle_commands(Connection& c) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = c.in.find('\n', pos);
    if (eol == std::string::npos) break;
    if (c.in[pos] == '*') {
      // A RESP array of k bulk strings: 1 + 2k lines.
      const int k = std::atoi(c.in.c_str() + pos + 1);
      std::size_t end = eol;
      bool complete = true;
      for (int line = 0; line < 2 * k; ++line) {
        end = c.in.find('\n', end + 1);
        if (end == std::string::npos) {
          complete = false;
          break;
        }
      }
      if (!complete) break;
      c.out += "*0\r\n";
      pos = end + 1;
      continue;
    }
    std::size_t length = eol - pos;
    if (length > 0 && c.in[pos + length - 1] == '\r') --length;
    if (length == 4 && strncasecmp(c.in.c_str() + pos, "PING", 4) == 0) {
      c.out += "+PONG\r\n";
    } else if (length > 0) {
      c.out += "-ERR unknown command\r\n";
    }
    pos = eol + 1;
  }
  c.in.erase(0, pos);
}

template <class Loop>
void serve(int listen_fd, int seconds) {
  Loop loop;
  std::vector<Connection> connections(kMaxFds);
  loop.watch(listen_fd, false);
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  char buffer[16384];
  while (Clock::now() < deadline) {
    loop.wait([&](int fd, bool readable, bool writable) {
      if (fd == listen_fd) {
        for (;;) {
          const int client = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;
          if (client >= kMaxFds) {
            ::close(client);
            continue;
          }
          const int one = 1;
          ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          connections[static_cast<std::size_t>(client)] = Connection{};
          loop.watch(client, false);
        }
        return;
      }
      Connection& c = connections[static_cast<std::size_t>(fd)];
      bool closed = false;
      if (readable) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
          c.in.append(buffer, static_cast<std::size_t>(n));
          handle_commands(c);
        } else if (n == 0 || errno != EAGAIN) {
          closed = true;
        }
      }
      if (!closed && (readable || writable) && !c.out.empty()) {
        const ssize_t n = ::write(fd, c.out.data(), c.out.size());
        if (n > 0)
          c.out.erase(0, static_cast<std::size_t>(n));
        else if (errno != EAGAIN)
          closed = true;
      }
      if (closed) {
        loop.forget(fd);
        ::close(fd);
        return;
      }
      loop.watch(fd, !c.out.empty());  // out only while a reply waits
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool raw = false;
  int seconds = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--raw") == 0)
      raw = true;
    else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = std::atoi(argv[++i]);
  }
  const int listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) die("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // the kernel picks a free port
  socklen_t length = sizeof address;
  if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind");
  if (::listen(listen_fd, 512) != 0) die("listen");
  if (::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
  std::printf("port %d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  if (raw)
    serve<RawLoop>(listen_fd, seconds);
  else
    serve<WrappedLoop>(listen_fd, seconds);
  return 0;
}

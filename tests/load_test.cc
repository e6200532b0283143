// Load: about 9 000 concurrent loopback TCP connections through an echo
// server on one Epoll, in the level-triggered and in the edge-triggered
// style. The clients live in a forked child (an fd limit of 20 000 per
// process holds one side, not both) with an Epoll of their own; they send
// messages of random sizes, check every byte of every echo, and close and
// open connections throughout. At the end both sides' Epolls must agree
// with the kernel, and the byte counts of both sides must match.
// The test raises the soft fd limit to 20 000 itself; where the hard limit
// is lower, it runs as many connections as fit and prints how many.
//   LOAD_CONCURRENT=n  connections open at the peak (default 9000)
//   LOAD_TOTAL=n       connections over the whole run (default 2 * concurrent)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// The soft fd limit the test raises itself to, and the fd numbers both
// sides' tables cover.
constexpr int kMaxFds = 20000;
// Each side gets two fds per connection open at the peak, since the server
// still holds those the clients have closed until it reads their end (some
// 10 % more at 9 000), and these few for stdio, the listener, the control
// pipe and the Epoll.
constexpr int kSpareFds = 64;

// The connections open at the peak that `fds` per process leave room for.
long connections_that_fit(int fds) { return (std::min(fds, kMaxFds) - kSpareFds) / 2; }

// The byte at `offset` of message `message` of connection `id`: the echo
// is checked against it, so a byte lost, repeated or crossed between
// connections is seen.
std::uint8_t pattern(std::uint32_t id, std::uint32_t message, std::size_t offset) {
  return static_cast<std::uint8_t>(id * 131U + message * 31U + offset * 7U + (offset >> 8));
}

struct Figures {
  long connections = 0;
  long bytes_sent = 0;
  long bytes_received = 0;
  long peak = 0;
};

// --- the clients (in the child) --------------------------------------------

class Clients {
 public:
  Clients(sockaddr_in server, long concurrent, long total, std::uint64_t seed)
      : server_(server),
        concurrent_(concurrent),
        total_(total),
        rng_(seed),
        conns_(kMaxFds),
        ep_(Epoll::create(kMaxFds, 256).value()) {}

  // Runs to the end; returns "" or what went wrong.
  std::string run(Figures& figures) {
    open_more();
    int idle_waits = 0;
    while (closed_ < total_) {
      if (!failure_.empty()) return failure_;
      if (ep_.wait(Timeout::after(std::chrono::seconds(1))) == WaitResult::timeout) {
        // A hang guard, not a time limit: a minute without any event.
        if (++idle_waits == 60)
          return "no event for a minute with " + std::to_string(live_) + " connections open";
        continue;
      }
      idle_waits = 0;
      for (auto [fd, flags] : ep_.ready()) on_event(fd, flags);
      open_more();
    }
    ep_.check_against_kernel();
    if (ep_.size() != 0) return "connections left in the clients' set";
    figures = {opened_, sent_, received_, peak_};
    return failure_;
  }

 private:
  struct Conn {
    std::uint32_t id = 0;
    std::uint32_t message = 0;  // number of the message under way
    int messages_left = 0;
    std::size_t length = 0, sent = 0, received = 0;
    bool done = false;  // all messages echoed; waits for the peak to close
  };

  void fail(const std::string& what) {
    if (failure_.empty()) failure_ = what;
  }

  std::size_t random_length() {
    // Mostly small, sometimes up to 64 KiB: many short reads and writes,
    // and some that fill the socket buffers.
    const int shift = static_cast<int>(rng_() % 17);
    return 1 + rng_() % (std::size_t{1} << shift);
  }

  void open_more() {
    while (live_ < concurrent_ && opened_ < total_) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return fail(std::string("socket: ") + std::strerror(errno));
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0 &&
          errno != EINPROGRESS) {
        return fail(std::string("connect: ") + std::strerror(errno));
      }
      Conn& c = conns_[static_cast<std::size_t>(fd)];
      c = Conn{static_cast<std::uint32_t>(opened_),
               0,
               1 + static_cast<int>(rng_() % 3),
               random_length(),
               0,
               0,
               false};
      ep_.set(fd, Flags::out);
      ++opened_;
      peak_ = std::max(peak_, ++live_);
    }
    // Once `concurrent` connections have each had an echo (so the server
    // holds them all at once), finished connections close and others take
    // their place.
    if (established_ >= concurrent_ || opened_ == total_) reached_peak_ = true;
    if (reached_peak_) {
      for (int fd : waiting_to_close_) close_conn(fd);
      waiting_to_close_.clear();
    }
  }

  void close_conn(int fd) {
    ep_.remove(fd);
    ::close(fd);
    --live_;
    ++closed_;
  }

  void on_event(int fd, Flags flags) {
    Conn& c = conns_[static_cast<std::size_t>(fd)];
    if (flags.do_intersect(Flags::err)) {
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
      return fail("connection " + std::to_string(c.id) + ": " + std::strerror(error));
    }
    if (flags.do_intersect(Flags::out)) send_some(fd, c);
    if (flags.do_intersect(Flags::in + Flags::hup)) receive_some(fd, c);
  }

  void send_some(int fd, Conn& c) {
    char buffer[65536];
    while (c.sent < c.length) {
      const std::size_t n = std::min(sizeof buffer, c.length - c.sent);
      for (std::size_t i = 0; i < n; ++i) buffer[i] = static_cast<char>(pattern(c.id, c.message, c.sent + i));
      const ssize_t w = ::send(fd, buffer, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN) return;
        return fail("send: " + std::string(std::strerror(errno)));
      }
      c.sent += static_cast<std::size_t>(w);
      sent_ += w;
    }
    ep_.set(fd, Flags::in);  // all sent: wait for the rest of the echo
  }

  void receive_some(int fd, Conn& c) {
    char buffer[65536];
    for (;;) {
      const ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
      if (r < 0) {
        if (errno == EAGAIN) return;
        return fail("recv: " + std::string(std::strerror(errno)));
      }
      if (r == 0) return fail("connection " + std::to_string(c.id) + " closed by the server mid-message");
      for (ssize_t i = 0; i < r; ++i) {
        if (c.received >= c.sent ||
            static_cast<std::uint8_t>(buffer[i]) != pattern(c.id, c.message, c.received)) {
          return fail("connection " + std::to_string(c.id) + ", message " + std::to_string(c.message) +
                      ": wrong or extra byte at offset " + std::to_string(c.received));
        }
        ++c.received;
      }
      received_ += r;
      if (c.received == c.length) return next_message(fd, c);
    }
  }

  void next_message(int fd, Conn& c) {
    if (c.message == 0) ++established_;
    if (--c.messages_left > 0) {
      c.message += 1;
      c.length = random_length();
      c.sent = c.received = 0;
      ep_.set(fd, Flags::out);
      return;
    }
    c.done = true;
    if (reached_peak_) {
      close_conn(fd);
    } else {
      ep_.remove(fd);
      waiting_to_close_.push_back(fd);
    }
  }

  sockaddr_in server_;
  long concurrent_, total_;
  std::mt19937_64 rng_;
  std::vector<Conn> conns_;
  Epoll ep_;
  std::vector<int> waiting_to_close_;
  long opened_ = 0, closed_ = 0, live_ = 0, peak_ = 0, established_ = 0, sent_ = 0, received_ = 0;
  bool reached_peak_ = false;
  std::string failure_;
};

// --- the echo server (in the test process) ---------------------------------

enum class Style { level, edge };

class EchoServer {
 public:
  EchoServer(Style style, int listener, int control)
      : style_(style),
        listener_(listener),
        control_(control),
        pending_(kMaxFds),
        ep_(Epoll::create(kMaxFds, 256).value()) {
    const Flags edge = style_ == Style::edge ? Flags::et : Flags::none;
    ep_.set(listener_, Flags::in + edge);
    ep_.set(control_, Flags::in);
  }

  // Serves until the clients report success on the control pipe and every
  // connection has ended; returns their report, or what went wrong here.
  std::string run() {
    while ((report_.empty() || (live_ > 0 && report_.rfind("ok ", 0) == 0)) && failure_.empty()) {
      ep_.wait(Timeout::never());
      for (auto [fd, flags] : ep_.ready()) on_event(fd, flags);
    }
    return failure_.empty() ? report_ : "server: " + failure_;
  }

  Epoll& epoll() { return ep_; }
  long bytes_echoed() const { return echoed_; }
  long accepted() const { return accepted_; }
  long peak() const { return peak_; }
  long live() const { return live_; }

 private:
  void fail(const std::string& what) {
    if (failure_.empty()) failure_ = what;
  }

  void on_event(int fd, Flags flags) {
    if (fd == control_) return read_report();
    if (fd == listener_) return accept_all();
    if (!ep_.find(fd)) return;  // closed earlier in this walk
    if (style_ == Style::level) {
      serve_level(fd, flags);
    } else {
      serve_edge(fd);
    }
  }

  void read_report() {
    char buffer[256];
    const ssize_t n = ::read(control_, buffer, sizeof buffer);
    report_ =
        n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : "fail clients ended without a report";
    ep_.remove(control_);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno != EAGAIN) fail(std::string("accept: ") + std::strerror(errno));
        return;
      }
      ++accepted_;
      peak_ = std::max(peak_, ++live_);
      pending_[static_cast<std::size_t>(fd)].clear();
      ep_.set(fd, style_ == Style::edge ? Flags::in + Flags::out + Flags::et : Flags::in);
    }
  }

  void close_conn(int fd) {
    ep_.remove(fd);
    ::close(fd);
    --live_;
  }

  // Writes what is pending; returns false when the socket is full.
  bool flush(int fd) {
    std::string& out = pending_[static_cast<std::size_t>(fd)];
    while (!out.empty()) {
      const ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN) return false;
        fail(std::string("send: ") + std::strerror(errno));
        return false;
      }
      echoed_ += w;
      out.erase(0, static_cast<std::size_t>(w));
    }
    return true;
  }

  // Reads what there is into the pending output; returns false at the end
  // of the stream (the connection is then closed) or on EAGAIN.
  bool read_some(int fd) {
    char buffer[65536];
    const ssize_t r = ::recv(fd, buffer, sizeof buffer, 0);
    if (r > 0) {
      pending_[static_cast<std::size_t>(fd)].append(buffer, static_cast<std::size_t>(r));
      return true;
    }
    if (r == 0) {
      close_conn(fd);
    } else if (errno != EAGAIN) {
      fail(std::string("recv: ") + std::strerror(errno));
    }
    return false;
  }

  // Level-triggered: one read per readiness, and while output is pending
  // the fd is watched for out only (no more reading until it drains).
  void serve_level(int fd, Flags flags) {
    if (flags.do_intersect(Flags::out)) {
      if (flush(fd)) ep_.set(fd, Flags::in);
      return;
    }
    if (!read_some(fd)) return;
    if (!flush(fd)) ep_.set(fd, Flags::out);
  }

  // Edge-triggered: each edge must be followed to EAGAIN, or the data
  // left behind is never reported again.
  void serve_edge(int fd) {
    for (;;) {
      if (!flush(fd)) return;  // the out edge comes when there is room
      if (!read_some(fd)) return;
    }
  }

  Style style_;
  int listener_, control_;
  std::vector<std::string> pending_;
  Epoll ep_;
  std::string report_, failure_;
  long echoed_ = 0, accepted_ = 0, live_ = 0, peak_ = 0;
};

class LoadTest : public ::testing::TestWithParam<Style> {};

TEST_P(LoadTest, ManyConnectionsEchoEveryByte) {
  const FdLimit fds = raise_fd_limit(kMaxFds);
  const long asked = env_or("LOAD_CONCURRENT", 9000);
  const long concurrent = std::min(asked, connections_that_fit(fds.now));
  const long total = env_or("LOAD_TOTAL", 2 * concurrent);
  const Style style = GetParam();
  std::string limit = "soft fd limit " +
                      (fds.now > fds.before ? "raised from " + std::to_string(fds.before) + " to " : "") +
                      std::to_string(fds.now);
  if (fds.now < kMaxFds) limit += ", the hard limit";
  if (concurrent < 1) GTEST_SKIP() << "load_test: no room for a connection (" << limit << ")";
  if (concurrent < asked) {
    limit += ": room for " + std::to_string(concurrent) + " of the " + std::to_string(asked);
  }
  std::printf("load_test: %ld connections, %ld at once (%s)\n", total, concurrent, limit.c_str());

  Fd listener(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;  // any free port
  check_sys(::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), "bind");
  check_sys(::listen(listener.get(), 4096), "listen");
  socklen_t length = sizeof address;
  check_sys(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), "getsockname");
  int control[2];
  check_sys(::pipe2(control, O_CLOEXEC), "pipe2");

  std::fflush(nullptr);
  const pid_t child = ::fork();
  check_sys(child, "fork");
  if (child == 0) {
    ::close(control[0]);
    listener.release();
    Figures figures;
    std::string failure;
    try {
      failure = Clients(address, concurrent, total, style == Style::level ? 1 : 2).run(figures);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    std::ostringstream report;
    if (failure.empty()) {
      report << "ok " << figures.connections << ' ' << figures.bytes_sent << ' ' << figures.bytes_received
             << ' ' << figures.peak;
    } else {
      report << "fail " << failure;
    }
    const std::string text = report.str().substr(0, 255);
    [[maybe_unused]] const ssize_t n = ::write(control[1], text.data(), text.size());
    ::_exit(failure.empty() ? 0 : 1);
  }
  ::close(control[1]);
  Fd control_read(control[0]);

  EchoServer server(style, listener.get(), control_read.get());
  const std::string report = server.run();
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_EQ(report.substr(0, 3), "ok ") << report;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  Figures clients;
  std::istringstream(report.substr(3)) >> clients.connections >> clients.bytes_sent >>
      clients.bytes_received >> clients.peak;
  // Every connection made it; the server echoed exactly what was sent, and
  // the clients got all of it back (each byte checked on arrival).
  EXPECT_EQ(clients.connections, total);
  EXPECT_EQ(clients.peak, concurrent);
  EXPECT_EQ(server.accepted(), total);
  EXPECT_EQ(server.bytes_echoed(), clients.bytes_sent);
  EXPECT_EQ(clients.bytes_received, clients.bytes_sent);
  // The server held them all at once, and now holds only the listener.
  EXPECT_GE(server.peak(), concurrent);
  EXPECT_EQ(server.live(), 0);
  EXPECT_EQ(server.epoll().size(), 1U);
  server.epoll().check_against_kernel();
  server.epoll().invariant();
  std::printf(
      "load %s: %ld connections (peak %ld server-side, %ld client-side), %ld bytes each way, all checked\n",
      style == Style::level ? "level-triggered" : "edge-triggered", clients.connections, server.peak(),
      clients.peak, clients.bytes_sent);
}

INSTANTIATE_TEST_SUITE_P(Styles, LoadTest, ::testing::Values(Style::level, Style::edge), [](const auto& p) {
  return std::string(p.param == Style::level ? "LevelTriggered" : "EdgeTriggered");
});

}  // namespace
}  // namespace linux_ext::test

// The ready set: iter_ready, fold_ready and ready() walk the last wait's
// events in the kernel's order, unaffected by table changes during the walk;
// and ReadyEvent's predicates, read from what real sockets and pipes report.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <random>
#include <vector>

#include "test_util.h"

namespace linux_ext::test {
namespace {

using Events = std::vector<std::pair<int, Flags>>;

// The events as the ready() range yields them.
Events range_of(const Epoll& ep) {
  Events events;
  for (auto [fd, flags] : ep.ready()) events.emplace_back(fd, flags);
  return events;
}

// `n` eventfds watched by `ep` and, added in the same order, by a raw epoll
// instance that serves as the reference for the kernel's order.
struct TwinSets {
  explicit TwinSets(Epoll& ep, int n) : raw(check_sys(::epoll_create1(EPOLL_CLOEXEC), "epoll_create1")) {
    for (int i = 0; i < n; ++i) {
      fds.push_back(make_eventfd());
      ep.set(fds.back().get(), Flags::in);
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.fd = fds.back().get();
      check_sys(::epoll_ctl(raw.get(), EPOLL_CTL_ADD, fds.back().get(), &event), "epoll_ctl");
    }
  }
  // The raw instance's events of one non-blocking wait, in its order.
  Events raw_wait(int max_events) const {
    std::vector<epoll_event> events(static_cast<std::size_t>(max_events));
    const int n = ::epoll_wait(raw.get(), events.data(), max_events, 0);
    Events out;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;  // a copy: the kernel's struct is packed
      out.emplace_back(fd, Flags::of_bits(events[i].events));
    }
    return out;
  }

  std::vector<Fd> fds;
  Fd raw;
};

TEST(ReadyTest, WalksInTheKernelsOrder) {
  constexpr int kFds = 12;
  Epoll ep = make_epoll(1024, 64);
  TwinSets twins(ep, kFds);
  // Events arrive in a scrambled order; the kernel queues them as they come.
  std::vector<int> order(kFds);
  for (int i = 0; i < kFds; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(42));
  Events expected;
  for (const int i : order) {
    poke(twins.fds[i].get());
    expected.emplace_back(twins.fds[i].get(), Flags::in);
  }
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_EQ(ep.num_ready(), kFds);
  EXPECT_EQ(ready_of(ep), expected);
  EXPECT_EQ(range_of(ep), expected);
  EXPECT_EQ(twins.raw_wait(64), expected);
  const Events folded = ep.fold_ready(Events{}, [](Events acc, int fd, Flags flags) {
    acc.emplace_back(fd, flags);
    return acc;
  });
  EXPECT_EQ(folded, expected);
}

TEST(ReadyTest, OrderStaysTheKernelsWhenItRotates) {
  // With fewer slots than ready fds the kernel rotates its list; the two
  // instances, fed the same way, must agree wait after wait.
  constexpr int kFds = 9;
  constexpr int kMax = 4;
  Epoll ep = make_epoll(1024, kMax);
  TwinSets twins(ep, kFds);
  for (const Fd& fd : twins.fds) poke(fd.get());
  for (int round = 0; round < 5; ++round) {
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    EXPECT_EQ(ready_of(ep), twins.raw_wait(kMax)) << "round " << round;
  }
}

TEST(ReadyTest, RangeIsARandomAccessRangeOfReadyEvents) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  Fd b = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::in + Flags::out);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const auto range = ep.ready();
  ASSERT_EQ(range.size(), 2U);
  EXPECT_FALSE(range.empty());
  EXPECT_EQ(range.end() - range.begin(), 2);
  const Events walked = ready_of(ep);
  for (std::size_t i = 0; i < range.size(); ++i) {
    const Epoll::ReadyEvent event = range[i];
    EXPECT_EQ(event.fd, walked[i].first);
    EXPECT_EQ(event.flags, walked[i].second);
    EXPECT_EQ(range.begin()[static_cast<std::ptrdiff_t>(i)].fd, walked[i].first);
  }
  const auto it =
      std::find_if(range.begin(), range.end(), [&](Epoll::ReadyEvent e) { return e.fd == b.get(); });
  ASSERT_NE(it, range.end());
  EXPECT_EQ((*it).flags, Flags::in + Flags::out);
}

TEST(ReadyTest, ChangingTheTableDuringTheWalkDoesNotChangeIt) {
  constexpr int kFds = 6;
  Epoll ep = make_epoll();
  std::vector<Fd> fds;
  for (int i = 0; i < kFds; ++i) {
    fds.push_back(make_eventfd(1));
    ep.set(fds.back().get(), Flags::in);
  }
  Fd extra = make_eventfd(1);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Events before = ready_of(ep);
  ASSERT_EQ(before.size(), static_cast<std::size_t>(kFds));

  // iter_ready: remove each fd as it is visited, and add another.
  Events walked;
  ep.iter_ready([&](int fd, Flags flags) {
    walked.emplace_back(fd, flags);
    ep.remove(fd);
    ep.set(extra.get(), Flags::in + Flags::out);
  });
  EXPECT_EQ(walked, before);
  EXPECT_EQ(ep.size(), 1U);
  EXPECT_EQ(ready_of(ep), before);  // the ready set is the last wait's still

  // ready(): set every fd back while walking.
  walked.clear();
  for (auto [fd, flags] : ep.ready()) {
    walked.emplace_back(fd, flags);
    ep.set(fd, Flags::out);
    ep.remove(extra.get());
  }
  EXPECT_EQ(walked, before);

  // fold_ready: change flags during the fold.
  const Events folded = ep.fold_ready(Events{}, [&](Events acc, int fd, Flags flags) {
    ep.set(fd, Flags::in + Flags::et);
    acc.emplace_back(fd, flags);
    return acc;
  });
  EXPECT_EQ(folded, before);
  expect_consistent(ep);
}

TEST(ReadyTest, ClearReadyEmptiesTheReadySet) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_EQ(ep.num_ready(), 1);
  ep.clear_ready();
  EXPECT_EQ(ep.num_ready(), 0);
  EXPECT_TRUE(ep.ready().empty());
  EXPECT_TRUE(ready_of(ep).empty());
  EXPECT_EQ(ep.fold_ready(0, [](int acc, int, Flags) { return acc + 1; }), 0);
  // The table is untouched, and the fd is reported by the next wait.
  EXPECT_EQ(ep.find(a.get()), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{a.get(), Flags::in}});
}

TEST(ReadyTest, FoldReadyThreadsTheAccumulatorFirst) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  Fd b = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Events walked = ready_of(ep);
  long expected = 7;
  for (const auto& [fd, flags] : walked) expected = expected * 100 + fd;
  EXPECT_EQ(ep.fold_ready(7L, [](long acc, int fd, Flags) { return acc * 100 + fd; }), expected);
}

TEST(ReadyTest, ReportedFlagsAreTheKernelsNotTheWatchedOnes) {
  // Watched for in and out; only out holds, so only out is reported.
  Epoll ep = make_epoll();
  Pipe p = make_pipe();
  ep.set(p.write.get(), Flags::in + Flags::out);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{p.write.get(), Flags::out}});
}

// --- ReadyEvent's predicates ------------------------------------------------

// What each predicate answers for one event.
struct Reading {
  bool readable, writable, error, priority, read_closed, write_closed;
  bool operator==(const Reading&) const = default;
  friend std::ostream& operator<<(std::ostream& out, const Reading& r) {
    return out << "{readable " << r.readable << ", writable " << r.writable << ", error " << r.error
               << ", priority " << r.priority << ", read_closed " << r.read_closed << ", write_closed "
               << r.write_closed << "}";
  }
};

Reading read_event(const Epoll::ReadyEvent& e) {
  return {e.is_readable(), e.is_writable(),    e.is_error(),
          e.is_priority(), e.is_read_closed(), e.is_write_closed()};
}

TEST(ReadyEventTest, PredicatesReadTheBitsAsMioDoes) {
  struct Case {
    Flags flags;
    Reading expected;
  };
  const Case cases[] = {
      {Flags::none, {false, false, false, false, false, false}},
      {Flags::in, {true, false, false, false, false, false}},
      {Flags::pri, {true, false, false, true, false, false}},
      {Flags::out, {false, true, false, false, false, false}},
      {Flags::rdhup, {false, false, false, false, false, false}},  // rdhup needs in
      {Flags::in + Flags::rdhup, {true, false, false, false, true, false}},
      {Flags::hup, {false, false, false, false, true, true}},
      {Flags::err, {false, false, true, false, false, true}},              // err alone
      {Flags::err + Flags::in, {true, false, true, false, false, false}},  // not alone
      {Flags::err + Flags::out, {false, true, true, false, false, true}},
      {Flags::err + Flags::et, {false, false, true, false, false, false}},  // not alone either
  };
  for (const Case& c : cases) {
    EXPECT_EQ(read_event({3, c.flags}), c.expected) << c.flags;
  }
  static_assert(Epoll::ReadyEvent{3, Flags::in + Flags::rdhup}.is_read_closed());
}

// A connected pair of non-blocking TCP sockets on 127.0.0.1, at a port the
// kernel picks: the client's end first.
std::pair<Fd, Fd> make_tcp_pair() {
  const Fd listener(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  check_sys(::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  check_sys(::listen(listener.get(), 1), "listen");
  check_sys(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length), "getsockname");
  Fd client(check_sys(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket"));
  check_sys(::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), "connect");
  check_sys(::fcntl(client.get(), F_SETFL, O_NONBLOCK), "fcntl");
  Fd server(check_sys(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC), "accept4"));
  return {std::move(client), std::move(server)};
}

// Watches `fd` for `watched` and waits, up to 5 s, for an event of it that
// holds all of `reported` (what the kernel reports by then is the test's
// premise); returns that event, or fails the test.
Epoll::ReadyEvent event_holding(Epoll& ep, int fd, Flags watched, Flags reported) {
  ep.set(fd, watched);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ep.wait_timeout_after(10ms) != WaitResult::ok) continue;
    for (const Epoll::ReadyEvent event : ep.ready()) {
      if (event.fd == fd && reported.is_subset(event.flags)) return event;
    }
  }
  ADD_FAILURE() << "fd " << fd << " watched for " << watched << " never reported " << reported;
  return {fd, Flags::none};
}

TEST(ReadyEventTest, PeerShutdownOfItsWritingHalf) {
  Epoll ep = make_epoll();
  auto [client, server] = make_tcp_pair();
  check_sys(static_cast<int>(::write(client.get(), "x", 1)), "write");
  check_sys(::shutdown(client.get(), SHUT_WR), "shutdown");

  // Watched for rdhup: readable, and the reading half closed, with a byte
  // still to read; the server's own writing half is open.
  Epoll::ReadyEvent event =
      event_holding(ep, server.get(), Flags::in + Flags::out + Flags::rdhup, Flags::in + Flags::rdhup);
  EXPECT_EQ(event.flags, Flags::in + Flags::out + Flags::rdhup);
  EXPECT_EQ(read_event(event), (Reading{true, true, false, false, true, false}));
  // Once the byte is read, what is left to read is the end of the stream.
  drain(server.get());
  event = event_holding(ep, server.get(), Flags::in + Flags::rdhup, Flags::in + Flags::rdhup);
  EXPECT_TRUE(event.is_read_closed());
  char byte;
  EXPECT_EQ(::read(server.get(), &byte, 1), 0);

  // Not watched for rdhup, the kernel reports only that it is readable.
  event = event_holding(ep, server.get(), Flags::in, Flags::in);
  EXPECT_EQ(event.flags, Flags::in);
  EXPECT_FALSE(event.is_read_closed());
}

TEST(ReadyEventTest, ResetConnection) {
  Epoll ep = make_epoll();
  auto [client, server] = make_tcp_pair();
  // Closing with a zero linger time sends a reset, not a FIN.
  const linger abort_on_close{1, 0};
  check_sys(::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close),
            "setsockopt");
  client.reset();
  const Epoll::ReadyEvent event =
      event_holding(ep, server.get(), Flags::in + Flags::out + Flags::rdhup, Flags::err + Flags::hup);
  EXPECT_EQ(read_event(event), (Reading{true, true, true, false, true, true})) << event.flags;
  int error = 0;
  socklen_t length = sizeof error;
  check_sys(::getsockopt(server.get(), SOL_SOCKET, SO_ERROR, &error, &length), "getsockopt");
  EXPECT_EQ(error, ECONNRESET);
}

TEST(ReadyEventTest, PipeWhoseWriterClosed) {
  Epoll ep = make_epoll();
  Pipe p = make_pipe();
  poke(p.write.get());
  p.write.reset();
  // Bytes left: readable, and closed for reading once they are read.
  Epoll::ReadyEvent event = event_holding(ep, p.read.get(), Flags::in, Flags::in + Flags::hup);
  EXPECT_EQ(event.flags, Flags::in + Flags::hup);
  EXPECT_EQ(read_event(event), (Reading{true, false, false, false, true, true}));
  drain(p.read.get());
  event = event_holding(ep, p.read.get(), Flags::in, Flags::hup);
  EXPECT_EQ(event.flags, Flags::hup);
  EXPECT_EQ(read_event(event), (Reading{false, false, false, false, true, true}));
}

TEST(ReadyEventTest, PipeWhoseReaderClosed) {
  Epoll ep = make_epoll();
  Pipe p = make_pipe();
  p.read.reset();
  // With room in the pipe: writable (a write would fail with EPIPE) and
  // closed for writing.
  Epoll::ReadyEvent event = event_holding(ep, p.write.get(), Flags::out, Flags::out + Flags::err);
  EXPECT_EQ(event.flags, Flags::out + Flags::err);
  EXPECT_EQ(read_event(event), (Reading{false, true, true, false, false, true}));

  // Full, the pipe reports err alone, which still means closed for writing.
  Pipe full = make_pipe();
  const std::vector<char> block(65536, 'x');
  while (::write(full.write.get(), block.data(), block.size()) > 0) {
  }
  full.read.reset();
  event = event_holding(ep, full.write.get(), Flags::out, Flags::err);
  EXPECT_EQ(event.flags, Flags::err);
  EXPECT_EQ(read_event(event), (Reading{false, false, true, false, false, true}));
}

TEST(ReadyEventTest, UrgentTcpDataIsPriority) {
  Epoll ep = make_epoll();
  auto [client, server] = make_tcp_pair();
  check_sys(static_cast<int>(::send(client.get(), "!", 1, MSG_OOB)), "send MSG_OOB");
  const Epoll::ReadyEvent event = event_holding(ep, server.get(), Flags::pri, Flags::pri);
  EXPECT_EQ(event.flags, Flags::pri);
  EXPECT_EQ(read_event(event), (Reading{true, false, false, true, false, false}));
  char byte = 0;
  EXPECT_EQ(::recv(server.get(), &byte, 1, MSG_OOB), 1);
  EXPECT_EQ(byte, '!');
}

}  // namespace
}  // namespace linux_ext::test

// The ready set: iter_ready, fold_ready and ready() walk the last wait's
// events in the kernel's order, unaffected by table changes during the walk.

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

}  // namespace
}  // namespace linux_ext::test

// What a walk's callback may do to the Epoll it walks: every member may be
// called, and the walk then goes on over what it started with or stops, as the
// header says for each call; it never reads freed or rewritten memory (the
// sanitizer and valgrind runs check that) nor reports an event the kernel did
// not return.

#include <map>
#include <set>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// The three ways to walk the ready set.
enum class ReadyWalk { iter_ready, fold_ready, range };

std::string name_of(const ::testing::TestParamInfo<ReadyWalk>& info) {
  switch (info.param) {
    case ReadyWalk::iter_ready:
      return "IterReady";
    case ReadyWalk::fold_ready:
      return "FoldReady";
    case ReadyWalk::range:
      return "Range";
  }
  return "?";
}

// Walks the ready set of `ep` the way `how` says, calling `f(fd, flags)`.
template <class F>
void walk_ready(ReadyWalk how, Epoll& ep, F&& f) {
  switch (how) {
    case ReadyWalk::iter_ready:
      ep.iter_ready(f);
      break;
    case ReadyWalk::fold_ready:
      ep.fold_ready(0, [&](int acc, int fd, Flags flags) {
        f(fd, flags);
        return acc + 1;
      });
      break;
    case ReadyWalk::range:
      for (auto [fd, flags] : ep.ready()) f(fd, flags);
      break;
  }
}

// An Epoll watching `n` ready eventfds, after a wait that returned them all.
class ReadySetTest : public ::testing::TestWithParam<ReadyWalk> {
 protected:
  static constexpr int kReady = 4;

  ReadySetTest() {
    for (int i = 0; i < kReady; ++i) {
      fds_.push_back(make_eventfd(1));
      ep_.set(fds_.back().get(), Flags::in);
    }
    EXPECT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
    EXPECT_EQ(ep_.num_ready(), kReady);
  }

  // Expects every event walked to be one the kernel returned: a watched fd,
  // readable.
  void expect_real(int fd, Flags flags) const {
    EXPECT_TRUE(std::any_of(fds_.begin(), fds_.end(), [&](const Fd& f) { return f.get() == fd; })) << fd;
    EXPECT_EQ(flags, Flags::in) << fd;
  }

  std::vector<Fd> fds_;
  Epoll ep_ = make_epoll(64, kReady);
};

TEST_P(ReadySetTest, CloseStopsTheWalk) {
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    ++walked;
    ep_.close();
  });
  EXPECT_EQ(walked, 1);
  EXPECT_TRUE(ep_.is_closed());
  EXPECT_EQ(ep_.num_ready(), 0);
}

TEST_P(ReadySetTest, WaitStopsTheWalkAndLeavesItsOwnReadySet) {
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    ++walked;
    EXPECT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
  });
  EXPECT_EQ(walked, 1);
  EXPECT_EQ(ep_.num_ready(), kReady);
  expect_consistent(ep_);
}

TEST_P(ReadySetTest, PwaitStopsTheWalk) {
  sigset_t mask;
  sigemptyset(&mask);
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    ++walked;
    EXPECT_EQ(ep_.pwait(Timeout::immediately(), mask), WaitResult::ok);
  });
  EXPECT_EQ(walked, 1);
}

TEST_P(ReadySetTest, AWaitThatFindsNothingStopsTheWalkToo) {
  for (const Fd& fd : fds_) drain(fd.get());
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) {
    ++walked;
    EXPECT_EQ(ep_.wait(Timeout::immediately()), WaitResult::timeout);
  });
  EXPECT_EQ(walked, 1);
  EXPECT_EQ(ep_.num_ready(), 0);
}

TEST_P(ReadySetTest, ClearReadyLetsTheWalkGoOn) {
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    ++walked;
    ep_.clear_ready();
  });
  EXPECT_EQ(walked, kReady);
  EXPECT_EQ(ep_.num_ready(), 0);
}

TEST_P(ReadySetTest, TableChangesLetTheWalkGoOnOverTheEventsOfItsWait) {
  std::set<int> walked;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    EXPECT_TRUE(walked.insert(fd).second) << "fd " << fd << " walked twice";
    ep_.remove(fd);
    Fd extra = make_eventfd(1);
    ep_.set(extra.get(), Flags::in + Flags::out);
    ep_.remove(extra.get());
  });
  EXPECT_EQ(walked.size(), static_cast<std::size_t>(kReady));
  EXPECT_EQ(ep_.size(), 0U);
  expect_consistent(ep_);
}

TEST_P(ReadySetTest, MovingTheEpollAwayStopsTheWalk) {
  std::optional<Epoll> moved;
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
    expect_real(fd, flags);
    ++walked;
    moved.emplace(std::move(ep_));
  });
  EXPECT_EQ(walked, 1);
  EXPECT_TRUE(ep_.is_closed());
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->num_ready(), kReady);
  expect_consistent(*moved);
}

TEST_P(ReadySetTest, MoveAssigningIntoTheEpollStopsTheWalk) {
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) {
    ++walked;
    ep_ = make_epoll(8, 1);
  });
  EXPECT_EQ(walked, 1);
  EXPECT_EQ(ep_.size(), 0U);
  EXPECT_EQ(ep_.num_ready(), 0);
}

TEST_P(ReadySetTest, ResizeStopsTheWalk) {
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) {
    ++walked;
    ep_.resize(128, 2 * kReady);
  });
  EXPECT_EQ(walked, 1);
  EXPECT_EQ(ep_.num_ready(), 0);
  EXPECT_EQ(ep_.size(), static_cast<std::size_t>(kReady));
  expect_consistent(ep_);
}

TEST_P(ReadySetTest, NestedWalksEachSeeTheWholeSet) {
  int outer = 0;
  int inner = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) {
    ++outer;
    walk_ready(GetParam(), ep_, [&](int fd, Flags flags) {
      expect_real(fd, flags);
      ++inner;
    });
  });
  EXPECT_EQ(outer, kReady);
  EXPECT_EQ(inner, kReady * kReady);
}

TEST_P(ReadySetTest, AWaitInANestedWalkStopsBothWalks) {
  int outer = 0;
  int inner = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) {
    ++outer;
    walk_ready(GetParam(), ep_, [&](int, Flags) {
      ++inner;
      ep_.wait(Timeout::immediately());
    });
  });
  EXPECT_EQ(outer, 1);
  EXPECT_EQ(inner, 1);
}

TEST_P(ReadySetTest, AThrowingCallbackLeavesNoWalkBehind) {
  EXPECT_THROW(walk_ready(GetParam(), ep_, [&](int, Flags) { throw std::runtime_error("stop"); }),
               std::runtime_error);
  // A later wait must not stop a walk that is gone, and walks still work.
  EXPECT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
  int walked = 0;
  walk_ready(GetParam(), ep_, [&](int, Flags) { ++walked; });
  EXPECT_EQ(walked, kReady);
}

INSTANTIATE_TEST_SUITE_P(Walks, ReadySetTest,
                         ::testing::Values(ReadyWalk::iter_ready, ReadyWalk::fold_ready, ReadyWalk::range),
                         name_of);

// A range kept outside a loop.

TEST(ReadyRangeTest, IsEmptiedByTheNextWaitAndByClose) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Epoll::ReadyRange kept = ep.ready();
  ASSERT_EQ(kept.size(), 1U);
  ep.wait(Timeout::immediately());
  EXPECT_TRUE(kept.empty());
  EXPECT_EQ(kept.begin(), kept.end());

  const Epoll::ReadyRange after_wait = ep.ready();
  ASSERT_EQ(after_wait.size(), 1U);
  ep.close();
  EXPECT_TRUE(after_wait.empty());
  EXPECT_EQ(std::distance(after_wait.begin(), after_wait.end()), 0);
}

TEST(ReadyRangeTest, IsKeptByClearReadyAndTableChanges) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Epoll::ReadyRange kept = ep.ready();
  ep.clear_ready();
  ep.remove(fd.get());
  ASSERT_EQ(kept.size(), 1U);
  EXPECT_EQ(kept[0], (Epoll::ReadyEvent{fd.get(), Flags::in}));
  EXPECT_EQ(ep.num_ready(), 0);
}

TEST(ReadyRangeTest, CopiesAreEmptiedByTheNextWaitToo) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  std::optional<Epoll::ReadyRange> first(ep.ready());
  const Epoll::ReadyRange copy = *first;
  Epoll::ReadyRange assigned = ep.ready();
  assigned = copy;
  first.reset();  // ends before the copies made after it
  ASSERT_EQ(copy.size(), 1U);
  EXPECT_EQ(copy[0], (Epoll::ReadyEvent{fd.get(), Flags::in}));
  ep.wait(Timeout::immediately());
  EXPECT_TRUE(copy.empty());
  EXPECT_TRUE(assigned.empty());
  const std::vector<Epoll::ReadyEvent> events(copy.begin(), copy.end());
  EXPECT_TRUE(events.empty());
}

TEST(ReadyRangeTest, IsEmptiedByMovingTheEpoll) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Epoll::ReadyRange kept = ep.ready();
  Epoll moved = std::move(ep);
  EXPECT_TRUE(kept.empty());
  EXPECT_EQ(moved.num_ready(), 1);
}

TEST(ReadyRangeTest, RangesDestroyedCopiedOrAssignedInACallbackThatWaits) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  std::optional<Epoll::ReadyRange> destroyed(ep.ready());
  Epoll::ReadyRange assigned = ep.ready();
  std::optional<Epoll::ReadyRange> copied;
  ep.iter_ready([&](int, Flags) {
    ep.iter_ready([&](int, Flags) {
      const Epoll::ReadyRange inner = ep.ready();
      copied = inner;
    });
    assigned = ep.ready();
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    destroyed.reset();
  });
  // The range assigned and the copy viewed the wait the callback ended.
  EXPECT_TRUE(assigned.empty());
  EXPECT_TRUE(copied->empty());
  ep.resize(128, 16);
  EXPECT_EQ(std::distance(assigned.begin(), assigned.end()), 0);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Epoll::ReadyRange current = ep.ready();
  EXPECT_EQ(current.size(), 1U);
  for (const auto& range : {assigned, *copied}) {
    EXPECT_EQ(range.size(), 0U);
    EXPECT_EQ(range.begin(), range.end());
  }
}

TEST(ReadyRangeTest, IsEmptiedByMovingIntoTheEpollInACallback) {
  Fd fd = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(fd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Epoll::ReadyRange kept = ep.ready();
  ep.iter_ready([&](int, Flags) { ep = make_epoll(64, 8); });
  Fd other = make_eventfd(1);
  ep.set(other.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_EQ(kept.size(), 0U);
  for (const auto event : kept) ADD_FAILURE() << "fd " << event.fd << " of a ready set gone";
}

TEST(ReadyRangeTest, IteratorsBelongToTheEpollNotToTheRange) {
  Fd a = make_eventfd(1);
  Fd b = make_eventfd(1);
  Epoll ep = make_epoll();
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  std::set<int> seen;
  for (auto it = ep.ready().begin(); it != ep.ready().end(); ++it) seen.insert(it->fd);
  EXPECT_EQ(seen, (std::set<int>{a.get(), b.get()}));
  // clear_ready inside such a loop: it goes on, and still ends.
  int walked = 0;
  for (auto it = ep.ready().begin(); it != ep.ready().end(); ++it) {
    ++walked;
    ep.clear_ready();
  }
  EXPECT_EQ(walked, 2);
  EXPECT_EQ(Epoll::ReadyRange::iterator(), Epoll::ReadyRange::iterator());
}

// Walks of the table.

enum class TableWalk { iter, fold };

std::string table_walk_name(const ::testing::TestParamInfo<TableWalk>& info) {
  return info.param == TableWalk::iter ? "Iter" : "Fold";
}

template <class F>
void walk_table(TableWalk how, const Epoll& ep, F&& f) {
  if (how == TableWalk::iter) {
    ep.iter(f);
  } else {
    ep.fold(0, [&](int fd, Flags flags, int acc) {
      f(fd, flags);
      return acc + 1;
    });
  }
}

class TableSetTest : public ::testing::TestWithParam<TableWalk> {
 protected:
  static constexpr int kFds = 16;

  TableSetTest() {
    for (int i = 0; i < kFds; ++i) {
      fds_.push_back(make_eventfd());
      ep_.set(fds_.back().get(), Flags::in);
    }
  }

  // Walks the table; each fd visited is recorded, and must be in the table
  // with the flags reported, and visited once.
  template <class F>
  std::vector<int> walk(F&& during) {
    std::vector<int> visited;
    walk_table(GetParam(), ep_, [&](int fd, Flags flags) {
      EXPECT_EQ(std::count(visited.begin(), visited.end(), fd), 0) << "fd " << fd << " visited twice";
      visited.push_back(fd);
      if (!ep_.is_closed()) {
        EXPECT_EQ(ep_.find(fd), flags) << "fd " << fd << " visited but not in the table with those flags";
      }
      during(fd);
    });
    return visited;
  }

  std::vector<Fd> fds_;
  Epoll ep_ = make_epoll(256, 8);
};

TEST_P(TableSetTest, RemovingTheVisitedFdVisitsEveryFdOnce) {
  const std::vector<int> visited = walk([&](int fd) { ep_.remove(fd); });
  EXPECT_EQ(visited.size(), static_cast<std::size_t>(kFds));
  EXPECT_EQ(ep_.size(), 0U);
  expect_consistent(ep_);
}

TEST_P(TableSetTest, RemovingFdsNotVisitedYetSkipsThemAndVisitsTheRestOnce) {
  // Each visit removes the fd that comes two after it in `fds_`.
  std::set<int> removed;
  const std::vector<int> visited = walk([&](int fd) {
    for (std::size_t i = 0; i < fds_.size(); ++i) {
      if (fds_[i].get() != fd) continue;
      const int victim = fds_[(i + 2) % fds_.size()].get();
      if (ep_.find(victim)) {
        ep_.remove(victim);
        removed.insert(victim);
      }
    }
  });
  // `walk` checked that each fd visited was in the table then. Every fd is either visited or was removed
  // before its turn.
  std::set<int> seen(visited.begin(), visited.end());
  for (const Fd& fd : fds_) {
    EXPECT_TRUE(seen.count(fd.get()) != 0 || removed.count(fd.get()) != 0) << "fd " << fd.get() << " lost";
  }
  EXPECT_EQ(ep_.size(), fds_.size() - removed.size());
  expect_consistent(ep_);
}

TEST_P(TableSetTest, RemovingEveryOtherFdAtTheFirstVisitLeavesOneVisit) {
  const std::vector<int> visited = walk([&](int fd) {
    for (const Fd& other : fds_) {
      if (other.get() != fd && ep_.find(other.get())) ep_.remove(other.get());
    }
  });
  EXPECT_EQ(visited.size(), 1U);
  EXPECT_EQ(ep_.size(), 1U);
  expect_consistent(ep_);
}

TEST_P(TableSetTest, FdsAddedDuringTheWalkAreNotVisited) {
  std::vector<Fd> added;
  const std::vector<int> visited = walk([&](int) {
    added.push_back(make_eventfd());
    ep_.set(added.back().get(), Flags::out);
  });
  EXPECT_EQ(visited.size(), static_cast<std::size_t>(kFds));
  for (const Fd& fd : added) EXPECT_EQ(std::count(visited.begin(), visited.end(), fd.get()), 0);
  EXPECT_EQ(ep_.size(), static_cast<std::size_t>(2 * kFds));
  expect_consistent(ep_);
}

TEST_P(TableSetTest, NewFlagsOfAnFdNotVisitedYetAreTheOnesReported) {
  // Every visit sets every fd to in+out; each visit checks (in `walk`) that
  // the flags reported are the table's, so all but the first are in+out.
  int in_out = 0;
  walk_table(GetParam(), ep_, [&](int, Flags flags) {
    in_out += flags == Flags::in + Flags::out;
    for (const Fd& fd : fds_) ep_.set(fd.get(), Flags::in + Flags::out);
  });
  EXPECT_EQ(in_out, kFds - 1);
  expect_consistent(ep_);
}

TEST_P(TableSetTest, CloseStopsTheWalk) {
  const std::vector<int> visited = walk([&](int) { ep_.close(); });
  EXPECT_EQ(visited.size(), 1U);
}

TEST_P(TableSetTest, MovingTheEpollAwayStopsTheWalk) {
  std::optional<Epoll> moved;
  const std::vector<int> visited = walk([&](int) {
    if (!moved) moved.emplace(std::move(ep_));
  });
  EXPECT_EQ(visited.size(), 1U);
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->size(), static_cast<std::size_t>(kFds));
  expect_consistent(*moved);
}

TEST_P(TableSetTest, ResizeStopsTheWalk) {
  const std::vector<int> visited = walk([&](int) { ep_.resize(512, 8); });
  EXPECT_EQ(visited.size(), 1U);
  EXPECT_EQ(ep_.size(), static_cast<std::size_t>(kFds));
  expect_consistent(ep_);
}

TEST_P(TableSetTest, RemovingInANestedWalkKeepsBothRight) {
  // The inner walk removes every fd; the outer, which visited one, finds no
  // other left to visit.
  int outer = 0;
  std::vector<int> inner;
  walk_table(GetParam(), ep_, [&](int, Flags) {
    ++outer;
    walk_table(GetParam(), ep_, [&](int fd, Flags) {
      EXPECT_EQ(std::count(inner.begin(), inner.end(), fd), 0) << "fd " << fd << " visited twice";
      inner.push_back(fd);
      ep_.remove(fd);
    });
  });
  EXPECT_EQ(outer, 1);
  EXPECT_EQ(inner.size(), static_cast<std::size_t>(kFds));
  EXPECT_EQ(ep_.size(), 0U);
  expect_consistent(ep_);
}

TEST_P(TableSetTest, AnOuterWalkGoesOnAfterANestedOneRemovedSomeFds) {
  // At its first visit, the outer walk has a nested walk remove half of
  // the fds: the outer then visits each of the others once, and none of
  // the removed ones but the one it visited before.
  std::set<int> removed;
  const std::vector<int> visited = walk([&](int fd) {
    if (!removed.empty()) return;
    int n = 0;
    walk_table(GetParam(), ep_, [&](int other, Flags) {
      if (n++ % 2 == 0 && other != fd) {
        ep_.remove(other);
        removed.insert(other);
      }
    });
  });
  EXPECT_EQ(visited.size() + removed.size(), static_cast<std::size_t>(kFds));
  for (const int fd : visited)
    EXPECT_EQ(removed.count(fd), 0U) << "fd " << fd << " visited after its removal";
  EXPECT_EQ(ep_.size(), kFds - removed.size());
  expect_consistent(ep_);
}

TEST_P(TableSetTest, AnFdRemovedAndAddedAgainDuringTheWalkIsNotVisitedByIt) {
  // The first visit removes every other fd and adds it back (as a
  // connection closed and one accepted on the same number would be): the
  // walk visits none of them again, but a walk begun after sees them all.
  std::vector<int> inner_visits;
  const std::vector<int> visited = walk([&](int fd) {
    if (!inner_visits.empty()) return;
    for (const Fd& other : fds_) {
      if (other.get() == fd) continue;
      ep_.remove(other.get());
      ep_.set(other.get(), Flags::in + Flags::out);
    }
    ep_.iter([&](int inner, Flags flags) {
      inner_visits.push_back(inner);
      EXPECT_EQ(flags, inner == fd ? Flags::in : Flags::in + Flags::out) << "fd " << inner;
    });
  });
  EXPECT_EQ(visited.size(), 1U);
  EXPECT_EQ(inner_visits.size(), static_cast<std::size_t>(kFds));
  EXPECT_EQ(ep_.size(), static_cast<std::size_t>(kFds));
  expect_consistent(ep_);
}

TEST_P(TableSetTest, AWalkLeftByAnExceptionLeavesNothingBehind) {
  EXPECT_THROW(walk([&](int fd) {
                 ep_.remove(fd);
                 ep_.remove(fds_[0].get());
                 throw std::runtime_error("from the callback");
               }),
               std::runtime_error);
  expect_consistent(ep_);  // no entry of a removed fd is left
  int left = 0;
  ep_.iter([&](int, Flags) { ++left; });
  EXPECT_EQ(static_cast<std::size_t>(left), ep_.size());
}

TEST_P(TableSetTest, NestedWalksThatOnlyReadSeeTheWholeTable) {
  int outer = 0;
  int inner = 0;
  walk_table(GetParam(), ep_, [&](int, Flags) {
    ++outer;
    walk_table(GetParam(), ep_, [&](int, Flags) { ++inner; });
  });
  EXPECT_EQ(outer, kFds);
  EXPECT_EQ(inner, kFds * kFds);
}

TEST_P(TableSetTest, WaitingDuringAWalkOfTheTableLetsItGoOn) {
  poke(fds_[0].get());
  const std::vector<int> visited = walk([&](int) { ep_.wait(Timeout::immediately()); });
  EXPECT_EQ(visited.size(), static_cast<std::size_t>(kFds));
  EXPECT_EQ(ep_.num_ready(), 1);
}

INSTANTIATE_TEST_SUITE_P(Walks, TableSetTest, ::testing::Values(TableWalk::iter, TableWalk::fold),
                         table_walk_name);

}  // namespace
}  // namespace linux_ext::test

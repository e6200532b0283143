// Thousands of random operations over pipes, eventfds and socketpairs, with
// invariant() and check_against_kernel() after each, the table compared with
// a plain std::map, and every ready event checked against what the fds can
// report.

#include <algorithm>
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "test_util.h"

namespace linux_ext::test {
namespace {

enum class Kind { eventfd, pipe_read, pipe_write, socket };

struct Slot {
  Kind kind;
  Fd fd;
  std::uint64_t counter = 0;  // an eventfd's count, known because only this test touches it
};

class RandomOps {
 public:
  RandomOps(unsigned seed, int max_ready_events) : rng_(seed), ep_(make_epoll(1024, max_ready_events)) {
    for (int i = 0; i < 6; ++i) slots_.push_back(Slot{Kind::eventfd, make_eventfd()});
    for (int i = 0; i < 3; ++i) {
      Pipe p = make_pipe();
      slots_.push_back(Slot{Kind::pipe_read, std::move(p.read)});
      slots_.push_back(Slot{Kind::pipe_write, std::move(p.write)});
    }
    for (int i = 0; i < 2; ++i) {
      auto [a, b] = make_socketpair();
      slots_.push_back(Slot{Kind::socket, std::move(a)});
      slots_.push_back(Slot{Kind::socket, std::move(b)});
    }
  }

  void run(int steps) {
    for (int step = 0; step < steps && !::testing::Test::HasFatalFailure(); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      one_step();
      check();
      if (::testing::Test::HasFailure()) return;  // the first divergence is the one worth reading
    }
  }

 private:
  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }
  Slot& random_slot() { return slots_[static_cast<std::size_t>(pick(static_cast<int>(slots_.size())))]; }

  Flags random_flags() {
    const Flags pool[] = {Flags::in, Flags::out, Flags::pri, Flags::rdhup, Flags::et, Flags::oneshot, Flags::wakeup};
    Flags flags;
    for (const Flags f : pool) {
      if (chance(f == Flags::in || f == Flags::out ? 50 : 15)) flags |= f;
    }
    if (chance(8)) flags |= Flags::exclusive;
    return flags;
  }

  // The errno the kernel or the library must give `set(fd, flags)`, or 0.
  int expected_set_error(int fd, Flags flags) const {
    const auto it = model_.find(fd);
    if (it != model_.end()) {
      // exclusive only on ADD; an exclusive entry cannot be modified.
      if (flags.do_intersect(Flags::exclusive) || it->second.do_intersect(Flags::exclusive)) return EINVAL;
      return 0;
    }
    // The kernel takes exclusive only with in, out, err, hup, wakeup, et.
    if (flags.do_intersect(Flags::exclusive) && flags.do_intersect(Flags::pri + Flags::rdhup + Flags::oneshot)) {
      return EINVAL;
    }
    return 0;
  }

  void do_set(int fd, Flags flags) {
    const int expected = expected_set_error(fd, flags);
    const int actual = errno_thrown([&] { ep_.set(fd, flags); });
    EXPECT_EQ(actual, expected) << "set(" << fd << ", " << flags << ") on " << ep_;
    if (actual == 0) model_[fd] = flags;
  }

  void do_remove(int fd) {
    EXPECT_EQ(errno_thrown([&] { ep_.remove(fd); }), 0);
    model_.erase(fd);
  }

  void poke_slot(Slot& slot) {
    const std::uint64_t one = 1;
    if (::write(slot.fd.get(), &one, sizeof one) == static_cast<ssize_t>(sizeof one) && slot.kind == Kind::eventfd) {
      ++slot.counter;
    }
  }

  void drain_slot(Slot& slot) {
    drain(slot.fd.get());
    slot.counter = 0;
  }

  const Slot* slot_of(int fd) const {
    for (const Slot& s : slots_) {
      if (s.fd.get() == fd) return &s;
    }
    return nullptr;
  }

  // What an eventfd watched for `watched` is ready for: out always, in
  // while its count is positive.
  static Flags eventfd_readiness(const Slot& slot, Flags watched) {
    Flags ready = Flags::out;
    if (slot.counter > 0) ready |= Flags::in;
    return ready & watched;
  }

  void do_wait() {
    const std::map<int, Flags> table = model_;
    const WaitResult result = ep_.wait(Timeout::immediately());
    EXPECT_EQ(result == WaitResult::ok, ep_.num_ready() > 0);
    EXPECT_LE(ep_.num_ready(), ep_.max_ready_events());
    std::vector<int> reported;
    ep_.iter_ready([&](int fd, Flags flags) {
      reported.push_back(fd);
      const auto it = table.find(fd);
      ASSERT_NE(it, table.end()) << "fd " << fd << " reported but not in the set";
      const Flags asked = it->second & (Flags::in + Flags::out + Flags::pri + Flags::rdhup);
      EXPECT_TRUE(flags.is_subset(asked + Flags::err + Flags::hup)) << "fd " << fd << " reported " << flags;
      EXPECT_FALSE(flags.is_empty()) << "fd " << fd;
      if (const Slot* s = slot_of(fd); s != nullptr && s->kind == Kind::eventfd) {
        EXPECT_EQ(flags, eventfd_readiness(*s, it->second)) << "eventfd " << fd << " count " << s->counter;
      }
    });
    std::sort(reported.begin(), reported.end());
    EXPECT_EQ(std::adjacent_find(reported.begin(), reported.end()), reported.end()) << "an fd reported twice";
    // With room to spare, every level-triggered eventfd that is ready is
    // reported.
    if (ep_.num_ready() < ep_.max_ready_events()) {
      for (const auto& [fd, flags] : table) {
        const Slot* s = slot_of(fd);
        if (s == nullptr || s->kind != Kind::eventfd || flags.do_intersect(Flags::et + Flags::oneshot)) continue;
        if (eventfd_readiness(*s, flags).is_empty()) continue;
        EXPECT_TRUE(std::binary_search(reported.begin(), reported.end(), fd)) << "ready eventfd " << fd << " missed";
      }
    }
  }

  // Changes the table while walking the ready set; the walk must be the
  // one from before.
  void walk_while_changing() {
    const std::vector<std::pair<int, Flags>> before = ready_of(ep_);
    std::vector<std::pair<int, Flags>> walked;
    ep_.iter_ready([&](int fd, Flags flags) {
      walked.emplace_back(fd, flags);
      Slot& s = random_slot();
      if (chance(50)) {
        do_remove(s.fd.get());
      } else {
        do_set(s.fd.get(), random_flags());
      }
    });
    EXPECT_EQ(walked, before);
  }

  // Closes an fd that is still in the set (a user's mistake that
  // check_against_kernel must catch), cleans up, and opens a new one.
  void close_while_in_set() {
    if (model_.empty()) return;
    auto it = model_.begin();
    std::advance(it, pick(static_cast<int>(model_.size())));
    const int fd = it->first;
    Slot* slot = nullptr;
    for (Slot& s : slots_) {
      if (s.fd.get() == fd) slot = &s;
    }
    if (slot == nullptr || slot->kind != Kind::eventfd) return;  // eventfds can be replaced alone
    slot->fd.reset();
    EXPECT_THROW(ep_.check_against_kernel(), std::logic_error) << "fd " << fd << " closed while in the set";
    EXPECT_EQ(errno_thrown([&] { ep_.remove(fd); }), EBADF);
    model_.erase(fd);
    slot->fd = make_eventfd();
    slot->counter = 0;
  }

  void one_step() {
    Slot& slot = random_slot();
    const int fd = slot.fd.get();
    const int op = pick(100);
    if (op < 35) {
      do_set(fd, random_flags());
    } else if (op < 50) {
      do_remove(fd);
    } else if (op < 60) {
      poke_slot(slot);
    } else if (op < 67) {
      drain_slot(slot);
    } else if (op < 85) {
      do_wait();
    } else if (op < 90) {
      walk_while_changing();
    } else if (op < 92) {
      ep_.clear_ready();
      EXPECT_EQ(ep_.num_ready(), 0);
    } else if (op < 93) {
      close_while_in_set();
    } else {
      const int probe = pick(64);
      const auto it = model_.find(probe);
      EXPECT_EQ(ep_.find(probe), it == model_.end() ? std::nullopt : std::optional<Flags>(it->second));
    }
  }

  void check() {
    EXPECT_NO_THROW(ep_.invariant());
    EXPECT_NO_THROW(ep_.check_against_kernel());
    EXPECT_EQ(ep_.size(), model_.size());
    const std::vector<std::pair<int, Flags>> expected(model_.begin(), model_.end());
    EXPECT_EQ(table_of(ep_), expected);
  }

  std::mt19937 rng_;
  std::vector<Slot> slots_;
  Epoll ep_;
  std::map<int, Flags> model_;
};

// The seed can be changed from the environment to explore other sequences.
unsigned base_seed() {
  const char* env = std::getenv("LINUX_EXT_RANDOM_SEED");
  return env != nullptr ? static_cast<unsigned>(std::strtoul(env, nullptr, 10)) : 12345U;
}

TEST(RandomOpsTest, TableKernelAndModelAgreeThroughout) {
  // A small max_ready_events makes the cap matter; a large one lets every
  // ready level-triggered eventfd be checked for.
  for (const int max_ready_events : {3, 64}) {
    for (unsigned i = 0; i < 2; ++i) {
      const unsigned seed = base_seed() + i * 7919U + static_cast<unsigned>(max_ready_events);
      SCOPED_TRACE("seed " + std::to_string(seed) + ", max_ready_events " + std::to_string(max_ready_events));
      RandomOps ops(seed, max_ready_events);
      ops.run(2500);
      if (HasFailure()) return;
    }
  }
}

}  // namespace
}  // namespace linux_ext::test

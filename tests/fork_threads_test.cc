// Fork amid threads: while worker threads create, move, use and destroy sets
// of their own, the test's thread forks again and again. Each child finds
// the sets made before the fork inherited, takes one over with after_fork,
// makes one of its own, and reports through its exit code; after each child
// the parent's sets must be as they were, in the table and in the kernel.
//
// A child learns it is one from a process-wide fork generation, bumped by a
// pthread_atfork handler and read by every set, remove and wait of every
// thread; no lock guards create, moves or destruction. `make test-tsan` runs
// this under ThreadSanitizer, where a data race on any of it fails the run.
//
// After a fork in a multithreaded process the child may strictly call only
// async-signal-safe functions, and a lock another thread held at the fork
// stays held. The library's own operations are what is tested, so the child
// does little else: no gtest assertion, no stdio.

#include <sys/eventfd.h>

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// Forks per run, unless FORKS says otherwise (more, for a longer soak).
constexpr long kForks = 100;
// Threads that churn sets while the test forks: more than the two cores CI
// has, so that forks land in the middle of their operations.
constexpr int kWorkers = 3;
// Small sets: the work is in making, moving and dropping them.
constexpr int kDomain = 64;
constexpr int kMaxReady = 4;

// Ends the program with a message when it is still running after `limit`:
// a deadlock in the parent (a worker stuck on a lock) must fail the run,
// not hang it. Hung children are killed by `in_child` itself.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mutex_);
          if (!dismissed_cv_.wait_for(lock, limit, [this] { return dismissed_; })) {
            std::fprintf(stderr, "watchdog: the test still runs after %lld s\n",
                         static_cast<long long>(limit.count()));
            std::abort();
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      dismissed_ = true;
    }
    dismissed_cv_.notify_one();
    thread_.join();
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable dismissed_cv_;
  bool dismissed_ = false;
  std::thread thread_;  // last: it starts once the members it uses exist
};

// A set passed from worker to worker: each trade swaps the caller's set with
// the one the previous trader left, so that a set made in one thread is
// used, moved and destroyed in another.
class Mailbox {
 public:
  Mailbox() : held_(make_epoll(kDomain, kMaxReady)) {}

  void trade(Epoll& ep) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::swap(ep, held_);
  }

 private:
  std::mutex mutex_;
  Epoll held_;
};

// One round of a worker on its own pipe: a set is created, moved into a new
// object, moved again over another open set (which that closes), traded for
// a set another worker left, and used with set, wait and remove at each
// step; every set of the round is destroyed at its end.
void churn(Mailbox& mailbox, const Pipe& pipe) {
  const int fd = pipe.read.get();
  Epoll made = make_epoll(kDomain, kMaxReady);
  made.set(fd, Flags::in);
  poke(pipe.write.get());
  Epoll moved(std::move(made));
  EXPECT_EQ(moved.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(moved, {{fd, Flags::in}});
  drain(fd);
  moved.remove(fd);
  Epoll assigned = make_epoll(kDomain, kMaxReady);
  assigned = std::move(moved);
  mailbox.trade(assigned);
  EXPECT_EQ(assigned.size(), 0U) << "a traded set holds what its last user removed";
  assigned.set(fd, Flags::in + Flags::et);
  EXPECT_EQ(assigned.wait(Timeout::immediately()), WaitResult::timeout);  // the pipe was drained
  assigned.remove(fd);
  expect_consistent(assigned);
}

// Threads making rounds of `churn` until destroyed; the destructor stops and
// joins them, so that an assertion that ends the test early leaves none
// running.
class Workers {
 public:
  Workers(int count, Mailbox& mailbox) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this, &mailbox] { run(mailbox); });
  }
  ~Workers() {
    stop_ = true;
    for (std::thread& thread : threads_) thread.join();
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // The rounds all workers have finished so far.
  long rounds() const { return rounds_.load(); }

 private:
  void run(Mailbox& mailbox) {
    try {
      const Pipe pipe = make_pipe();
      while (!stop_) {
        churn(mailbox, pipe);
        ++rounds_;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "worker: " << e.what();
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<long> rounds_{0};
  std::vector<std::thread> threads_;  // last: they start once the counters exist
};

// Whether `text` holds the decimal `pid`. Formats without allocating: the
// child's own work stays async-signal-safe.
bool names(const char* text, pid_t pid) {
  char digits[16] = {};
  std::to_chars(digits, digits + sizeof digits - 1, pid);
  return std::strstr(text, digits) != nullptr;
}

// Whether `operation()` throws `std::logic_error` naming both `parent` and
// this process, as set, remove and wait on a set inherited through fork must.
template <class F>
bool refused_naming_both(F&& operation, pid_t parent) {
  try {
    operation();
  } catch (const std::logic_error& e) {
    return names(e.what(), parent) && names(e.what(), ::getpid());
  }
  return false;
}

// What a child checks, in order: 0 when all holds, else the number of the
// first check that failed. `kept` and `taken` are the parent's sets,
// watching `kept_fd` and `taken_fd`.
int check_child(Epoll& kept, Epoll& taken, int kept_fd, int taken_fd, pid_t parent) {
  // Both sets still name the parent's instance: no change, no wait.
  if (!refused_naming_both([&] { kept.set(kept_fd, Flags::in + Flags::out); }, parent)) return 1;
  if (!refused_naming_both([&] { kept.remove(kept_fd); }, parent)) return 2;
  if (!refused_naming_both([&] { kept.wait(Timeout::immediately()); }, parent)) return 3;
  if (!refused_naming_both([&] { taken.remove(taken_fd); }, parent)) return 4;

  // after_fork gives `taken` an instance of its own holding its table; what
  // the child does with it must not reach the parent's (checked there).
  const int parent_epoll_fd = taken.fd();
  taken.after_fork();
  if (taken.fd() == parent_epoll_fd || taken.size() != 1 || taken.num_ready() != 0) return 5;
  const Fd own(::eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC));  // readable from the start
  if (own.get() < 0) return 6;
  taken.set(own.get(), Flags::in);
  taken.remove(taken_fd);
  if (taken.wait(Timeout::immediately()) != WaitResult::ok || taken.num_ready() != 1) return 7;
  taken.check_against_kernel();
  // Taking over one set leaves the others the parent's.
  if (!refused_naming_both([&] { kept.wait(Timeout::immediately()); }, parent)) return 8;

  // A set made in the child is its own from the start.
  OrError<Epoll> made = Epoll::create(kDomain, kMaxReady);
  if (!made) return 9;
  made->set(own.get(), Flags::in);
  if (made->wait(Timeout::immediately()) != WaitResult::ok || made->num_ready() != 1) return 10;
  made->remove(own.get());
  return 0;
}

// Whether AddressSanitizer's allocator serves malloc: GCC 12's does not
// take its locks around fork(2), so a child forked while another thread
// allocates waits for that thread's lock for good (glibc's malloc, and
// ThreadSanitizer's, hand their locks over to the child).
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAsanAllocator = true;
#elif defined(__has_feature)
constexpr bool kAsanAllocator = __has_feature(address_sanitizer);
#else
constexpr bool kAsanAllocator = false;
#endif

TEST(ForkThreadsTest, EveryChildOfAForkAmidThreadsFindsTheParentsSetsInheritedAndLeavesThemAlone) {
  if (kAsanAllocator) {
    GTEST_SKIP() << "a child of a fork amid threads can hang in AddressSanitizer's malloc; this test runs "
                    "natively and under ThreadSanitizer (make test-tsan)";
  }
  const long forks = env_or("FORKS", kForks);
  const Watchdog watchdog(std::chrono::minutes(5));
  const pid_t parent = ::getpid();
  Pipe kept_pipe = make_pipe();
  Pipe taken_pipe = make_pipe();
  Epoll kept = make_epoll(kDomain, kMaxReady);
  kept.set(kept_pipe.read.get(), Flags::in);
  poke(kept_pipe.write.get());
  ASSERT_EQ(kept.wait(Timeout::immediately()), WaitResult::ok);  // a ready set, for children to leave
  Epoll taken = make_epoll(kDomain, kMaxReady);
  taken.set(taken_pipe.read.get(), Flags::in + Flags::et);
  const Snapshot kept_before(kept);
  const Snapshot taken_before(taken);

  Mailbox mailbox;
  const Workers workers(kWorkers, mailbox);
  // The workers under way before the first fork.
  while (workers.rounds() < kWorkers) std::this_thread::yield();
  const long rounds_before = workers.rounds();
  for (long i = 0; i < forks; ++i) {
    const int code = in_child(
        [&] { return check_child(kept, taken, kept_pipe.read.get(), taken_pipe.read.get(), parent); });
    ASSERT_EQ(code, 0) << "fork " << i << ": the number of the check_child check that failed (-1: no exit)";
    ASSERT_EQ(Snapshot(kept), kept_before) << "fork " << i;
    ASSERT_EQ(Snapshot(taken), taken_before) << "fork " << i;
    ASSERT_NO_THROW(kept.check_against_kernel()) << "fork " << i;
    ASSERT_NO_THROW(taken.check_against_kernel()) << "fork " << i;
  }
  const long rounds_during = workers.rounds() - rounds_before;
  EXPECT_GT(rounds_during, 0) << "the workers made no round while the test forked";
  std::printf("fork_threads_test: %ld forks while %d workers made %ld rounds\n", forks, kWorkers,
              rounds_during);
}

}  // namespace
}  // namespace linux_ext::test

// wakeup: another thread wakes a loop that waits in `Epoll::wait`.
//
// An eventfd sits in the set. A worker thread puts a result in a queue and
// writes 1 to the eventfd; the loop wakes, reads the eventfd (which resets
// its counter however many writes came) and empties the queue. Several
// writes between two waits wake the loop once: the queue, not the number of
// wake-ups, says how much work arrived.

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;

namespace {

constexpr const char* kUsage =
    "usage: wakeup [--jobs N]\n"
    "  the worker computes N squares (default 5)\n";

// Results handed from the worker to the loop.
class Mailbox {
 public:
  Mailbox() : wake_fd_(static_cast<int>(example::check(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd"))) {}
  ~Mailbox() { close(wake_fd_); }

  int wake_fd() const { return wake_fd_; }

  // Called by the worker: queue the result, then wake the loop.
  void post(long result) {
    {
      std::lock_guard lock(mutex_);
      results_.push_back(result);
    }
    const std::uint64_t one = 1;
    example::check(write(wake_fd_, &one, sizeof one), "write eventfd");
  }

  // Called by the loop once woken: reset the eventfd, then take everything.
  std::deque<long> take() {
    std::uint64_t count = 0;
    (void)!read(wake_fd_, &count, sizeof count);
    std::lock_guard lock(mutex_);
    return std::exchange(results_, {});
  }

 private:
  int wake_fd_;
  std::mutex mutex_;
  std::deque<long> results_;
};

}  // namespace

int main(int argc, char** argv) {
  int jobs = 5;
  example::parse_options(argc, argv, kUsage, {{"--jobs", jobs}});
  Mailbox mailbox;
  auto ep = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
  ep.set(mailbox.wake_fd(), Epoll::Flags::in);

  std::thread worker([&] {
    for (long i = 1; i <= jobs; ++i) mailbox.post(i * i);
  });

  int received = 0;
  int wakeups = 0;
  while (received < jobs) {
    ep.wait(Epoll::Timeout::never());
    ++wakeups;
    for (auto [fd, flags] : ep.ready()) {
      if (fd != mailbox.wake_fd()) continue;
      for (long result : mailbox.take()) std::printf("result %d: %ld\n", ++received, result);
    }
  }
  worker.join();
  ep.remove(mailbox.wake_fd());  // before the Mailbox closes it
  std::printf("received %d results in %d wake-ups\n", received, wakeups);
  return 0;
}

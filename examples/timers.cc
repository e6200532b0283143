// timers: timers of any precision in one loop, as Async does it.
//
// Each timer is a timerfd in the Epoll set, watched edge-triggered
// (`Flags::in + Flags::et`): the kernel reports a timer once per batch of
// expirations, and a read returns how many there were, so a loop that falls
// behind loses no tick and is never woken twice for the same ones. Precision
// is the timerfd's, not the wait's: the loop itself waits with
// `Timeout::never()`, and a 250 µs timer runs beside a 20 ms one.

#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;
using namespace std::chrono_literals;

namespace {

constexpr const char* kUsage =
    "usage: timers [--ticks N]\n"
    "  run until the slowest timer fired N times (default 5)\n";

struct Timer {
  std::string name;
  std::chrono::nanoseconds period;
  int fd = -1;
  std::uint64_t fired = 0;
};

// Arms a periodic CLOCK_MONOTONIC timer whose first expiry is one period away.
int start_timer(std::chrono::nanoseconds period) {
  const int fd = static_cast<int>(
      example::check(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC), "timerfd_create"));
  const timespec ts{static_cast<time_t>(period / 1s), static_cast<long>((period % 1s).count())};
  const itimerspec spec{ts, ts};
  example::check(timerfd_settime(fd, 0, &spec, nullptr), "timerfd_settime");
  return fd;
}

// Adds the expirations the timer holds. Edge-triggered means this must drain
// the fd: the kernel reports it again only after it was read and fired anew.
void collect(Timer& timer) {
  std::uint64_t expirations = 0;
  while (read(timer.fd, &expirations, sizeof expirations) == sizeof expirations) timer.fired += expirations;
}

}  // namespace

int main(int argc, char** argv) {
  int ticks = 5;
  example::parse_options(argc, argv, kUsage, {{"--ticks", ticks}});
  std::vector<Timer> timers{{"250us", 250us}, {"4ms", 4ms}, {"20ms", 20ms}};
  Timer& slowest = timers.back();

  auto ep = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
  for (Timer& timer : timers) {
    timer.fd = start_timer(timer.period);
    ep.set(timer.fd, Epoll::Flags::in + Epoll::Flags::et);
  }
  std::printf("watching %s\n", ep.to_sexp().c_str());

  while (slowest.fired < static_cast<std::uint64_t>(ticks)) {
    if (ep.wait(Epoll::Timeout::never()) != Epoll::WaitResult::ok) continue;
    for (auto [fd, flags] : ep.ready()) {
      for (Timer& timer : timers) {
        if (timer.fd == fd) collect(timer);
      }
    }
  }

  // Count what fired since the last wait too, so the totals cover the same
  // span for every timer and can be compared.
  for (Timer& timer : timers) {
    collect(timer);
    std::printf("timer %s fired %llu times\n", timer.name.c_str(),
                static_cast<unsigned long long>(timer.fired));
  }
  bool ordered = true;
  for (std::size_t i = 1; i < timers.size(); ++i) ordered = ordered && timers[i - 1].fired >= timers[i].fired;
  for (Timer& timer : timers) {
    ep.remove(timer.fd);
    close(timer.fd);
  }
  if (!ordered) {
    std::printf("FAIL: a faster timer fired less often than a slower one\n");
    return 1;
  }
  std::printf("ok: the %s timer fired at least %d times and each faster timer at least as often\n",
              slowest.name.c_str(), ticks);
  return 0;
}

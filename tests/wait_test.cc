// wait and pwait: timeouts (rounding up, never early, clamped), signals,
// level-triggered, edge-triggered and one-shot behaviour, err/hup, and more
// ready fds than max_ready_events.
//
// Only lower bounds on time are asserted: these machines are shared and a
// wait may always return late.

#include <pthread.h>
#include <sys/time.h>

#include <climits>
#include <limits>
#include <set>
#include <thread>

#include "test_util.h"

namespace linux_ext::test {
namespace {

using std::chrono::nanoseconds;

// Pokes `fd` from another thread after `delay`, with every signal blocked
// there so that signals meant for the waiting thread reach it.
class DelayedPoke {
 public:
  DelayedPoke(int fd, nanoseconds delay)
      : thread_([fd, delay] {
          sigset_t all;
          sigfillset(&all);
          pthread_sigmask(SIG_BLOCK, &all, nullptr);
          std::this_thread::sleep_for(delay);
          poke(fd);
        }) {}
  ~DelayedPoke() { thread_.join(); }

 private:
  std::thread thread_;
};

// Sends SIGALRM to this process every `interval` until destroyed.
class AlarmTimer {
 public:
  explicit AlarmTimer(std::chrono::microseconds interval) {
    const timeval tv{static_cast<time_t>(interval.count() / 1000000),
                     static_cast<suseconds_t>(interval.count() % 1000000)};
    const itimerval timer{tv, tv};
    check_sys(::setitimer(ITIMER_REAL, &timer, nullptr), "setitimer");
  }
  ~AlarmTimer() {
    const itimerval off{};
    ::setitimer(ITIMER_REAL, &off, nullptr);
  }
};

TEST(WaitTest, ImmediatelyPollsAndNeverBlocksUntilReady) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  EXPECT_EQ(ep.num_ready(), 0);
  poke(efd.get());
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
  EXPECT_EQ(ep.wait(Timeout::never()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
}

TEST(WaitTest, NeverWaitsForAnEventFromAnotherThread) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  // Timed from before the poking thread starts, so the event cannot come
  // sooner than 30 ms into it.
  const nanoseconds elapsed = time_of([&] {
    DelayedPoke poker(efd.get(), 30ms);
    EXPECT_EQ(ep.wait(Timeout::never()), WaitResult::ok);
  });
  EXPECT_GE(elapsed, 30ms);
  expect_ready(ep, {{efd.get(), Flags::in}});
}

TEST(WaitTest, NonPositiveSpansPoll) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  for (const nanoseconds span :
       {nanoseconds(0), nanoseconds(-1), nanoseconds(-3600'000'000'000LL), nanoseconds::min()}) {
    EXPECT_EQ(ep.wait(Timeout::after(span)), WaitResult::timeout);
    EXPECT_EQ(ep.wait(Timeout::after_precise(span)), WaitResult::timeout);
    EXPECT_EQ(ep.wait_timeout_after(span), WaitResult::timeout);
  }
  poke(efd.get());
  EXPECT_EQ(ep.wait(Timeout::after(nanoseconds(-1))), WaitResult::ok);
}

TEST(WaitTest, AfterRoundsUpToWholeMilliseconds) {
  Epoll ep = make_epoll();
  // Each span, and the least it must wait once rounded up. Named fields, not
  // a structured binding: clang before 16 cannot capture a binding in a lambda.
  struct Case {
    nanoseconds span;
    nanoseconds at_least;
  };
  const Case cases[] = {
      {1us, 1ms}, {1ns, 1ms}, {999us, 1ms}, {1200us, 2ms}, {1ms + 1ns, 2ms}, {2001us, 3ms},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.span.count());
    nanoseconds elapsed{};
    elapsed = time_of([&] { EXPECT_EQ(ep.wait(Timeout::after(c.span)), WaitResult::timeout); });
    EXPECT_GE(elapsed, c.at_least);
    elapsed = time_of([&] { EXPECT_EQ(ep.wait_timeout_after(c.span), WaitResult::timeout); });
    EXPECT_GE(elapsed, c.at_least);
  }
}

TEST(WaitTest, TimedWaitsNeverReturnEarly) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);  // watched, never ready
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  for (int round = 0; round < 3; ++round) {
    for (const nanoseconds span : {nanoseconds(1), nanoseconds(50'000), nanoseconds(100'000),
                                   nanoseconds(500'000), nanoseconds(999'999), nanoseconds(1'000'000),
                                   nanoseconds(1'500'000), nanoseconds(3'000'001), nanoseconds(7'300'000)}) {
      SCOPED_TRACE(span.count());
      for (const Timeout timeout : {Timeout::after(span), Timeout::after_precise(span)}) {
        EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(timeout), WaitResult::timeout); }), span);
        EXPECT_GE(time_of([&] { EXPECT_EQ(ep.pwait(timeout, mask), WaitResult::timeout); }), span);
      }
    }
  }
}

TEST(WaitTest, AfterPreciseHonoursTheSpan) {
  // Where the kernel has epoll_pwait2 the span is kept to the nanosecond;
  // either way it is a lower bound.
  Epoll ep = make_epoll();
  for (const nanoseconds span : {nanoseconds(200'000), nanoseconds(1'500'000), nanoseconds(4'000'000)}) {
    EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(Timeout::after_precise(span)), WaitResult::timeout); }), span);
  }
}

TEST(WaitTest, HugeSpansAreClampedNotWrapped) {
  // A wrapped span would be short (or zero) and return timeout long before
  // the event that another thread makes after 40 ms; a clamped one waits.
  const nanoseconds spans[] = {
      std::chrono::hours(5),
      std::chrono::hours(24 * 365 * 100),
      std::chrono::milliseconds((1LL << 32) + 1),  // the low 32 bits are 1 ms
      std::chrono::milliseconds(INT_MAX) + 1ms,
      nanoseconds::max(),
  };
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  for (const nanoseconds span : spans) {
    SCOPED_TRACE(span.count());
    for (const Timeout timeout : {Timeout::after(span), Timeout::after_precise(span)}) {
      {
        DelayedPoke poker(efd.get(), 40ms);
        EXPECT_EQ(ep.wait(timeout), WaitResult::ok);
      }
      drain(efd.get());
    }
    // With an fd already ready it returns at once with it.
    poke(efd.get());
    EXPECT_EQ(ep.wait_timeout_after(span), WaitResult::ok);
    expect_ready(ep, {{efd.get(), Flags::in}});
    drain(efd.get());
  }
}

// Spans of any std::chrono::duration too long for nanoseconds are the
// longest span: they neither wrap to a short one (and spin) nor end early.
TEST(WaitTest, SpansTooLongForNanosecondsWaitAsLongAsTheLongest) {
  using std::chrono::duration;
  const double inf = std::numeric_limits<double>::infinity();
  const Timeout timeouts[] = {
      Timeout::after(std::chrono::seconds::max()),
      Timeout::after(std::chrono::hours::max()),
      Timeout::after(duration<double>(inf)),
      Timeout::after(duration<long double, std::ratio<86400>>(1e300L)),
      Timeout::after(duration<unsigned long long, std::milli>(~0ULL)),
      Timeout::after_precise(std::chrono::seconds::max()),
      Timeout::after_precise(duration<double>(inf)),
  };
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  for (const Timeout timeout : timeouts) {
    {
      DelayedPoke poker(efd.get(), 30ms);
      EXPECT_EQ(ep.wait(timeout), WaitResult::ok);
    }
    drain(efd.get());
  }
  poke(efd.get());
  EXPECT_EQ(ep.wait_timeout_after(std::chrono::minutes::max()), WaitResult::ok);
  EXPECT_EQ(ep.wait_timeout_after(duration<float>(inf)), WaitResult::ok);
}

// A positive span shorter than a nanosecond, or than a millisecond, in any
// type, is a wait of at least a millisecond with `after`.
TEST(WaitTest, FractionsOfAnyTypeRoundUp) {
  using std::chrono::duration;
  Epoll ep = make_epoll();
  for (const Timeout timeout :
       {Timeout::after(duration<double, std::nano>(0.25)), Timeout::after(duration<long long, std::pico>(1)),
        Timeout::after(duration<float, std::micro>(999.5F))}) {
    EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(timeout), WaitResult::timeout); }), 1ms);
  }
}

// The conversion is a constant expression, which a signed overflow on the
// way could not be: proof that it saturates before it multiplies.
static_assert((Timeout::after(std::chrono::seconds::max()), true));
static_assert((Timeout::after(std::chrono::hours::max()), true));
static_assert((Timeout::after_precise(std::chrono::duration<long long, std::ratio<3, 7>>::max()), true));
static_assert((Timeout::after(std::chrono::duration<long long, std::pico>::min()), true));

TEST(WaitTest, SignalsDuringWaitAreRetriedWithTheTimeLeft) {
  CountingSignalHandler handler(SIGALRM);
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  for (const Timeout timeout : {Timeout::after(200ms), Timeout::after_precise(200ms)}) {
    const int signals_before = handler.count();
    nanoseconds elapsed{};
    {
      AlarmTimer alarm(30ms);
      elapsed = time_of([&] { EXPECT_EQ(ep.wait(timeout), WaitResult::timeout); });
    }
    EXPECT_GE(elapsed, 200ms);
    EXPECT_GE(handler.count() - signals_before, 1) << "no signal arrived during the wait";
    EXPECT_EQ(ep.num_ready(), 0);
  }
}

TEST(WaitTest, SignalsDuringAnEndlessWaitAreRetried) {
  CountingSignalHandler handler(SIGALRM);
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  {
    AlarmTimer alarm(20ms);
    DelayedPoke poker(efd.get(), 150ms);
    EXPECT_EQ(ep.wait(Timeout::never()), WaitResult::ok);
  }
  EXPECT_GE(handler.count(), 1);
  expect_ready(ep, {{efd.get(), Flags::in}});
}

// Blocks `signal` in this thread for the lifetime of the object.
class BlockedSignal {
 public:
  explicit BlockedSignal(int signal) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signal);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~BlockedSignal() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  // The mask before this object, in which the signal may be unblocked.
  const sigset_t& old_mask() const { return old_; }

 private:
  sigset_t old_;
};

TEST(PwaitTest, APendingSignalTheMaskUnblocksInterrupts) {
  CountingSignalHandler handler(SIGUSR1);
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  sigset_t unblocked;
  sigemptyset(&unblocked);
  for (const Timeout timeout : {Timeout::never(), Timeout::after(5s), Timeout::after_precise(5s)}) {
    // A ready set from an earlier wait, which interrupted must empty.
    poke(efd.get());
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    drain(efd.get());
    const int before = handler.count();
    BlockedSignal blocked(SIGUSR1);
    ::raise(SIGUSR1);  // pending until pwait unblocks it
    EXPECT_EQ(handler.count(), before);
    EXPECT_EQ(ep.pwait(timeout, unblocked), WaitResult::interrupted);
    EXPECT_EQ(handler.count(), before + 1);
    EXPECT_EQ(ep.num_ready(), 0);
    EXPECT_TRUE(ep.ready().empty());
  }
}

TEST(PwaitTest, ASignalArrivingDuringTheWaitInterrupts) {
  CountingSignalHandler handler(SIGALRM);
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  sigset_t unblocked;
  sigemptyset(&unblocked);
  BlockedSignal blocked(SIGALRM);  // outside pwait the alarm waits
  AlarmTimer alarm(20ms);
  EXPECT_EQ(ep.pwait(Timeout::never(), unblocked), WaitResult::interrupted);
  EXPECT_GE(handler.count(), 1);
  EXPECT_EQ(ep.num_ready(), 0);
}

TEST(PwaitTest, TheMaskIsInstalledDuringTheWait) {
  // A pending signal that the mask blocks does not interrupt.
  CountingSignalHandler handler(SIGUSR1);
  Epoll ep = make_epoll();
  sigset_t blocking;
  sigemptyset(&blocking);
  sigaddset(&blocking, SIGUSR1);
  {
    BlockedSignal blocked(SIGUSR1);
    ::raise(SIGUSR1);
    for (const Timeout timeout : {Timeout::after(20ms), Timeout::after_precise(20ms)}) {
      EXPECT_EQ(ep.pwait(timeout, blocking), WaitResult::timeout);
    }
    EXPECT_EQ(handler.count(), 0);
  }
  EXPECT_EQ(handler.count(), 1);  // delivered once unblocked
}

TEST(PwaitTest, ReportsReadyFdsLikeWait) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd(1);
  ep.set(efd.get(), Flags::in);
  sigset_t mask;
  sigemptyset(&mask);
  for (const Timeout timeout :
       {Timeout::never(), Timeout::immediately(), Timeout::after(1s), Timeout::after_precise(1s)}) {
    EXPECT_EQ(ep.pwait(timeout, mask), WaitResult::ok);
    expect_ready(ep, {{efd.get(), Flags::in}});
  }
}

TEST(TriggerTest, LevelTriggeredStaysReadyUntilDrained) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  poke(efd.get());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    expect_ready(ep, {{efd.get(), Flags::in}});
  }
  drain(efd.get());
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
}

TEST(TriggerTest, EdgeTriggeredReportsEachEdgeOnce) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in + Flags::et);
  poke(efd.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);  // still readable, no new edge
  poke(efd.get());
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  // set with the same et flags re-arms: the kernel looks again.
  ep.set(efd.get(), Flags::in + Flags::et);
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
}

TEST(TriggerTest, OneshotReportsOnceUntilSetAgain) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in + Flags::oneshot);
  poke(efd.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  poke(efd.get());
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);  // disarmed
  EXPECT_EQ(ep.find(efd.get()), Flags::in + Flags::oneshot);        // but still in the set
  expect_consistent(ep);
  ep.set(efd.get(), Flags::in + Flags::oneshot);  // same flags: re-armed
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{efd.get(), Flags::in}});
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  expect_consistent(ep);
}

TEST(TriggerTest, HangUpOfAPipeWhoseWriteEndIsGone) {
  for (const Flags watched : {Flags::in, Flags::none, Flags::in + Flags::et}) {
    SCOPED_TRACE(watched.to_string());
    Epoll ep = make_epoll();
    Pipe p = make_pipe();
    ep.set(p.read.get(), watched);
    EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
    p.write.reset();
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    // hup is reported even when not asked for.
    expect_ready(ep, {{p.read.get(), Flags::hup}});
  }
}

TEST(TriggerTest, ErrorOfAPipeWhoseReadEndIsGone) {
  for (const Flags watched : {Flags::out, Flags::none}) {
    SCOPED_TRACE(watched.to_string());
    Epoll ep = make_epoll();
    Pipe p = make_pipe();
    ep.set(p.write.get(), watched);
    p.read.reset();
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    expect_ready(ep, {{p.write.get(), Flags::err + (watched & Flags::out)}});
  }
}

TEST(TriggerTest, PeerClosingASocketIsRdhup) {
  Epoll ep = make_epoll();
  auto [a, b] = make_socketpair();
  ep.set(a.get(), Flags::rdhup);
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  ASSERT_EQ(::shutdown(b.get(), SHUT_WR), 0);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{a.get(), Flags::rdhup}});
}

TEST(WaitTest, MoreReadyFdsThanMaxReadyEventsAreAllReportedInTurn) {
  constexpr int kMax = 4;
  constexpr int kFds = 10;
  Epoll ep = make_epoll(1024, kMax);
  std::vector<Fd> fds;
  std::set<int> all;
  for (int i = 0; i < kFds; ++i) {
    fds.push_back(make_eventfd(1));
    ep.set(fds.back().get(), Flags::in);
    all.insert(fds.back().get());
  }
  std::set<int> seen;
  // Each wait returns at most kMax; the kernel rotates its ready list, so
  // ceil(kFds / kMax) waits see every fd.
  for (int i = 0; i < (kFds + kMax - 1) / kMax; ++i) {
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    EXPECT_EQ(ep.num_ready(), kMax);
    for (const int fd : ready_fds(ep)) seen.insert(fd);
  }
  EXPECT_EQ(seen, all);
}

TEST(WaitTest, EachWaitReplacesTheReadySet) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::in);
  poke(a.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{a.get(), Flags::in}});
  drain(a.get());
  poke(b.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_ready(ep, {{b.get(), Flags::in}});
  drain(b.get());
  EXPECT_EQ(ep.wait(Timeout::after(1ms)), WaitResult::timeout);
  EXPECT_EQ(ep.num_ready(), 0);
  EXPECT_TRUE(ep.ready().empty());
}

TEST(WaitTest, EmptySetTimesOut) {
  Epoll ep = make_epoll();
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(Timeout::after(2ms)), WaitResult::timeout); }), 2ms);
}

TEST(WaitTest, AFailingWaitThrowsWithTheReadySetEmpty) {
  // Another file put in place of the epoll fd: epoll_wait says EINVAL.
  Epoll ep = make_epoll();
  Fd efd = make_eventfd(1);
  ep.set(efd.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ASSERT_EQ(::dup2(efd.get(), ep.fd()), ep.fd());  // the Epoll closes this dup at the end
  sigset_t mask;
  sigemptyset(&mask);
  for (const Timeout timeout :
       {Timeout::immediately(), Timeout::never(), Timeout::after(1s), Timeout::after_precise(1s)}) {
    EXPECT_EQ(errno_thrown([&] { (void)ep.wait(timeout); }), EINVAL);
    EXPECT_EQ(ep.num_ready(), 0);
    EXPECT_EQ(errno_thrown([&] { (void)ep.pwait(timeout, mask); }), EINVAL);
    EXPECT_EQ(ep.num_ready(), 0);
  }
}

}  // namespace
}  // namespace linux_ext::test

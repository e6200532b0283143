// Fault injection at every call the library makes through its seam
// (include/linux_ext/detail/syscall.h): each call site is made to fail with
// each errno the kernel can give there, and each allocation of create and
// resize with ENOMEM. The tests assert the error the contract names (and
// the operation it names), that the table and the kernel still agree, and
// that the object stays usable; for EINTR, that waits go on for the time
// that is left, and for ENOSYS from epoll_pwait2, the millisecond fallback.

#include "fault_injection.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <string>
#include <system_error>
#include <vector>

#include "test_util.h"

namespace linux_ext::test {
namespace {

namespace fi = linux_ext::testing;
using fi::Syscall;

// Every test starts and ends with no planned failure, and with the
// epoll_pwait2 probe forgotten so that each finds out for itself.
class FaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fi::reset();
    fi::forget_pwait2_probe();
  }
  void TearDown() override {
    fi::reset();
    fi::forget_pwait2_probe();
  }
};

// How many fds this process has open, to see that a failure leaks none.
int count_open_fds() {
  int n = 0;
  for (int fd = 0; fd < 20000; ++fd) n += ::fcntl(fd, F_GETFD) >= 0 ? 1 : 0;
  return n;
}

// An Epoll of 64 fds and 8 ready events watching `fd` for in.
Epoll epoll_watching(const Fd& fd) {
  Epoll ep = Epoll::create(64, 8).value();
  ep.set(fd.get(), Flags::in);
  return ep;
}

// --- epoll_create1 ---------------------------------------------------------

class CreateFault : public FaultTest, public ::testing::WithParamInterface<int> {};

TEST_P(CreateFault, ReturnsTheErrnoAndLeaksNothing) {
  const int error = GetParam();
  const int fds_before = count_open_fds();
  fi::fail(Syscall::epoll_create1, 1, error);
  OrError<Epoll> made = Epoll::create(64, 8);
  ASSERT_FALSE(made.has_value());
  EXPECT_EQ(made.error().code(), std::error_code(error, std::generic_category()));
  EXPECT_EQ(made.error().message(), "epoll_create1: " + std::string(std::strerror(error)));
  EXPECT_EQ(errno_thrown([&] { (void)made.value(); }), error);
  EXPECT_EQ(count_open_fds(), fds_before);
  // The next create, with no failure planned, works.
  OrError<Epoll> again = Epoll::create(64, 8);
  ASSERT_TRUE(again.has_value());
  again->check_against_kernel();
  EXPECT_EQ(fi::count(Syscall::epoll_create1), 2);
}

INSTANTIATE_TEST_SUITE_P(Errnos, CreateFault, ::testing::Values(EMFILE, ENFILE, ENOMEM),
                         [](const auto& p) { return errno_name(p.param); });

// --- the allocations of create and resize ----------------------------------

// Each allocation create makes, failing in turn: ENOMEM, returned as an
// Error naming create, and the epoll fd made before it closed again.
TEST_F(FaultTest, CreateReturnsEnomemWhenAnAllocationFails) {
  SyscallCounter counter;
  { Epoll counted = Epoll::create(64, 8).value(); }
  const long allocations = counter.allocations();
  ASSERT_GT(allocations, 0);
  for (long k = 1; k <= allocations; ++k) {
    SCOPED_TRACE("allocation " + std::to_string(k) + " fails");
    const int fds_before = count_open_fds();
    fi::reset();
    fi::fail(Syscall::calloc, static_cast<int>(k), ENOMEM);
    OrError<Epoll> made = Epoll::create(64, 8);
    ASSERT_FALSE(made.has_value());
    EXPECT_EQ(made.error().code(), std::error_code(ENOMEM, std::generic_category()));
    EXPECT_EQ(made.error().message().rfind("Epoll::create: ", 0), 0U) << made.error().message();
    EXPECT_EQ(count_open_fds(), fds_before);
  }
  fi::reset();
  EXPECT_TRUE(Epoll::create(64, 8).has_value());
}

// Each allocation resize makes, failing in turn, whether it grows or
// shrinks: std::system_error(ENOMEM) or std::bad_alloc, and the set exactly
// as it was: table, sizes, domain, ready set, and the kernel's set.
TEST_F(FaultTest, ResizeChangesNothingWhenAnAllocationFails) {
  Fd a = make_eventfd(1);
  Fd b = make_eventfd();
  Epoll ep = epoll_watching(a);
  ep.set(b.get(), Flags::in + Flags::out);
  const std::pair<int, int> sizes[] = {{4096, 2}, {b.get() + 1, 64}};
  for (const auto& [num_file_descrs, max_ready_events] : sizes) {
    SyscallCounter counter;
    {
      Epoll counted = Epoll::create(64, 8).value();
      counter.reset();
      counted.resize(num_file_descrs, max_ready_events);
    }
    const long allocations = counter.allocations();
    ASSERT_GT(allocations, 0);
    for (long k = 1; k <= allocations; ++k) {
      SCOPED_TRACE("resize(" + std::to_string(num_file_descrs) + ", " + std::to_string(max_ready_events) +
                   "), allocation " + std::to_string(k) + " fails");
      ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
      const Snapshot before(ep);
      fi::reset();
      fi::fail(Syscall::calloc, static_cast<int>(k), ENOMEM);
      try {
        ep.resize(num_file_descrs, max_ready_events);
        ADD_FAILURE() << "resize did not throw";
      } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::error_code(ENOMEM, std::generic_category())) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind("Epoll::resize: ", 0), 0U) << e.what();
      } catch (const std::bad_alloc&) {
      }
      EXPECT_EQ(Snapshot(ep), before);
      EXPECT_THROW((void)ep.find(64), std::out_of_range) << "the domain is still [0, 64)";
      expect_consistent(ep);
    }
  }
  fi::reset();
  ep.resize(4096, 2);
  EXPECT_EQ(ep.num_file_descrs(), 4096);
  EXPECT_EQ(ep.find(64), std::nullopt);
  expect_consistent(ep);
}

// --- epoll_ctl -------------------------------------------------------------

// Which call of `set`/`remove` is made to fail.
enum class CtlOp { add, modify, remove };

struct CtlCase {
  CtlOp op;
  int error;
};

std::string ctl_case_name(const ::testing::TestParamInfo<CtlCase>& info) {
  const char* op = info.param.op == CtlOp::add ? "Add" : info.param.op == CtlOp::modify ? "Modify" : "Remove";
  return std::string(op) + errno_name(info.param.error);
}

class CtlFault : public FaultTest, public ::testing::WithParamInterface<CtlCase> {};

TEST_P(CtlFault, ThrowsTheErrnoAndTheTableStaysTheKernels) {
  const CtlCase c = GetParam();
  Epoll ep = Epoll::create(1024, 8).value();
  Fd other = make_eventfd(1);
  Fd target = make_eventfd(1);
  ep.set(other.get(), Flags::in);
  if (c.op != CtlOp::add) ep.set(target.get(), Flags::in);
  const std::optional<Flags> before = ep.find(target.get());

  fi::fail(Syscall::epoll_ctl, 1, c.error);
  const long calls_before = fi::count(Syscall::epoll_ctl);
  const int thrown = errno_thrown([&] {
    if (c.op == CtlOp::remove) {
      ep.remove(target.get());
    } else {
      ep.set(target.get(), Flags::in + Flags::out);
    }
  });
  EXPECT_EQ(thrown, c.error) << "the kernel's errno reaches the caller as std::system_error";
  EXPECT_EQ(fi::count(Syscall::epoll_ctl), calls_before + 1) << "one epoll_ctl, no retry";
  ep.invariant();

  if (c.op == CtlOp::remove) {
    // The contract: the entry leaves the table before DEL, since DEL fails
    // for real only on a closed fd, which the kernel has forgotten. Here the
    // fd is open, so the kernel still watches it, and check_against_kernel
    // says exactly that.
    EXPECT_EQ(ep.find(target.get()), std::nullopt);
    EXPECT_EQ(ep.size(), 1U);
    try {
      ep.check_against_kernel();
      ADD_FAILURE() << "check_against_kernel missed the kernel's entry for fd " << target.get();
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("fd " + std::to_string(target.get()) + ": in the kernel's set"),
                std::string::npos)
          << e.what();
    }
    // Closing the fd makes the kernel forget it; then they agree again.
    target.reset();
    ep.check_against_kernel();
  } else {
    // Nothing changed, in the table or in the kernel.
    EXPECT_EQ(ep.find(target.get()), before);
    EXPECT_EQ(ep.size(), c.op == CtlOp::add ? 1U : 2U);
    ep.check_against_kernel();
    // And the same call, now without a failure, goes through.
    ep.set(target.get(), Flags::in + Flags::out);
    EXPECT_EQ(ep.find(target.get()), Flags::in + Flags::out);
    ep.check_against_kernel();
  }
  // The object stays usable: it waits, and other fds come and go.
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_GE(ep.num_ready(), 1);
  ep.remove(other.get());
  ep.set(other.get(), Flags::out);
  ep.check_against_kernel();
}

std::vector<CtlCase> all_ctl_cases() {
  std::vector<CtlCase> cases;
  for (CtlOp op : {CtlOp::add, CtlOp::modify, CtlOp::remove}) {
    for (int error : {ENOMEM, ENOSPC, EBADF, EPERM, EINVAL}) cases.push_back({op, error});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Calls, CtlFault, ::testing::ValuesIn(all_ctl_cases()), ctl_case_name);

// ENOSPC from epoll_ctl: the user's watches, over all their epoll sets,
// reached fs.epoll.max_user_watches. The message names that file and its
// value, the limit a user has to raise; where the file cannot be read, it
// names the file and why.
TEST_F(FaultTest, EnospcNamesTheWatchLimitAndItsValue) {
  const std::string limit_path = "/proc/sys/fs/epoll/max_user_watches";
  long limit = 0;
  ASSERT_TRUE(std::ifstream(limit_path) >> limit) << "cannot read " << limit_path;
  Fd a = make_eventfd();
  Epoll ep = Epoll::create(64, 8).value();
  fi::fail(Syscall::epoll_ctl, 1, ENOSPC);
  const std::optional<std::system_error> e = thrown<std::system_error>([&] { ep.set(a.get(), Flags::in); });
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), std::error_code(ENOSPC, std::generic_category()));
  EXPECT_EQ(std::string(e->what()), "Epoll::set: epoll_ctl(EPOLL_CTL_ADD, fd " + std::to_string(a.get()) +
                                        ", (in)): the user's epoll watches reached the limit in " +
                                        limit_path + ", now " + std::to_string(limit) + ": " +
                                        std::strerror(ENOSPC));
  EXPECT_EQ(ep.find(a.get()), std::nullopt);

  fi::fail(Syscall::epoll_ctl, 1, ENOSPC);
  fi::fail(Syscall::open, 1, EACCES);
  const std::string what = what_thrown<std::system_error>([&] { ep.set(a.get(), Flags::in); });
  EXPECT_NE(what.find("reached the limit in " + limit_path + " (cannot read " + limit_path + ": " +
                      std::strerror(EACCES) + ")"),
            std::string::npos)
      << what;
  expect_consistent(ep);
}

// --- epoll_wait, epoll_pwait, epoll_pwait2, clock_gettime ------------------

// How a wait is made: which entry point, which timeout, and so which
// system call it reaches first.
struct WaitCase {
  const char* name;
  Syscall call;
  bool use_pwait;
  bool precise;
};

const WaitCase kWaitCases[] = {
    {"WaitMillis", Syscall::epoll_wait, false, false},
    {"WaitPrecise", Syscall::epoll_pwait2, false, true},
    {"PwaitMillis", Syscall::epoll_pwait, true, false},
    {"PwaitPrecise", Syscall::epoll_pwait2, true, true},
};

Epoll::WaitResult do_wait(Epoll& ep, const WaitCase& c, std::chrono::nanoseconds span) {
  const Timeout timeout = c.precise ? Timeout::after_precise(span) : Timeout::after(span);
  if (!c.use_pwait) return ep.wait(timeout);
  sigset_t mask;
  sigemptyset(&mask);
  return ep.pwait(timeout, mask);
}

class WaitFault : public FaultTest, public ::testing::WithParamInterface<WaitCase> {};

// EINTR again and again: wait goes on (and finds the ready fd); pwait
// returns interrupted at the first one, with the ready set empty.
TEST_P(WaitFault, EintrRetriesInWaitAndInterruptsPwait) {
  const WaitCase c = GetParam();
  Fd ready = make_eventfd(1);
  Epoll ep = epoll_watching(ready);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ASSERT_EQ(ep.num_ready(), 1);

  fi::reset();
  constexpr int kInterruptions = 5;
  fi::fail(c.call, 1, EINTR, kInterruptions);
  const WaitResult result = do_wait(ep, c, std::chrono::seconds(10));
  if (c.use_pwait) {
    // Each pwait meets one EINTR and says so; the one after them finds the fd.
    EXPECT_EQ(result, WaitResult::interrupted);
    EXPECT_EQ(ep.num_ready(), 0);
    EXPECT_TRUE(ep.ready().empty());
    for (int i = 2; i <= kInterruptions; ++i) {
      EXPECT_EQ(do_wait(ep, c, std::chrono::seconds(10)), WaitResult::interrupted);
      EXPECT_EQ(ep.num_ready(), 0);
    }
    EXPECT_EQ(fi::count(c.call), kInterruptions);
  } else {
    EXPECT_EQ(result, WaitResult::ok);
    ASSERT_EQ(ep.num_ready(), 1);
    EXPECT_EQ(ep.ready()[0].fd, ready.get());
    // Every interruption was retried, then one call went through (where
    // epoll_pwait2 is missing, as under valgrind, that one fell back).
    EXPECT_GE(fi::count(c.call), kInterruptions + 1);
  }
  ep.invariant();
  ep.check_against_kernel();
  EXPECT_EQ(do_wait(ep, c, std::chrono::milliseconds(1)), WaitResult::ok);
}

INSTANTIATE_TEST_SUITE_P(Calls, WaitFault, ::testing::ValuesIn(kWaitCases),
                         [](const auto& p) { return std::string(p.param.name); });

// EINTR while nothing is ready: wait goes on for the time that is left and
// returns timeout, never before its span has passed. The clock is read for
// the deadline, then after each interruption for the time left.
TEST_F(FaultTest, EintrKeepsTheDeadlineOfWait) {
  for (const WaitCase& c : kWaitCases) {
    if (c.use_pwait) continue;  // pwait returns at the first EINTR
    SCOPED_TRACE(c.name);
    Fd idle = make_eventfd(0);
    Epoll ep = epoll_watching(idle);
    fi::reset();
    constexpr int kInterruptions = 3;
    fi::fail(c.call, 1, EINTR, kInterruptions);
    const auto span = std::chrono::milliseconds(20);
    EXPECT_GE(time_of([&] { EXPECT_EQ(do_wait(ep, c, span), WaitResult::timeout); }), span)
        << "a timed wait never ends early";
    EXPECT_EQ(ep.num_ready(), 0);
    if (c.call == Syscall::epoll_pwait2 && !kernel_has_epoll_pwait2())
      continue;  // the fallback counts otherwise
    EXPECT_EQ(fi::count(c.call), kInterruptions + 1);
    EXPECT_EQ(fi::count(Syscall::clock_gettime), kInterruptions + 1);
  }
}

// EINTR early in a wait of a span shorter than a millisecond: `after`
// rounded it up, and the wait goes on for what is left of the rounded
// span, not of the span as given (which a signal would have used up).
TEST_F(FaultTest, EintrLeavesWhatIsLeftOfTheRoundedSpan) {
  Fd idle = make_eventfd(0);
  Epoll ep = epoll_watching(idle);
  fi::reset();
  fi::fail(Syscall::epoll_wait, 1, EINTR);
  const auto span = std::chrono::microseconds(1);
  EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(Timeout::after(span)), WaitResult::timeout); }),
            std::chrono::milliseconds(1));
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 2) << "the interrupted call, then one for the rest of 1 ms";
}

// The spans that are `immediately` read no clock, whatever their type; the
// others, as long as they are, read it once for their deadline.
TEST_F(FaultTest, SpansOfAnyDurationType) {
  Fd ready = make_eventfd(1);
  Epoll ep = epoll_watching(ready);
  auto clock_reads = [&](Timeout timeout) {
    fi::reset();
    EXPECT_EQ(ep.wait(timeout), WaitResult::ok);
    return fi::count(Syscall::clock_gettime);
  };
  using std::chrono::duration;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (const Timeout immediate :
       {Timeout::after(duration<double>(nan)), Timeout::after(duration<double>(-inf)),
        Timeout::after(duration<float, std::milli>(-0.5F)), Timeout::after(std::chrono::seconds::min()),
        Timeout::after(duration<unsigned>(0)), Timeout::after_precise(duration<double>(nan))}) {
    EXPECT_EQ(clock_reads(immediate), 0);
  }
  for (const Timeout timed :
       {Timeout::after(duration<double>(inf)), Timeout::after(std::chrono::seconds::max()),
        Timeout::after(std::chrono::hours::max()), Timeout::after(duration<double, std::nano>(0.25)),
        Timeout::after(duration<long long, std::pico>(1)), Timeout::after(duration<int, std::ratio<1, 3>>(1)),
        Timeout::after(duration<unsigned long long, std::nano>(~0ULL))}) {
    EXPECT_EQ(clock_reads(timed), 1);
  }
}

// EINTR in waits that read no clock: wait retries as often as it comes,
// without reading the clock; pwait returns interrupted.
TEST_F(FaultTest, EintrInUntimedWaits) {
  Fd efd = make_eventfd();
  Epoll ep = epoll_watching(efd);
  fi::fail(Syscall::epoll_wait, 1, EINTR, 3);
  EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 4);

  poke(efd.get());
  fi::reset();
  fi::fail(Syscall::epoll_wait, 1, EINTR, 2);
  EXPECT_EQ(ep.wait(Timeout::never()), WaitResult::ok);
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 3);
  EXPECT_EQ(fi::count(Syscall::clock_gettime), 0);
  expect_ready(ep, {{efd.get(), Flags::in}});

  sigset_t mask;
  sigemptyset(&mask);
  fi::reset();
  fi::fail(Syscall::epoll_pwait, 1, EINTR);
  EXPECT_EQ(ep.pwait(Timeout::never(), mask), WaitResult::interrupted);
  EXPECT_EQ(fi::count(Syscall::epoll_pwait), 1);
  EXPECT_EQ(ep.num_ready(), 0);
  EXPECT_TRUE(ep.ready().empty());
  EXPECT_EQ(ep.pwait(Timeout::never(), mask), WaitResult::ok);  // the fd is still ready
}

// Any other errno throws std::system_error naming the operation that was
// called and the call that failed, with the ready set empty; the next wait
// works.
TEST_F(FaultTest, AFailingWaitThrowsNamingItselfWithTheReadySetEmpty) {
  Fd ready = make_eventfd(1);
  Epoll ep = epoll_watching(ready);
  sigset_t mask;
  sigemptyset(&mask);
  struct Case {
    Syscall call;
    int error;
    const char* operation;
    std::function<WaitResult()> wait;
  };
  const Case cases[] = {
      {Syscall::epoll_wait, EBADF, "wait", [&] { return ep.wait(Timeout::never()); }},
      {Syscall::epoll_wait, EINVAL, "wait", [&] { return ep.wait(Timeout::after(1s)); }},
      {Syscall::epoll_wait, EFAULT, "wait", [&] { return ep.wait(Timeout::immediately()); }},
      {Syscall::epoll_wait, EBADF, "wait_timeout_after", [&] { return ep.wait_timeout_after(1s); }},
      {Syscall::epoll_pwait, EBADF, "pwait", [&] { return ep.pwait(Timeout::never(), mask); }},
      {Syscall::epoll_pwait, EINVAL, "pwait", [&] { return ep.pwait(Timeout::after(1s), mask); }},
      {Syscall::epoll_pwait2, EBADF, "wait", [&] { return ep.wait(Timeout::after_precise(1s)); }},
      {Syscall::epoll_pwait2, EINVAL, "pwait", [&] { return ep.pwait(Timeout::after_precise(1s), mask); }},
      // A timed wait reads the clock first, for its deadline.
      {Syscall::clock_gettime, EINVAL, "wait", [&] { return ep.wait(Timeout::after(1s)); }},
      {Syscall::clock_gettime, EINVAL, "wait_timeout_after", [&] { return ep.wait_timeout_after(1s); }},
      {Syscall::clock_gettime, EFAULT, "pwait", [&] { return ep.pwait(Timeout::after_precise(1s), mask); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.operation) + " with " + fi::name(c.call) + " failing with " +
                 errno_name(c.error));
    if (c.call == Syscall::epoll_pwait2 && !kernel_has_epoll_pwait2()) continue;
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    ASSERT_EQ(ep.num_ready(), 1);
    fi::reset();
    fi::fail(c.call, 1, c.error);
    const std::optional<std::system_error> e = thrown<std::system_error>([&] { (void)c.wait(); });
    if (e) {
      EXPECT_EQ(e->code(), std::error_code(c.error, std::generic_category())) << e->what();
      const std::string what = e->what();
      EXPECT_EQ(what.rfind("Epoll::" + std::string(c.operation) + ": ", 0), 0U) << what;
      EXPECT_NE(what.find(fi::name(c.call)), std::string::npos) << what;
    }
    EXPECT_EQ(ep.num_ready(), 0);
    EXPECT_TRUE(ep.ready().empty());
    EXPECT_EQ(c.wait(), WaitResult::ok);
    expect_consistent(ep);
  }
}

// ENOSYS from epoll_pwait2 (an old kernel, valgrind): the precise wait falls
// back to millisecond waits, rounded up as `after` rounds, and decides so
// once for the process.
TEST_F(FaultTest, PreciseWaitFallsBackOnceWhenPwait2IsMissing) {
  Fd ready = make_eventfd(1);
  Epoll ep = epoll_watching(ready);
  fi::fail(Syscall::epoll_pwait2, 1, ENOSYS, -1);
  EXPECT_EQ(ep.wait(Timeout::after_precise(300us)), WaitResult::ok);
  EXPECT_EQ(ep.num_ready(), 1);
  EXPECT_EQ(fi::count(Syscall::epoll_pwait2), 1);
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 1);
  // Decided once: the next precise waits go straight to the fallbacks,
  // also for another Epoll (the kernel is the same).
  EXPECT_EQ(ep.wait(Timeout::after_precise(300us)), WaitResult::ok);
  sigset_t mask;
  sigemptyset(&mask);
  EXPECT_EQ(ep.pwait(Timeout::after_precise(300us), mask), WaitResult::ok);
  Epoll other = make_epoll();
  EXPECT_EQ(other.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  EXPECT_EQ(fi::count(Syscall::epoll_pwait2), 1);
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 3);
  EXPECT_EQ(fi::count(Syscall::epoll_pwait), 1);
  // And the fallback keeps the promise of `after`: 1.5 ms waits 2 ms, and
  // never returns timeout before.
  drain(ready.get());
  EXPECT_GE(time_of([&] { EXPECT_EQ(ep.wait(Timeout::after_precise(1500us)), WaitResult::timeout); }), 2ms);
}

// The probe's answer is kept until the tests forget it: then the next
// precise wait asks the kernel again.
TEST_F(FaultTest, ThePwait2ProbeCanBeForgotten) {
  if (!kernel_has_epoll_pwait2()) GTEST_SKIP() << "the kernel has no epoll_pwait2";
  Epoll ep = make_epoll();
  fi::fail(Syscall::epoll_pwait2, 1, ENOSYS);
  EXPECT_EQ(ep.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  fi::forget_pwait2_probe();
  fi::reset();
  EXPECT_EQ(ep.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  EXPECT_EQ(fi::count(Syscall::epoll_pwait2), 1);
  EXPECT_EQ(fi::count(Syscall::epoll_wait), 0);
}

// --- close -----------------------------------------------------------------

struct CloseCase {
  const char* name;
  int error;
  bool throws;
};

const CloseCase kCloseCases[] = {{"EINTR", EINTR, false}, {"EIO", EIO, true}};

class CloseFault : public FaultTest, public ::testing::WithParamInterface<CloseCase> {};

// EINTR is no failure (Linux releases the fd whatever close returns); EIO
// is thrown, after the set is closed. Either way the object is closed.
TEST_P(CloseFault, TheSetIsClosedEitherWay) {
  const CloseCase c = GetParam();
  Fd watched = make_eventfd(1);
  Epoll ep = epoll_watching(watched);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const int epoll_fd = ep.fd();

  fi::fail(Syscall::close, 1, c.error);
  EXPECT_EQ(errno_thrown([&] { ep.close(); }), c.throws ? c.error : 0);
  EXPECT_TRUE(ep.is_closed());
  EXPECT_EQ(ep.size(), 0U);
  EXPECT_EQ(ep.num_ready(), 0);
  ep.invariant();
  EXPECT_THROW(ep.set(watched.get(), Flags::in), std::logic_error);
  // Closing again makes no system call.
  ep.close();
  EXPECT_EQ(fi::count(Syscall::close), 1);
  // The injected failure kept the real close from running.
  ::close(epoll_fd);
}

// The destructor and move assignment close too, and never throw.
TEST_P(CloseFault, DestructorAndMoveAssignmentSwallowIt) {
  const CloseCase c = GetParam();
  int first_fd = -1;
  {
    Epoll ep = Epoll::create(64, 8).value();
    first_fd = ep.fd();
    Epoll replacement = Epoll::create(64, 8).value();
    const int second_fd = replacement.fd();
    fi::fail(Syscall::close, 1, c.error, 2);
    ep = std::move(replacement);  // closes first_fd
    EXPECT_EQ(ep.fd(), second_fd);
    EXPECT_TRUE(replacement.is_closed());  // NOLINT(bugprone-use-after-move): a moved-from Epoll is closed
    ::close(first_fd);
    first_fd = second_fd;
  }  // the destructor closes second_fd, and fails
  EXPECT_EQ(fi::count(Syscall::close), 2);
  ::close(first_fd);
}

INSTANTIATE_TEST_SUITE_P(Errnos, CloseFault, ::testing::ValuesIn(kCloseCases),
                         [](const auto& p) { return std::string(p.param.name); });

// --- /proc and kcmp: check_against_kernel -----------------------------------

// A /proc that cannot be read (no procfs, no permission, a failing read) is
// a std::system_error naming check_against_kernel, with the errno of the
// call; the set itself is unharmed.
TEST_F(FaultTest, CheckAgainstKernelThrowsWhenProcCannotBeRead) {
  Fd a = make_eventfd();
  Epoll ep = epoll_watching(a);
  const std::pair<Syscall, int> failures[] = {
      {Syscall::open, ENOENT}, {Syscall::open, EACCES}, {Syscall::read, EIO}};
  for (const auto& [call, error] : failures) {
    SCOPED_TRACE(std::string(fi::name(call)) + " failing with " + errno_name(error));
    fi::reset();
    fi::fail(call, 1, error);
    const std::optional<std::system_error> e = thrown<std::system_error>([&] { ep.check_against_kernel(); });
    if (e) {
      EXPECT_EQ(e->code(), std::error_code(error, std::generic_category())) << e->what();
      EXPECT_EQ(std::string(e->what()).rfind("Epoll::check_against_kernel: ", 0), 0U) << e->what();
    }
    expect_consistent(ep);
  }
}

// Where kcmp(2) is refused (EPERM: no ptrace access, or a kernel without
// it) check_against_kernel compares inodes instead: a healthy set passes,
// and an fd closed while in the set, whose number now names a file of
// another kind, is still found.
TEST_F(FaultTest, CheckAgainstKernelFallsBackToInodesWhenKcmpIsRefused) {
  Fd watched = make_eventfd();
  Epoll ep = epoll_watching(watched);
  fi::fail(Syscall::kcmp, 1, EPERM, -1);
  EXPECT_NO_THROW(ep.check_against_kernel());
  EXPECT_GE(fi::count(Syscall::kcmp), 1) << "kcmp was not asked, so the fallback was not tried";

  const int number = watched.get();
  const Fd keeper(check_sys(::dup(number), "dup"));  // keeps the kernel's entry alive
  watched.reset();
  Pipe p = make_pipe();
  ASSERT_EQ(::dup2(p.read.get(), number), number);
  const Fd reused(number);
  const std::string what = what_thrown<std::logic_error>([&] { ep.check_against_kernel(); });
  EXPECT_NE(what.find("fd " + std::to_string(number) + ":"), std::string::npos) << what;
  EXPECT_NE(what.find("another file"), std::string::npos) << what;
}

// --- every call site, every k ----------------------------------------------

// A fixed scenario run once to count its calls, then again with each of its
// epoll_ctl calls failing in turn: whichever fails, what is left of the
// scenario runs on, and the table agrees with the kernel after every step.
TEST_F(FaultTest, EveryCtlCallOfAScenarioCanFail) {
  // Returns whether a remove failed.
  auto scenario = [](Epoll& ep, std::vector<Fd>& fds) {
    bool remove_failed = false;
    for (int i = 0; i < 6; ++i) {
      const int fd = fds[static_cast<std::size_t>(i)].get();
      auto step = [&](auto&& f) {
        bool failed = false;
        try {
          f();
        } catch (const std::system_error& e) {
          EXPECT_EQ(e.code().value(), ENOMEM);
          failed = true;
        }
        ep.invariant();
        return failed;
      };
      step([&] { ep.set(fd, Flags::in); });
      step([&] { ep.set(fd, Flags::in + Flags::et); });
      step([&] { ep.set(fd, Flags::out); });
      if (i % 2 == 0) remove_failed |= step([&] { ep.remove(fd); });
    }
    return remove_failed;
  };
  auto fresh_fds = [] {
    std::vector<Fd> fds;
    for (int i = 0; i < 6; ++i) fds.push_back(make_eventfd(1));
    return fds;
  };
  long total = 0;
  {
    Epoll ep = Epoll::create(1024, 8).value();
    std::vector<Fd> fds = fresh_fds();
    fi::reset();
    EXPECT_FALSE(scenario(ep, fds));
    total = fi::count(Syscall::epoll_ctl);
    ep.check_against_kernel();
  }
  ASSERT_GT(total, 20);
  std::printf("fault injection: each of the %ld epoll_ctl calls of the scenario failed in turn\n", total);
  for (long k = 1; k <= total; ++k) {
    SCOPED_TRACE("epoll_ctl call " + std::to_string(k) + " fails with ENOMEM");
    Epoll ep = Epoll::create(1024, 8).value();
    std::vector<Fd> fds = fresh_fds();
    fi::reset();
    fi::fail(Syscall::epoll_ctl, static_cast<int>(k), ENOMEM);
    if (!scenario(ep, fds)) {
      ep.check_against_kernel();
      continue;
    }
    // A failed remove leaves the kernel's entry (see CtlFault), and
    // check_against_kernel reports exactly that.
    try {
      ep.check_against_kernel();
      ADD_FAILURE() << "the kernel's entry left by the failed remove went unreported";
    } catch (const std::logic_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("in the kernel's set"), std::string::npos) << what;
      EXPECT_EQ(what.find("in the table with"), std::string::npos) << what;
    }
  }
}

}  // namespace
}  // namespace linux_ext::test

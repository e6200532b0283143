// System calls per operation, exactly: deterministic figures, so they are kept
// as assertions here rather than only as benchmark output. Built with the
// fault-injection library, whose seam counts every system call the library
// makes, and every allocation of the table and the ready buffer (counted
// apart: `calloc` is no system call).

#include "test_util.h"

namespace linux_ext::test {
namespace {

using testing::Syscall;

// Expects `counter` to hold exactly these counts and no other call: no
// other system call, and no allocation unless `calloc` is listed.
void expect_calls(const SyscallCounter& counter, std::initializer_list<std::pair<Syscall, long>> expected) {
  long system_calls = 0;
  long allocations = 0;
  for (const auto& [id, n] : expected) {
    EXPECT_EQ(counter[id], n) << testing::name(id) << "; all: " << counter.describe();
    (id == Syscall::calloc ? allocations : system_calls) += n;
  }
  EXPECT_EQ(counter.total(), system_calls) << counter.describe();
  EXPECT_EQ(counter.allocations(), allocations) << counter.describe();
}

TEST(SyscallCountTest, CreateIsOneEpollCreate1AndItsAllocations) {
  SyscallCounter counter;
  Epoll ep = make_epoll();
  // Everything the set will need, at once: the table's slots, its entries,
  // the walk clocks of its fds, and the ready buffer.
  expect_calls(counter, {{Syscall::epoll_create1, 1}, {Syscall::calloc, 4}});
}

TEST(SyscallCountTest, ResizeMakesNoSystemCall) {
  Epoll ep = make_epoll(64, 8);
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  {
    // It allocates what create does, and moves the table over by itself.
    SyscallCounter counter;
    ep.resize(4096, 2);
    ep.resize(a.get() + 1, 64);
    expect_calls(counter, {{Syscall::calloc, 8}});
  }
  {
    // Refused sizes and a domain that would drop fd a: not even an allocation.
    SyscallCounter counter;
    EXPECT_THROW(ep.resize(-1, 8), std::invalid_argument);
    EXPECT_THROW(ep.resize(64, 0), std::invalid_argument);
    EXPECT_THROW(ep.resize(a.get(), 8), std::invalid_argument);
    expect_calls(counter, {});
  }
}

TEST(SyscallCountTest, InvalidCreateMakesNoCall) {
  SyscallCounter counter;
  EXPECT_FALSE(Epoll::create(-1, 8).has_value());
  EXPECT_FALSE(Epoll::create(8, 0).has_value());
  expect_calls(counter, {});
}

TEST(SyscallCountTest, CloseIsOneClose) {
  Epoll ep = make_epoll();
  SyscallCounter counter;
  ep.close();
  expect_calls(counter, {{Syscall::close, 1}});
  ep.close();
  expect_calls(counter, {{Syscall::close, 1}});
}

TEST(SyscallCountTest, DestructionIsOneCloseAndMovesNone) {
  std::optional<Epoll> ep(make_epoll());
  SyscallCounter counter;
  Epoll moved(std::move(*ep));
  ep.reset();  // moved-from: nothing to close
  expect_calls(counter, {});
  { Epoll gone(std::move(moved)); }
  expect_calls(counter, {{Syscall::close, 1}});
}

TEST(SyscallCountTest, SetAndRemove) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  SyscallCounter counter;

  ep.set(a.get(), Flags::in);  // ADD
  expect_calls(counter, {{Syscall::epoll_ctl, 1}});
  counter.reset();
  ep.set(a.get(), Flags::out);  // MOD
  expect_calls(counter, {{Syscall::epoll_ctl, 1}});
  counter.reset();
  ep.set(a.get(), Flags::out);  // unchanged, level-triggered: nothing to do
  ep.set(a.get(), Flags::out);
  expect_calls(counter, {});
  counter.reset();
  ep.remove(a.get());
  expect_calls(counter, {{Syscall::epoll_ctl, 1}});
  counter.reset();
  ep.remove(a.get());  // absent
  expect_calls(counter, {});
}

TEST(SyscallCountTest, UnchangedLevelTriggeredSetSkipsTheKernelEvenForAReusedNumber) {
  // The documented cost of the shortcut: an fd closed while in the set, its
  // number reused by another file (here a pipe), and `set` with the flags
  // the table has. The library cannot see the close, makes no system call
  // and reports no error; the new file is not watched, and
  // check_against_kernel is what finds it.
  Epoll ep = make_epoll();
  Fd watched = make_eventfd();
  const int number = watched.get();
  ep.set(number, Flags::in);
  watched.reset();
  Pipe p = make_pipe();
  ASSERT_EQ(::dup2(p.read.get(), number), number);
  Fd reused(number);

  SyscallCounter counter;
  EXPECT_NO_THROW(ep.set(number, Flags::in));
  expect_calls(counter, {});
  EXPECT_EQ(ep.find(number), Flags::in);
  EXPECT_EQ(kernel_flags(ep.fd(), number), std::nullopt) << "the pipe is not watched";
  const std::string what = what_thrown<std::logic_error>([&] { ep.check_against_kernel(); });
  EXPECT_NE(what.find("fd " + std::to_string(number) + ":"), std::string::npos) << what;

  // Other flags reach the kernel, which has no entry to modify.
  counter.reset();
  EXPECT_EQ(errno_thrown([&] { ep.set(number, Flags::out); }), ENOENT);
  expect_calls(counter, {{Syscall::epoll_ctl, 1}});
}

TEST(SyscallCountTest, UnchangedEdgeTriggeredOrOneshotSetStillRearms) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  for (const Flags flags : {Flags::in + Flags::et, Flags::in + Flags::oneshot,
                            Flags::in + Flags::et + Flags::oneshot, Flags::et, Flags::oneshot}) {
    SCOPED_TRACE(flags.to_string());
    ep.set(a.get(), flags);
    SyscallCounter counter;
    ep.set(a.get(), flags);
    expect_calls(counter, {{Syscall::epoll_ctl, 1}});
  }
}

TEST(SyscallCountTest, ReadingTheTableAndTheReadySetMakesNoCall) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  SyscallCounter counter;
  (void)ep.find(a.get());
  (void)ep.find(0);
  (void)ep.find_exn(a.get());
  (void)ep.size();
  ep.iter([](int, Flags) {});
  (void)ep.fold(0, [](int, Flags, int acc) { return acc; });
  ep.iter_ready([](int, Flags) {});
  (void)ep.fold_ready(0, [](int acc, int, Flags) { return acc; });
  for (auto [fd, flags] : ep.ready()) (void)fd, (void)flags;
  (void)ep.num_ready();
  ep.clear_ready();
  ep.invariant();
  (void)ep.fd();
  (void)ep.to_sexp();
  expect_calls(counter, {});
}

TEST(SyscallCountTest, RefusedInputMakesNoCall) {
  Epoll ep = make_epoll(16);
  Fd a = make_eventfd();
  ep.set(a.get(), Flags::in);
  SyscallCounter counter;
  EXPECT_THROW(ep.set(-1, Flags::in), std::out_of_range);
  EXPECT_THROW(ep.set(16, Flags::in), std::out_of_range);
  EXPECT_THROW(ep.remove(16), std::out_of_range);
  EXPECT_EQ(errno_thrown([&] { ep.set(a.get(), Flags::in + Flags::exclusive); }), EINVAL);
  ep.close();
  counter.reset();
  EXPECT_THROW(ep.set(a.get(), Flags::in), std::logic_error);
  EXPECT_THROW((void)ep.wait(Timeout::never()), std::logic_error);
  expect_calls(counter, {});
}

TEST(SyscallCountTest, UntimedWaitsAreOneEpollWaitAndNoClock) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  Fd b = make_eventfd();
  ep.set(b.get(), Flags::in);
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(Timeout::immediately()), WaitResult::timeout);
    expect_calls(counter, {{Syscall::epoll_wait, 1}});
  }
  {
    // A span of zero or less is immediately: no clock either.
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(Timeout::after(std::chrono::nanoseconds(0))), WaitResult::timeout);
    EXPECT_EQ(ep.wait_timeout_after(-1s), WaitResult::timeout);
    expect_calls(counter, {{Syscall::epoll_wait, 2}});
  }
  ep.set(a.get(), Flags::in);
  for (const Timeout timeout : {Timeout::immediately(), Timeout::never()}) {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(timeout), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_wait, 1}});
  }
}

TEST(SyscallCountTest, TimedWaitIsOneEpollWaitAndOneClockRead) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  ep.set(a.get(), Flags::in);
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(Timeout::after(1ms)), WaitResult::timeout);
    expect_calls(counter, {{Syscall::epoll_wait, 1}, {Syscall::clock_gettime, 1}});
  }
  poke(a.get());
  for (const auto span :
       {std::chrono::nanoseconds(1ms), std::chrono::nanoseconds(std::chrono::hours(24 * 365)),
        std::chrono::nanoseconds::max()}) {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait_timeout_after(span), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_wait, 1}, {Syscall::clock_gettime, 1}});
  }
}

TEST(SyscallCountTest, PreciseWaitIsOneEpollPwait2) {
  if (!kernel_has_epoll_pwait2()) GTEST_SKIP() << "the kernel has no epoll_pwait2";
  testing::forget_pwait2_probe();
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  ep.set(a.get(), Flags::in);
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(Timeout::after_precise(100us)), WaitResult::timeout);
    expect_calls(counter, {{Syscall::epoll_pwait2, 1}, {Syscall::clock_gettime, 1}});
  }
  poke(a.get());
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.wait(Timeout::after_precise(std::chrono::nanoseconds::max())), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_pwait2, 1}, {Syscall::clock_gettime, 1}});
  }
}

TEST(SyscallCountTest, PwaitIsOneEpollPwaitOrPwait2) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  sigset_t mask;
  sigemptyset(&mask);
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.pwait(Timeout::immediately(), mask), WaitResult::ok);
    EXPECT_EQ(ep.pwait(Timeout::never(), mask), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_pwait, 2}});
  }
  {
    SyscallCounter counter;
    EXPECT_EQ(ep.pwait(Timeout::after(1s), mask), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_pwait, 1}, {Syscall::clock_gettime, 1}});
  }
  if (kernel_has_epoll_pwait2()) {
    testing::forget_pwait2_probe();
    SyscallCounter counter;
    EXPECT_EQ(ep.pwait(Timeout::after_precise(1s), mask), WaitResult::ok);
    expect_calls(counter, {{Syscall::epoll_pwait2, 1}, {Syscall::clock_gettime, 1}});
  }
}

}  // namespace
}  // namespace linux_ext::test

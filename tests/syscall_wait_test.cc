// Waits whose system call fails: EINTR (retried by wait with the time left,
// interrupted for pwait), ENOSYS from epoll_pwait2 (the millisecond
// fallback, decided once), and any other errno (thrown, ready set empty).
// Built with the fault-injection library, which makes chosen calls fail.

#include <functional>

#include "test_util.h"

namespace linux_ext::test {
namespace {

using testing::Syscall;

// Starts each test with every count at zero and the pwait2 probe forgotten,
// and leaves no planned failure behind.
class SyscallWaitTest : public ::testing::Test {
 protected:
  SyscallWaitTest() { testing::forget_pwait2_probe(); }
  ~SyscallWaitTest() override { testing::forget_pwait2_probe(); }

  // An Epoll with one eventfd watched for in, and a wait that filled the
  // ready set, so that tests can see it emptied.
  void SetUp() override {
    ep_.set(efd_.get(), Flags::in);
    poke(efd_.get());
    ASSERT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
    drain(efd_.get());
    counter_.reset();
  }

  Epoll ep_ = make_epoll();
  Fd efd_ = make_eventfd();
  SyscallCounter counter_;
};

TEST_F(SyscallWaitTest, WaitRetriesAfterEintrWithTheTimeLeft) {
  testing::fail(Syscall::epoll_wait, 1, EINTR);
  const auto elapsed = time_of([&] { EXPECT_EQ(ep_.wait(Timeout::after(20ms)), WaitResult::timeout); });
  EXPECT_GE(elapsed, 20ms);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 2);
  EXPECT_EQ(counter_[Syscall::clock_gettime], 2);  // the deadline, then the time left
  EXPECT_EQ(ep_.num_ready(), 0);
}

TEST_F(SyscallWaitTest, UntimedWaitsRetryAfterEintr) {
  testing::fail(Syscall::epoll_wait, 1, EINTR, 3);
  EXPECT_EQ(ep_.wait(Timeout::immediately()), WaitResult::timeout);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 4);
  poke(efd_.get());
  counter_.reset();
  testing::fail(Syscall::epoll_wait, 1, EINTR, 2);
  EXPECT_EQ(ep_.wait(Timeout::never()), WaitResult::ok);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 3);
  EXPECT_EQ(counter_[Syscall::clock_gettime], 0);
  expect_ready(ep_, {{efd_.get(), Flags::in}});
}

TEST_F(SyscallWaitTest, PreciseWaitRetriesAfterEintr) {
  if (!kernel_has_epoll_pwait2()) GTEST_SKIP() << "the kernel has no epoll_pwait2";
  testing::fail(Syscall::epoll_pwait2, 1, EINTR);
  EXPECT_GE(time_of([&] { EXPECT_EQ(ep_.wait(Timeout::after_precise(3ms)), WaitResult::timeout); }), 3ms);
  EXPECT_EQ(counter_[Syscall::epoll_pwait2], 2);
}

TEST_F(SyscallWaitTest, PwaitReturnsInterruptedOnEintr) {
  sigset_t mask;
  sigemptyset(&mask);
  poke(efd_.get());
  ASSERT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
  counter_.reset();
  testing::fail(Syscall::epoll_pwait, 1, EINTR);
  EXPECT_EQ(ep_.pwait(Timeout::never(), mask), WaitResult::interrupted);
  EXPECT_EQ(counter_[Syscall::epoll_pwait], 1);
  EXPECT_EQ(ep_.num_ready(), 0);
  EXPECT_TRUE(ep_.ready().empty());
  // The next pwait sees the fd again.
  EXPECT_EQ(ep_.pwait(Timeout::never(), mask), WaitResult::ok);
}

TEST_F(SyscallWaitTest, EnosysFromEpollPwait2FallsBackToMillisecondsOnce) {
  testing::fail(Syscall::epoll_pwait2, 1, ENOSYS);
  // 1.5 ms precise becomes 2 ms rounded up: the fallback rounds as `after`.
  EXPECT_GE(time_of([&] { EXPECT_EQ(ep_.wait(Timeout::after_precise(1500us)), WaitResult::timeout); }), 2ms);
  EXPECT_EQ(counter_[Syscall::epoll_pwait2], 1);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 1);

  // Decided once: later precise waits go straight to epoll_wait/epoll_pwait.
  counter_.reset();
  poke(efd_.get());
  EXPECT_EQ(ep_.wait(Timeout::after_precise(1s)), WaitResult::ok);
  expect_ready(ep_, {{efd_.get(), Flags::in}});
  sigset_t mask;
  sigemptyset(&mask);
  EXPECT_EQ(ep_.pwait(Timeout::after_precise(1s), mask), WaitResult::ok);
  EXPECT_EQ(counter_[Syscall::epoll_pwait2], 0);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 1);
  EXPECT_EQ(counter_[Syscall::epoll_pwait], 1);

  // Also for another Epoll: the kernel is the same.
  Epoll other = make_epoll();
  counter_.reset();
  EXPECT_EQ(other.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  EXPECT_EQ(counter_[Syscall::epoll_pwait2], 0);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 1);
}

TEST_F(SyscallWaitTest, TheProbeCanBeForgotten) {
  if (!kernel_has_epoll_pwait2()) GTEST_SKIP() << "the kernel has no epoll_pwait2";
  testing::fail(Syscall::epoll_pwait2, 1, ENOSYS);
  EXPECT_EQ(ep_.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  testing::forget_pwait2_probe();
  counter_.reset();
  EXPECT_EQ(ep_.wait(Timeout::after_precise(100us)), WaitResult::timeout);
  EXPECT_EQ(counter_[Syscall::epoll_pwait2], 1);
  EXPECT_EQ(counter_[Syscall::epoll_wait], 0);
}

TEST_F(SyscallWaitTest, OtherFailuresThrowWithTheReadySetEmpty) {
  sigset_t mask;
  sigemptyset(&mask);
  struct Case {
    Syscall call;
    int error;
    std::function<WaitResult()> wait;
  };
  const Case cases[] = {
      {Syscall::epoll_wait, EBADF, [&] { return ep_.wait(Timeout::never()); }},
      {Syscall::epoll_wait, EINVAL, [&] { return ep_.wait(Timeout::after(1s)); }},
      {Syscall::epoll_wait, EFAULT, [&] { return ep_.wait(Timeout::immediately()); }},
      {Syscall::epoll_pwait, EBADF, [&] { return ep_.pwait(Timeout::never(), mask); }},
      {Syscall::epoll_pwait2, EBADF, [&] { return ep_.wait(Timeout::after_precise(1s)); }},
      {Syscall::epoll_pwait2, EINVAL, [&] { return ep_.pwait(Timeout::after_precise(1s), mask); }},
      // A timed wait reads the clock first, for its deadline.
      {Syscall::clock_gettime, EINVAL, [&] { return ep_.wait(Timeout::after(1s)); }},
      {Syscall::clock_gettime, EFAULT, [&] { return ep_.pwait(Timeout::after_precise(1s), mask); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(testing::name(c.call)) + " failing with " + std::to_string(c.error));
    if (c.call == Syscall::epoll_pwait2 && !kernel_has_epoll_pwait2()) continue;
    poke(efd_.get());
    ASSERT_EQ(ep_.wait(Timeout::immediately()), WaitResult::ok);
    ASSERT_EQ(ep_.num_ready(), 1);
    testing::fail(c.call, 1, c.error);
    EXPECT_EQ(errno_thrown([&] { (void)c.wait(); }), c.error);
    EXPECT_EQ(ep_.num_ready(), 0);
    EXPECT_TRUE(ep_.ready().empty());
    // Nothing else is harmed: the next wait works.
    EXPECT_EQ(c.wait(), WaitResult::ok);
    drain(efd_.get());
    expect_consistent(ep_);
  }
}

TEST_F(SyscallWaitTest, AFailedEpollCtlChangesNothing) {
  // ENOMEM and ENOSPC can only be had from the seam.
  Fd other = make_eventfd();
  for (const int error : {ENOMEM, ENOSPC}) {
    testing::fail(Syscall::epoll_ctl, 1, error);
    EXPECT_EQ(errno_thrown([&] { ep_.set(other.get(), Flags::in); }), error);
    EXPECT_EQ(ep_.find(other.get()), std::nullopt);
    testing::fail(Syscall::epoll_ctl, 1, error);
    EXPECT_EQ(errno_thrown([&] { ep_.set(efd_.get(), Flags::out); }), error);
    EXPECT_EQ(ep_.find(efd_.get()), Flags::in);
    expect_consistent(ep_);
  }
}

}  // namespace
}  // namespace linux_ext::test

// Busy polling per epoll set: set_busy_poll and busy_poll against the
// running kernel (the round trip, the EPERM of a process without
// CAP_NET_ADMIN), the checks made before any system call, every errno the
// kernel can answer, injected through the seam (old kernels included), and
// the parameters' life with the instance: moves, resize, fork.

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <system_error>

#include "test_util.h"

namespace linux_ext::test {
namespace {

namespace fi = linux_ext::testing;
using BusyPoll = Epoll::BusyPoll;
using fi::Syscall;

std::string describe(const BusyPoll& p) {
  return "{usecs " + std::to_string(p.usecs.count()) + ", budget " + std::to_string(p.budget) + ", prefer " +
         (p.prefer ? "true" : "false") + "}";
}

// Whether the running kernel has the busy-poll ioctls (Linux 6.9 and later,
// built with CONFIG_NET_RX_BUSY_POLL).
bool kernel_has_busy_poll() {
  try {
    (void)make_epoll().busy_poll();
    return true;
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::operation_not_supported) return false;
    throw;
  }
}

// Whether CAP_NET_ADMIN is in this process's effective set.
bool has_net_admin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  check_sys(static_cast<int>(::syscall(SYS_capget, &header, data)), "capget");
  return (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
}

// Takes CAP_NET_ADMIN out of this process's effective set, which needs no
// privilege; returns whether it worked.
bool drop_net_admin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &= ~CAP_TO_MASK(CAP_NET_ADMIN);
  return ::syscall(SYS_capset, &header, data) == 0;
}

// Every test starts and ends with no planned failure, and skips on a kernel
// without the ioctls (where BusyPollFault still checks the error it gives).
class BusyPollTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fi::reset();
    if (!kernel_has_busy_poll()) GTEST_SKIP() << "this kernel has no busy polling per epoll set (Linux 6.9+)";
  }
  void TearDown() override { fi::reset(); }
};

const BusyPoll kSome{std::chrono::microseconds(50), 16, true};

TEST_F(BusyPollTest, ANewSetHasNoneAndTheParametersRoundTrip) {
  Epoll ep = make_epoll();
  EXPECT_EQ(ep.busy_poll(), BusyPoll{});
  const BusyPoll cases[] = {
      kSome,
      {std::chrono::microseconds(1), 0, false},
      {std::chrono::microseconds(0), 64, true},
      {std::chrono::microseconds(INT32_MAX), 1, false},
      {},
  };
  for (const BusyPoll& params : cases) {
    ep.set_busy_poll(params);
    EXPECT_EQ(ep.busy_poll(), params) << describe(params);
  }
}

TEST_F(BusyPollTest, EachCallIsOneIoctl) {
  Epoll ep = make_epoll();
  SyscallCounter counter;
  ep.set_busy_poll(kSome);
  EXPECT_EQ(counter[Syscall::ioctl], 1);
  (void)ep.busy_poll();
  EXPECT_EQ(counter[Syscall::ioctl], 2);
  EXPECT_EQ(counter.total(), 2) << counter.describe();
}

// Out-of-range arguments: std::invalid_argument naming the field and its
// value, before any system call, and the parameters unchanged.
TEST_F(BusyPollTest, ArgumentsAreCheckedBeforeTheKernelIsAsked) {
  struct Case {
    BusyPoll params;
    std::string message;
  };
  const Case cases[] = {
      {{std::chrono::microseconds(-1), 0, false},
       "Epoll::set_busy_poll: usecs is -1; it must be in [0, 2147483647] microseconds"},
      {{std::chrono::microseconds(std::int64_t{INT32_MAX} + 1), 0, false},
       "Epoll::set_busy_poll: usecs is 2147483648; it must be in [0, 2147483647] microseconds"},
      {{std::chrono::microseconds::min(), 0, false},
       "Epoll::set_busy_poll: usecs is " + std::to_string(std::chrono::microseconds::min().count()) +
           "; it must be in [0, 2147483647] microseconds"},
      {{std::chrono::microseconds(10), 65536, false},
       "Epoll::set_busy_poll: budget is 65536; it must be in [0, 65535]"},
      {{std::chrono::microseconds(10), UINT_MAX, true},
       "Epoll::set_busy_poll: budget is " + std::to_string(UINT_MAX) + "; it must be in [0, 65535]"},
  };
  Epoll ep = make_epoll();
  ep.set_busy_poll(kSome);
  for (const Case& c : cases) {
    SCOPED_TRACE(describe(c.params));
    SyscallCounter counter;
    EXPECT_EQ(what_thrown<std::invalid_argument>([&] { ep.set_busy_poll(c.params); }), c.message);
    EXPECT_EQ(counter.total(), 0) << counter.describe();
    EXPECT_EQ(ep.busy_poll(), kSome);
  }
}

// A budget above 64 without CAP_NET_ADMIN, for real: a child drops the
// capability from its effective set and asks for 65.
TEST_F(BusyPollTest, ABudgetAbove64NeedsCapNetAdmin) {
  const int code = in_child([] {
    if (!drop_net_admin() || has_net_admin()) return 1;
    Epoll ep = Epoll::create(64, 8).value();
    ep.set_busy_poll(kSome);
    try {
      ep.set_busy_poll({std::chrono::microseconds(10), 65, false});
      return 2;
    } catch (const std::system_error& e) {
      if (e.code() != std::error_code(EPERM, std::generic_category())) return 3;
      const std::string what = e.what();
      if (what.find("a budget above 64 (the kernel's NAPI_POLL_WEIGHT) needs CAP_NET_ADMIN") ==
          std::string::npos) {
        std::fprintf(stderr, "child: %s\n", e.what());
        return 4;
      }
    }
    if (ep.busy_poll() != kSome) return 5;
    ep.set_busy_poll({std::chrono::microseconds(10), 64, false});  // 64 needs nothing
    return 0;
  });
  EXPECT_EQ(code, 0) << "1: could not drop CAP_NET_ADMIN, 2: no error, 3: not EPERM, 4: the message, "
                        "5: the parameters changed";
  if (!has_net_admin()) GTEST_SKIP() << "without CAP_NET_ADMIN here, a budget above 64 cannot be tried";
  Epoll ep = make_epoll();
  const BusyPoll large{std::chrono::microseconds(10), 65535, false};
  ep.set_busy_poll(large);
  EXPECT_EQ(ep.busy_poll(), large);
}

TEST_F(BusyPollTest, AMoveCarriesTheParameters) {
  Epoll ep = make_epoll();
  ep.set_busy_poll(kSome);
  Epoll moved(std::move(ep));
  EXPECT_EQ(moved.busy_poll(), kSome);
  Epoll assigned = make_epoll();
  assigned = std::move(moved);
  EXPECT_EQ(assigned.busy_poll(), kSome);
  EXPECT_THROW((void)moved.busy_poll(), std::logic_error);  // NOLINT(bugprone-use-after-move)
}

TEST_F(BusyPollTest, ResizeKeepsTheParameters) {
  Epoll ep = make_epoll(64, 8);
  ep.set_busy_poll(kSome);
  ep.resize(4096, 256);
  EXPECT_EQ(ep.busy_poll(), kSome);
  ep.resize(16, 1);
  EXPECT_EQ(ep.busy_poll(), kSome);
}

TEST_F(BusyPollTest, AClosedSetRefusesBoth) {
  Epoll ep = make_epoll();
  ep.close();
  EXPECT_NE(what_thrown<std::logic_error>([&] { ep.set_busy_poll(kSome); }).find("closed"),
            std::string::npos);
  EXPECT_NE(what_thrown<std::logic_error>([&] { (void)ep.busy_poll(); }).find("closed"), std::string::npos);
}

// The parameters belong to the instance, which after_fork replaces in the
// child: the child's new instance gets the parent's parameters, and the
// parent's instance keeps them.
TEST_F(BusyPollTest, AfterForkSetsThemOnTheChildsNewInstance) {
  Pipe p = make_pipe();
  Epoll ep = make_epoll();
  ep.set(p.read.get(), Flags::in);
  ep.set_busy_poll(kSome);
  const int code = in_child([&] {
    // Before after_fork, the child may read the parent's parameters but
    // not change them.
    if (ep.busy_poll() != kSome) return 1;
    try {
      ep.set_busy_poll({});
      return 2;
    } catch (const std::logic_error& e) {
      if (std::string(e.what()).find("after_fork") == std::string::npos) return 3;
    }
    ep.after_fork();
    if (ep.busy_poll() != kSome) return 4;
    ep.set_busy_poll({});  // the child's own, now
    return ep.busy_poll() == BusyPoll{} ? 0 : 5;
  });
  EXPECT_EQ(code, 0) << "1: the child cannot read them, 2 and 3: it may change the parent's, "
                        "4: the new instance did not get them";
  EXPECT_EQ(ep.busy_poll(), kSome) << "the parent's instance";
}

// Where the new instance refuses them (EPERM: the child dropped
// CAP_NET_ADMIN, and the parent's budget is above 64), after_fork throws
// that errno, once every fd was registered.
TEST_F(BusyPollTest, AfterForkThrowsWhenTheChildsInstanceRefusesThem) {
  if (!has_net_admin()) GTEST_SKIP() << "a budget above 64 needs CAP_NET_ADMIN in the parent";
  Pipe a = make_pipe();
  Pipe b = make_pipe();
  Epoll ep = make_epoll();
  ep.set(a.read.get(), Flags::in);
  ep.set(b.read.get(), Flags::in);
  ep.set_busy_poll({std::chrono::microseconds(10), 100, false});
  const int code = in_child([&] {
    if (!drop_net_admin()) return 1;
    try {
      ep.after_fork();
      return 2;
    } catch (const std::system_error& e) {
      if (e.code() != std::error_code(EPERM, std::generic_category())) return 3;
    }
    if (ep.size() != 2) return 4;
    ep.check_against_kernel();
    return 0;
  });
  EXPECT_EQ(code, 0) << "2: no error, 3: not EPERM, 4: fds missing";
}

// --- the kernel's refusals, injected --------------------------------------

class BusyPollFault : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override { fi::reset(); }
  void TearDown() override { fi::reset(); }
};

// A kernel without the ioctls: ENOTTY or EINVAL before 6.9, EOPNOTSUPP
// without CONFIG_NET_RX_BUSY_POLL. Both calls say so as
// operation_not_supported, naming Linux 6.9 and what the kernel answered;
// where the running kernel has them, the parameters stay as they were.
TEST_P(BusyPollFault, AKernelWithoutTheIoctlsIsOperationNotSupported) {
  const int error = GetParam();
  Epoll ep = make_epoll();
  const bool real_kernel_has_it = kernel_has_busy_poll();
  if (real_kernel_has_it) ep.set_busy_poll(kSome);
  for (const bool setting : {true, false}) {
    SCOPED_TRACE(setting ? "set_busy_poll" : "busy_poll");
    fi::fail(Syscall::ioctl, 1, error);
    const std::optional<std::system_error> e = thrown<std::system_error>([&] {
      if (setting) {
        ep.set_busy_poll(kSome);
      } else {
        (void)ep.busy_poll();
      }
    });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), std::errc::operation_not_supported) << e->what();
    const std::string what = e->what();
    EXPECT_NE(what.find("Linux 6.9"), std::string::npos) << what;
    EXPECT_NE(what.find("it answered " + errno_name(error)), std::string::npos) << what;
    if (real_kernel_has_it) {
      EXPECT_EQ(ep.busy_poll(), kSome) << "the parameters changed";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Errnos, BusyPollFault, ::testing::Values(ENOTTY, EINVAL, EOPNOTSUPP),
                         [](const auto& p) { return errno_name(p.param); });

// Any other refusal passes through with its errno, and EPERM names the
// capability only when the budget asked for needs it. The parameters are
// unchanged after each.
TEST_F(BusyPollTest, OtherRefusalsPassThroughAndChangeNothing) {
  struct Case {
    int error;
    unsigned budget;
    bool names_capability;
  };
  const Case cases[] = {
      {EPERM, 65, true}, {EPERM, 64, false}, {EBADF, 8, false}, {EFAULT, 8, false}, {ENOMEM, 8, false}};
  Epoll ep = make_epoll();
  ep.set_busy_poll(kSome);
  for (const Case& c : cases) {
    SCOPED_TRACE(errno_name(c.error) + ", budget " + std::to_string(c.budget));
    fi::fail(Syscall::ioctl, 1, c.error);
    const std::optional<std::system_error> e = thrown<std::system_error>([&] {
      ep.set_busy_poll({std::chrono::microseconds(7), c.budget, false});
    });
    ASSERT_TRUE(e);
    EXPECT_EQ(e->code(), std::error_code(c.error, std::generic_category()));
    const std::string what = e->what();
    EXPECT_EQ(what.rfind("Epoll::set_busy_poll: ioctl(EPIOCSPARAMS, usecs 7, budget " +
                             std::to_string(c.budget) + ", prefer false)",
                         0),
              0U)
        << what;
    EXPECT_EQ(what.find("CAP_NET_ADMIN") != std::string::npos, c.names_capability) << what;
    EXPECT_EQ(ep.busy_poll(), kSome);
  }
}

// after_fork on a kernel without the ioctls: nothing to copy, no error.
TEST_F(BusyPollTest, AfterForkWithoutTheIoctlsCopiesNothing) {
  Pipe p = make_pipe();
  Epoll ep = make_epoll();
  ep.set(p.read.get(), Flags::in);
  const int code = in_child([&] {
    fi::fail(Syscall::ioctl, 1, ENOTTY, -1);
    ep.after_fork();
    fi::reset();
    ep.check_against_kernel();
    return ep.size() == 1 && ep.busy_poll() == BusyPoll{} ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace linux_ext::test

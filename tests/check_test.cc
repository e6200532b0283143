// invariant() and check_against_kernel(): they pass in every normal state,
// and check_against_kernel names every fd where the table and the kernel
// part ways.

#include <linux/capability.h>
#include <sys/epoll.h>

#include <string>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// The message of check_against_kernel's failure; fails the test if it passes.
std::string disagreement(const Epoll& ep) {
  return what_thrown<std::logic_error>([&] { ep.check_against_kernel(); });
}

// Whether `message` has a line about `fd`.
bool names_fd(const std::string& message, int fd) {
  return message.find("fd " + std::to_string(fd) + ":") != std::string::npos;
}

void raw_ctl(int epoll_fd, int op, int fd, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  check_sys(::epoll_ctl(epoll_fd, op, fd, &event), "epoll_ctl");
}

TEST(CheckTest, PassInEveryNormalState) {
  Epoll ep = make_epoll(1024, 2);
  expect_consistent(ep);  // empty
  Pipe p = make_pipe();
  auto [s1, s2] = make_socketpair();
  Fd e = make_eventfd();
  ep.set(p.read.get(), Flags::in);
  ep.set(p.write.get(), Flags::out + Flags::et);
  ep.set(s1.get(), Flags::in + Flags::out + Flags::rdhup + Flags::pri);
  ep.set(e.get(), Flags::in + Flags::oneshot);
  ep.set(s2.get(), Flags::none);
  expect_consistent(ep);
  ep.set(s2.get(), Flags::in + Flags::err + Flags::hup);  // err/hup asked for explicitly
  expect_consistent(ep);
  poke(e.get());
  poke(s2.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  EXPECT_EQ(ep.num_ready(), 2);  // at max_ready_events
  expect_consistent(ep);
  ep.clear_ready();
  expect_consistent(ep);
  ep.remove(p.read.get());
  expect_consistent(ep);
  ep.close();
  expect_consistent(ep);  // closed: invariant passes
}

TEST(CheckTest, ToleratesAFiredOneshot) {
  Epoll ep = make_epoll();
  for (const Flags flags : {Flags::in + Flags::oneshot, Flags::in + Flags::oneshot + Flags::et,
                            Flags::in + Flags::out + Flags::oneshot + Flags::rdhup}) {
    SCOPED_TRACE(flags.to_string());
    Fd e = make_eventfd(1);
    ep.set(e.get(), flags);
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    // The kernel has disarmed the entry: only its private bits remain.
    EXPECT_NE(kernel_flags(ep.fd(), e.get()), flags + Flags::err + Flags::hup);
    expect_consistent(ep);
    ep.remove(e.get());
  }
}

TEST(CheckTest, ToleratesTheKernelsErrAndHup) {
  Epoll ep = make_epoll();
  Pipe p = make_pipe();
  ep.set(p.read.get(), Flags::in);
  p.write.reset();  // the read end hangs up
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  expect_consistent(ep);
}

TEST(CheckTest, ToleratesWakeup) {
  // Kept with CAP_BLOCK_SUSPEND, dropped by the kernel without it: both pass.
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  ep.set(e.get(), Flags::in + Flags::wakeup);
  expect_consistent(ep);
}

TEST(CheckTest, ToleratesWakeupDroppedForWantOfCapBlockSuspend) {
  // A child gives up CAP_BLOCK_SUSPEND; the kernel then drops wakeup from
  // what it holds, and the table keeps it: not a disagreement.
  const int code = exit_code_in_child([] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return 10;
    data[CAP_TO_INDEX(CAP_BLOCK_SUSPEND)].effective &= ~CAP_TO_MASK(CAP_BLOCK_SUSPEND);
    if (::syscall(SYS_capset, &header, data) != 0) return 11;
    OrError<Epoll> created = Epoll::create(1024, 8);
    if (!created) return 12;
    const int efd = ::eventfd(0, EFD_CLOEXEC);
    created->set(efd, Flags::in + Flags::wakeup);
    const std::optional<Flags> held = kernel_flags(created->fd(), efd);
    if (!held || held->do_intersect(Flags::wakeup)) return 13;
    if (created->find(efd) != Flags::in + Flags::wakeup) return 14;
    try {
      created->check_against_kernel();
    } catch (const std::exception&) {
      return 15;
    }
    return 0;
  });
  EXPECT_EQ(code, 0) << "10/11: capget/capset failed, 12: create failed, 13: the kernel kept "
                        "wakeup, 14: the table lost it, 15: check_against_kernel complained";
}

TEST(CheckTest, DetectsAnFdClosedWhileInTheSet) {
  Epoll ep = make_epoll();
  Fd kept = make_eventfd();
  Fd closed = make_eventfd();
  ep.set(kept.get(), Flags::in);
  ep.set(closed.get(), Flags::in);
  const int number = closed.get();
  closed.reset();  // the kernel drops the entry; the table cannot know
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, number)) << message;
  EXPECT_FALSE(names_fd(message, kept.get())) << message;
  EXPECT_NO_THROW(ep.invariant());  // the object itself is consistent
}

TEST(CheckTest, DetectsAnFdClosedWhileADupKeepsTheKernelsEntry) {
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  ep.set(e.get(), Flags::in);
  Fd dup(::dup(e.get()));
  const int number = e.get();
  e.reset();
  ASSERT_TRUE(kernel_flags(ep.fd(), number).has_value()) << "the dup should keep the kernel's entry";
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, number)) << message;
  EXPECT_NE(message.find("closed"), std::string::npos) << message;
}

TEST(CheckTest, DetectsAnFdNumberThatNowNamesAnotherFile) {
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  ep.set(e.get(), Flags::in);
  Fd dup(::dup(e.get()));  // keeps the watched file, and so the kernel's entry
  Fd other = make_eventfd();
  ASSERT_EQ(::dup2(other.get(), e.get()), e.get());
  ASSERT_TRUE(kernel_flags(ep.fd(), e.get()).has_value());
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, e.get())) << message;
  EXPECT_NE(message.find("another file"), std::string::npos) << message;
}

TEST(CheckTest, DetectsAnEntryAddedBehindTheTablesBack) {
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  raw_ctl(ep.fd(), EPOLL_CTL_ADD, e.get(), EPOLLIN);
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, e.get())) << message;
  EXPECT_NE(message.find("not in the table"), std::string::npos) << message;
}

TEST(CheckTest, DetectsFlagsChangedBehindTheTablesBack) {
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  ep.set(e.get(), Flags::in);
  raw_ctl(ep.fd(), EPOLL_CTL_MOD, e.get(), EPOLLOUT);
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, e.get())) << message;
  EXPECT_NE(message.find("(out"), std::string::npos) << message;
}

TEST(CheckTest, DetectsAnEntryDeletedBehindTheTablesBack) {
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  ep.set(e.get(), Flags::in);
  raw_ctl(ep.fd(), EPOLL_CTL_DEL, e.get(), 0);
  EXPECT_TRUE(names_fd(disagreement(ep), e.get()));
}

TEST(CheckTest, ListsEveryDisagreeingFd) {
  Epoll ep = make_epoll();
  Fd fine = make_eventfd();
  Fd closed = make_eventfd();
  Fd behind = make_eventfd();
  Fd changed = make_eventfd();
  ep.set(fine.get(), Flags::in);
  ep.set(closed.get(), Flags::in);
  ep.set(changed.get(), Flags::in);
  const int closed_number = closed.get();
  closed.reset();
  raw_ctl(ep.fd(), EPOLL_CTL_ADD, behind.get(), EPOLLIN);
  raw_ctl(ep.fd(), EPOLL_CTL_MOD, changed.get(), EPOLLOUT);
  const std::string message = disagreement(ep);
  EXPECT_TRUE(names_fd(message, closed_number)) << message;
  EXPECT_TRUE(names_fd(message, behind.get())) << message;
  EXPECT_TRUE(names_fd(message, changed.get())) << message;
  EXPECT_FALSE(names_fd(message, fine.get())) << message;
}

TEST(CheckTest, RecoversOnceTheTableIsPutRight) {
  // After the closed fd is removed (EBADF, entry gone) they agree again.
  Epoll ep = make_epoll();
  Fd e = make_eventfd();
  const int number = e.get();
  ep.set(number, Flags::in);
  e.reset();
  EXPECT_THROW(ep.check_against_kernel(), std::logic_error);
  EXPECT_EQ(errno_thrown([&] { ep.remove(number); }), EBADF);
  expect_consistent(ep);
}

}  // namespace
}  // namespace linux_ext::test

// After fork: a child gets a set of its own with
// after_fork(), the parent's set is untouched, refused fds are named and
// leave the table, and a child that forgets is told so. Each test forks for
// real; the child reports through its exit code, one code per check.

#include <sys/wait.h>

#include "test_util.h"

namespace linux_ext::test {
namespace {

TEST(ForkTest, TheChildGetsASetOfItsOwnAndTheParentsIsUntouched) {
  Pipe a = make_pipe();
  Pipe b = make_pipe();
  Epoll ep = make_epoll();
  ep.set(a.read.get(), Flags::in);
  ep.set(b.read.get(), Flags::in + Flags::et);
  const int parent_epoll_fd = ep.fd();
  const auto parent_kernel = kernel_entries(parent_epoll_fd);

  const int code = in_child([&] {
    ep.after_fork();
    if (ep.size() != 2) return 1;
    if (ep.find(a.read.get()) != Flags::in || ep.find(b.read.get()) != Flags::in + Flags::et) return 2;
    ep.check_against_kernel();  // the child's new set mirrors its table
    // Changes in the child reach only the child's set.
    ep.remove(a.read.get());
    ep.set(b.read.get(), Flags::in);
    ep.check_against_kernel();
    poke(b.write.get());
    if (ep.wait(Timeout::immediately()) != WaitResult::ok || ep.num_ready() != 1) return 3;
    return 0;
  });
  EXPECT_EQ(code, 0);
  // The parent's kernel set, read from its own fdinfo, is as it was.
  EXPECT_EQ(kernel_entries(parent_epoll_fd).size(), parent_kernel.size());
  EXPECT_EQ(kernel_flags(parent_epoll_fd, a.read.get()), Flags::in + Flags::err + Flags::hup);
  EXPECT_EQ(kernel_flags(parent_epoll_fd, b.read.get()), Flags::in + Flags::et + Flags::err + Flags::hup);
  expect_consistent(ep);
}

TEST(ForkTest, FdsTheChildClosedAreNamedAndLeaveTheTable) {
  Pipe kept = make_pipe();
  Pipe closed = make_pipe();
  Epoll ep = make_epoll();
  ep.set(kept.read.get(), Flags::in);
  ep.set(closed.read.get(), Flags::out);
  const int closed_fd = closed.read.get();

  const int code = in_child([&] {
    closed.read.reset();  // closed in the child only
    try {
      ep.after_fork();
      return 1;  // the refusal must be reported
    } catch (const std::system_error& e) {
      // EBADF, or EINVAL when the new set took the closed fd's number.
      if (e.code().value() != EBADF && e.code().value() != EINVAL) {
        std::fprintf(stderr, "child: %s\n", e.what());
        return 2;
      }
      if (std::string(e.what()).find("fd " + std::to_string(closed_fd)) == std::string::npos) return 3;
    }
    // The table holds exactly what the new set holds.
    if (ep.size() != 1 || ep.find(closed_fd).has_value() || !ep.find(kept.read.get())) return 4;
    ep.check_against_kernel();
    ep.after_fork();  // the set is the child's own now: nothing to do
    return 0;
  });
  EXPECT_EQ(code, 0);
  EXPECT_EQ(ep.size(), 2U);
  expect_consistent(ep);
}

TEST(ForkTest, AChildThatForgetsIsToldAndLeavesTheParentsSetAlone) {
  Pipe p = make_pipe();
  Pipe other = make_pipe();
  Epoll ep = make_epoll();
  ep.set(p.read.get(), Flags::in);
  const int parent_pid = ::getpid();

  const int code = in_child([&] {
    const std::string child_pid = std::to_string(::getpid());
    auto names_both = [&](const std::string& what) {
      return what.find(std::to_string(parent_pid)) != std::string::npos &&
             what.find(child_pid) != std::string::npos && what.find("after_fork") != std::string::npos;
    };
    sigset_t mask;
    sigemptyset(&mask);
    int check = 1;
    for (const auto& operation : std::vector<std::function<void()>>{
             [&] { ep.set(other.read.get(), Flags::in); },
             [&] { ep.set(p.read.get(), Flags::in); },  // unchanged flags too
             [&] { ep.remove(p.read.get()); },
             [&] { ep.wait(Timeout::immediately()); },
             [&] { ep.wait_timeout_after(std::chrono::milliseconds(1)); },
             [&] { ep.pwait(Timeout::immediately(), mask); },
         }) {
      try {
        operation();
        return check;
      } catch (const std::logic_error& e) {
        if (!names_both(e.what())) return 10 + check;
      }
      ++check;
    }
    // Reading, printing and closing are allowed.
    if (ep.find(p.read.get()) != Flags::in || ep.size() != 1) return 20;
    if (ep.to_sexp().find("(in)") == std::string::npos) return 21;
    ep.close();
    return 0;
  });
  EXPECT_EQ(code, 0);
  // The child closed its copy of the epoll fd; the parent's set is intact.
  EXPECT_EQ(kernel_flags(ep.fd(), p.read.get()), Flags::in + Flags::err + Flags::hup);
  EXPECT_FALSE(kernel_flags(ep.fd(), other.read.get()).has_value());
  expect_consistent(ep);
}

TEST(ForkTest, AfterForkInTheParentDoesNothing) {
  Pipe p = make_pipe();
  Epoll ep = make_epoll();
  ep.set(p.read.get(), Flags::in);
  const int epoll_fd = ep.fd();
  poke(p.write.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ep.after_fork();
  EXPECT_EQ(ep.fd(), epoll_fd);
  EXPECT_EQ(ep.num_ready(), 1);  // not even the ready set changes
  expect_consistent(ep);
}

TEST(ForkTest, ASetMadeInTheChildNeedsNoAfterFork) {
  const int code = in_child([&] {
    Pipe p = make_pipe();
    Epoll ep = make_epoll();
    ep.set(p.read.get(), Flags::in);
    const int epoll_fd = ep.fd();
    ep.after_fork();
    return ep.fd() == epoll_fd ? 0 : 1;
  });
  EXPECT_EQ(code, 0);
}

}  // namespace
}  // namespace linux_ext::test

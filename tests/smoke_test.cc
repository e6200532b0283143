#include <linux_ext/epoll.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <iostream>
using namespace linux_ext;
TEST(Smoke, Basic) {
  auto ep = Epoll::create(1024, 16).value();
  int p[2]; ASSERT_EQ(pipe(p), 0);
  ep.set(p[0], Epoll::Flags::in);
  ep.set(p[1], Epoll::Flags::out);
  std::cout << ep << "\n";
  EXPECT_EQ(ep.wait(Epoll::Timeout::immediately()), Epoll::WaitResult::ok);
  std::cout << ep << "\n";
  ep.check_against_kernel();
  ep.invariant();
  for (auto [fd, flags] : ep.ready()) std::cout << fd << " " << flags << "\n";
}

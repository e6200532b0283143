// A child forked while another thread makes the process's first set, and so
// registers the library's fork handler, still makes sets of its own. This
// program makes the registration slow, by interposing glibc's
// __register_atfork (which pthread_atfork calls), so that the fork lands in
// the middle of it every time.

#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "test_util.h"

namespace {

// Set once a registration began.
std::atomic<bool> registering{false};

}  // namespace

extern "C" int __register_atfork(void (*prepare)(), void (*parent)(), void (*child)(), void* dso) {
  using Register = int (*)(void (*)(), void (*)(), void (*)(), void*);
  static const auto real = reinterpret_cast<Register>(::dlsym(RTLD_NEXT, "__register_atfork"));
  registering = true;
  ::usleep(200'000);
  return real(prepare, parent, child, dso);
}

namespace linux_ext::test {
namespace {

TEST(ForkFirstCreateTest, AChildForkedDuringTheFirstCreateMakesSetsOfItsOwn) {
  std::thread first([] { EXPECT_TRUE(Epoll::create(16, 4).has_value()); });
  while (!registering) ::usleep(1000);
  // A child that inherited the registration half done would hang in its
  // create, and be killed.
  EXPECT_EQ(exit_code_in_child([] { return Epoll::create(16, 4).has_value() ? 0 : 1; }), 0);
  first.join();
}

}  // namespace
}  // namespace linux_ext::test

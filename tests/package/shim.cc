// The C++ side of the C consumer (main.c): a C program reaches linux_ext
// through a wrapper like this one, compiled as C++, and no exception crosses
// into C.

#include "shim.h"

#include <linux_ext/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>

extern "C" int linux_ext_shim_wait_eventfd(void) {
  using linux_ext::Epoll;
  const int event_fd = eventfd(1, EFD_CLOEXEC);
  if (event_fd < 0) {
    std::perror("eventfd");
    return -1;
  }
  int result = -1;
  try {
    Epoll ep = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
    ep.set(event_fd, Epoll::Flags::in);
    if (ep.wait_timeout_after(std::chrono::seconds(10)) == Epoll::WaitResult::ok) result = ep.num_ready();
    ep.remove(event_fd);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "linux_ext: %s\n", e.what());
  }
  close(event_fd);
  return result;
}

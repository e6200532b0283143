// nesting: an Epoll watched from another event loop.
//
// An epoll fd is itself pollable: it is readable when its own set has a ready
// event. So a library that runs its own Epoll can hand `fd()` to whatever loop
// the application already has, and run `wait(Timeout::immediately())` when
// that loop says the fd is readable. Shown twice: with a second Epoll as the
// outer loop, and with libuv's `uv_poll_t` when libuv was found at build time.

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "example_util.h"
#include "linux_ext/epoll.h"

#ifdef LINUX_EXT_EXAMPLE_HAVE_LIBUV
#include <uv.h>
#endif

using linux_ext::Epoll;

namespace {

// The inner loop: one pipe watched by its own Epoll.
struct Inner {
  Epoll ep = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
  int pipe_fds[2] = {-1, -1};

  Inner() {
    example::check(pipe2(pipe_fds, O_NONBLOCK | O_CLOEXEC), "pipe2");
    ep.set(pipe_fds[0], Epoll::Flags::in);
  }
  ~Inner() {
    ep.close();
    close(pipe_fds[0]);
    close(pipe_fds[1]);
  }

  void send(const char* text) {
    example::check(write(pipe_fds[1], text, std::char_traits<char>::length(text)), "write");
  }

  // What the inner loop does when the outer one says its fd is readable:
  // poll its own set and handle what is ready.
  void on_readable() {
    ep.wait(Epoll::Timeout::immediately());
    for (auto [fd, flags] : ep.ready()) {
      char buffer[64];
      const long n = example::check(read(fd, buffer, sizeof buffer), "read");
      std::printf("  inner Epoll: the pipe is ready %s, read \"%.*s\"\n", flags.to_string().c_str(),
                  static_cast<int>(n), buffer);
    }
  }
};

void nest_in_epoll() {
  Inner inner;
  auto outer = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
  outer.set(inner.ep.fd(), Epoll::Flags::in);
  inner.send("hello");
  outer.wait(Epoll::Timeout::never());
  for (auto [fd, flags] : outer.ready()) {
    if (fd != inner.ep.fd()) continue;
    std::printf("second Epoll: the inner Epoll's fd is ready %s\n", flags.to_string().c_str());
    inner.on_readable();
  }
  // Drained: the inner fd is no longer readable, so the outer loop is quiet.
  outer.wait(Epoll::Timeout::immediately());
  std::printf("second Epoll: %d events once the inner set is drained\n", outer.num_ready());
  // `inner` closes its epoll fd when it goes, so that fd leaves this set first.
  outer.remove(inner.ep.fd());
}

#ifdef LINUX_EXT_EXAMPLE_HAVE_LIBUV
void on_uv_readable(uv_poll_t* handle, int status, int events) {
  auto* inner = static_cast<Inner*>(handle->data);
  std::printf("libuv: the inner Epoll's fd is %s\n",
              status == 0 && (events & UV_READABLE) != 0 ? "readable" : "in error");
  inner->on_readable();
  uv_poll_stop(handle);
  uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
}

void nest_in_libuv() {
  Inner inner;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_poll_t poll;
  uv_poll_init(&loop, &poll, inner.ep.fd());
  poll.data = &inner;
  uv_poll_start(&poll, UV_READABLE, on_uv_readable);
  inner.send("from libuv");
  uv_run(&loop, UV_RUN_DEFAULT);  // returns once the poll handle is closed
  uv_loop_close(&loop);
}
#endif

}  // namespace

int main() {
  nest_in_epoll();
#ifdef LINUX_EXT_EXAMPLE_HAVE_LIBUV
  nest_in_libuv();
#else
  std::printf("libuv: not built (libuv was not found)\n");
#endif
  return 0;
}

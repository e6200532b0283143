// A program that uses linux_ext the way any user's would, built against the
// library by each of the four ways to consume it (see run.sh): create an
// Epoll, watch a pipe, wait for it, print the set.

#include <linux_ext/epoll.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

int main() {
  using linux_ext::Epoll;
  auto created = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8);
  if (!created) {
    std::fprintf(stderr, "create: %s\n", created.error().message().c_str());
    return 1;
  }
  Epoll ep = std::move(created).value();
  int fds[2];
  if (pipe(fds) != 0) return 1;
  ep.set(fds[0], Epoll::Flags::in);
  if (write(fds[1], "x", 1) != 1) return 1;
  if (ep.wait_timeout_after(std::chrono::seconds(10)) != Epoll::WaitResult::ok) {
    std::fprintf(stderr, "the pipe was not reported ready\n");
    return 1;
  }
  bool pipe_ready = false;
  for (auto [fd, flags] : ep.ready()) pipe_ready = pipe_ready || (fd == fds[0] && flags == Epoll::Flags::in);
  std::printf("%s\n", ep.to_sexp().c_str());
  ep.check_against_kernel();
  return pipe_ready ? 0 : 1;
}

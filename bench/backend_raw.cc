// Raw epoll: the hand-written direct loop every other backend is measured
// against, and the physical limit of a wrapper.

#include <sys/epoll.h>
#include <unistd.h>

#include "backend.h"

namespace bench {
namespace {

class RawBackend final : public Backend {
 public:
  const char* name() const override { return "raw epoll"; }

  void open(int, OnReady on_ready, void* context) override {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    check_sys(epoll_fd_ >= 0, "epoll_create1");
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override { ::close(epoll_fd_); }

  // Forced inline, so that `churn_with` makes the calls as a program's own
  // loop would, with no call of the backend's own around each.
  [[gnu::always_inline]] void add(int fd) override { control(EPOLL_CTL_ADD, fd, EPOLLIN); }
  [[gnu::always_inline]] void modify(int fd, bool write) override {
    control(EPOLL_CTL_MOD, fd, write ? EPOLLIN | EPOLLOUT : EPOLLIN);
  }
  [[gnu::always_inline]] void remove(int fd) override { control(EPOLL_CTL_DEL, fd, 0); }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override { wait_and_walk(0); }
  void run_once_with_timeout() override { wait_and_walk(static_cast<int>(kWaitTimeout.count())); }

  void sleep(std::chrono::nanoseconds span) override {
    // epoll_wait counts whole milliseconds: round up, never wake early.
    const auto millis = std::chrono::ceil<std::chrono::milliseconds>(span);
    ::epoll_wait(epoll_fd_, events_, kMaxReadyEvents, static_cast<int>(millis.count()));
  }

 private:
  // Inline in both callers, so that each passes epoll_wait a constant, as a
  // hand-written loop does.
  [[gnu::always_inline]] void wait_and_walk(int timeout_ms) {
    const int n = ::epoll_wait(epoll_fd_, events_, kMaxReadyEvents, timeout_ms);
    for (int i = 0; i < n; ++i) on_ready_(context_, events_[i].data.fd);
  }
  void control(int op, int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    check_sys(::epoll_ctl(epoll_fd_, op, fd, &event) == 0, "epoll_ctl");
  }

  int epoll_fd_ = -1;
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
  epoll_event events_[kMaxReadyEvents];
};

}  // namespace

std::unique_ptr<Backend> make_raw_backend() { return std::make_unique<RawBackend>(); }

}  // namespace bench

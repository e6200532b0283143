// linux_ext::Epoll: the table-mirroring wrapper, used as its header shows.

#include <linux_ext/epoll.h>

#include <optional>

#include "backend.h"

namespace bench {
namespace {

using linux_ext::Epoll;
using Flags = Epoll::Flags;

class LinuxExtBackend final : public Backend {
 public:
  explicit LinuxExtBackend(bool precise_timeouts) : precise_timeouts_(precise_timeouts) {}

  const char* name() const override {
    return precise_timeouts_ ? "linux_ext after_precise" : "linux_ext::Epoll";
  }

  void open(int fd_limit, OnReady on_ready, void* context) override {
    epoll_.emplace(Epoll::create(fd_limit, kMaxReadyEvents).value());
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override { epoll_.reset(); }

  // Forced inline, so that `churn_with` makes the calls as a program's own
  // loop would, with no call of the backend's own around each.
  [[gnu::always_inline]] void add(int fd) override { epoll_->set(fd, Flags::in); }
  [[gnu::always_inline]] void modify(int fd, bool write) override {
    epoll_->set(fd, write ? Flags::in + Flags::out : Flags::in);
  }
  [[gnu::always_inline]] void remove(int fd) override { epoll_->remove(fd); }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override { wait_and_walk(Epoll::Timeout::immediately()); }
  void run_once_with_timeout() override {
    // Two calls, each made with a constant, as a program would write them.
    if (precise_timeouts_) {
      wait_and_walk(Epoll::Timeout::after_precise(kWaitTimeout));
    } else {
      wait_and_walk(Epoll::Timeout::after(kWaitTimeout));
    }
  }

  void sleep(std::chrono::nanoseconds span) override {
    epoll_->wait(precise_timeouts_ ? Epoll::Timeout::after_precise(span) : Epoll::Timeout::after(span));
  }

 private:
  // Inline in every caller, so that each passes `wait` a Timeout whose kind
  // is known at compile time, as at a call site in a program.
  [[gnu::always_inline]] void wait_and_walk(Epoll::Timeout timeout) {
    epoll_->wait(timeout);
    epoll_->iter_ready([this](int fd, Flags) { on_ready_(context_, fd); });
  }

  bool precise_timeouts_;
  std::optional<Epoll> epoll_;
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_linux_ext_backend(bool precise_timeouts) {
  return std::make_unique<LinuxExtBackend>(precise_timeouts);
}

}  // namespace bench

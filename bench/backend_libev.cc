// libev: one ev_io watcher per fd and ev_run(EVRUN_NOWAIT), on its epoll
// backend, as libev's manual and its own copy of bench.c use it.

#include <ev.h>

#include <memory>

#include "backend.h"

namespace bench {
namespace {

class LibevBackend final : public Backend {
 public:
  const char* name() const override { return "libev"; }

  void open(int fd_limit, OnReady on_ready, void* context) override {
    loop_ = ev_loop_new(static_cast<unsigned>(EVBACKEND_EPOLL) | static_cast<unsigned>(EVFLAG_NOENV));
    check_sys(loop_ != nullptr, "ev_loop_new");
    watchers_ = std::make_unique<ev_io[]>(static_cast<std::size_t>(fd_limit));
    ev_init(&deadline_, on_timer);
    deadline_.repeat = std::chrono::duration<double>(kWaitTimeout).count();
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override {
    ev_timer_stop(loop_, &deadline_);
    ev_loop_destroy(loop_);
    watchers_.reset();
  }

  void add(int fd) override {
    ev_io* w = &watchers_[static_cast<std::size_t>(fd)];
    ev_io_init(w, on_io, fd, EV_READ);
    w->data = this;
    ev_io_start(loop_, w);
  }
  void modify(int fd, bool write) override {
    // A watcher changes only while stopped; libev coalesces the change.
    ev_io* w = &watchers_[static_cast<std::size_t>(fd)];
    ev_io_stop(loop_, w);
    ev_io_modify(w, write ? EV_READ | EV_WRITE : EV_READ);
    ev_io_start(loop_, w);
  }
  void remove(int fd) override { ev_io_stop(loop_, &watchers_[static_cast<std::size_t>(fd)]); }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override { ev_run(loop_, EVRUN_NOWAIT); }
  void run_once_with_timeout() override {
    // The manual's idiom for a timeout that restarts: ev_timer_again sets
    // the timer `repeat` after the loop's time, without reading the clock.
    ev_timer_again(loop_, &deadline_);
    ev_run(loop_, EVRUN_ONCE);
  }

  void sleep(std::chrono::nanoseconds span) override {
    ev_timer timer;
    ev_now_update(loop_);  // time the timer from now, not from the last iteration
    ev_timer_init(&timer, on_timer, std::chrono::duration<double>(span).count(), 0.);
    ev_timer_start(loop_, &timer);
    ev_run(loop_, EVRUN_ONCE);
    ev_timer_stop(loop_, &timer);
  }

 private:
  static void on_io(struct ev_loop*, ev_io* w, int) {
    auto* self = static_cast<LibevBackend*>(w->data);
    self->on_ready_(self->context_, w->fd);
  }
  static void on_timer(struct ev_loop*, ev_timer*, int) {}

  struct ev_loop* loop_ = nullptr;
  std::unique_ptr<ev_io[]> watchers_;
  ev_timer deadline_{};  // run_once_with_timeout's
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_libev_backend() { return std::make_unique<LibevBackend>(); }

}  // namespace bench

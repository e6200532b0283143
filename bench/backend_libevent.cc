// libevent: one persistent event (EV_READ | EV_PERSIST) per fd and
// event_base_loop(EVLOOP_ONCE | EVLOOP_NONBLOCK), exactly as libevent's own
// test/bench.c drives it.

#include <event2/event.h>

#include <cstring>
#include <vector>

#include "backend.h"

namespace bench {
namespace {

class LibeventBackend final : public Backend {
 public:
  const char* name() const override { return "libevent"; }

  void open(int fd_limit, OnReady on_ready, void* context) override {
    base_ = event_base_new();
    // Also catches libev's look-alike event_base_new winning at link time.
    check_sys(base_ != nullptr && std::strcmp(event_base_get_method(base_), "epoll") == 0,
              "event_base_new (epoll)");
    events_.assign(static_cast<std::size_t>(fd_limit), nullptr);
    timer_ = evtimer_new(
        base_, [](evutil_socket_t, short, void*) {}, nullptr);
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override {
    for (event* e : events_) {
      if (e != nullptr) event_free(e);
    }
    events_.clear();
    event_free(timer_);
    event_base_free(base_);
  }

  void add(int fd) override { watch(fd, EV_READ); }
  void modify(int fd, bool write) override {
    event* e = events_[static_cast<std::size_t>(fd)];
    event_del(e);
    event_assign(e, base_, fd, static_cast<short>((write ? EV_READ | EV_WRITE : EV_READ) | EV_PERSIST),
                 on_event, this);
    event_add(e, nullptr);
  }
  void remove(int fd) override { event_del(events_[static_cast<std::size_t>(fd)]); }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override { event_base_loop(base_, EVLOOP_ONCE | EVLOOP_NONBLOCK); }
  void run_once_with_timeout() override {
    // Adding a pending timer moves it to `timeout` from now.
    static constexpr timeval timeout{0, std::chrono::microseconds(kWaitTimeout).count()};
    evtimer_add(timer_, &timeout);
    event_base_loop(base_, EVLOOP_ONCE);
  }

  void sleep(std::chrono::nanoseconds span) override {
    const auto micros = std::chrono::ceil<std::chrono::microseconds>(span).count();
    const timeval tv{static_cast<time_t>(micros / 1'000'000), static_cast<suseconds_t>(micros % 1'000'000)};
    evtimer_add(timer_, &tv);
    event_base_loop(base_, EVLOOP_ONCE);
  }

 private:
  void watch(int fd, short what) {
    event*& e = events_[static_cast<std::size_t>(fd)];
    if (e == nullptr) {
      e = event_new(base_, fd, static_cast<short>(what | EV_PERSIST), on_event, this);
    } else {
      event_assign(e, base_, fd, static_cast<short>(what | EV_PERSIST), on_event, this);
    }
    event_add(e, nullptr);
  }
  static void on_event(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<LibeventBackend*>(arg);
    self->on_ready_(self->context_, fd);
  }

  event_base* base_ = nullptr;
  event* timer_ = nullptr;
  std::vector<event*> events_;
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_libevent_backend() { return std::make_unique<LibeventBackend>(); }

}  // namespace bench

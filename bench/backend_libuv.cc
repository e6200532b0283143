// libuv: one uv_poll_t handle per fd (libuv's way to watch an fd it does
// not own) and uv_run(UV_RUN_NOWAIT).

#include <uv.h>

#include <memory>

#include "backend.h"

namespace bench {
namespace {

class LibuvBackend final : public Backend {
 public:
  const char* name() const override { return "libuv"; }

  void open(int fd_limit, OnReady on_ready, void* context) override {
    check_sys(uv_loop_init(&loop_) == 0, "uv_loop_init");
    check_sys(uv_timer_init(&loop_, &timer_) == 0, "uv_timer_init");
    slots_ = std::make_unique<Slot[]>(static_cast<std::size_t>(fd_limit));
    fd_limit_ = fd_limit;
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override {
    // Handles are freed by the loop: close each, let the loop finish.
    for (int fd = 0; fd < fd_limit_; ++fd) {
      if (slots_[static_cast<std::size_t>(fd)].initialized) {
        uv_close(reinterpret_cast<uv_handle_t*>(&slots_[static_cast<std::size_t>(fd)].poll), nullptr);
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    check_sys(uv_loop_close(&loop_) == 0, "uv_loop_close");
    slots_.reset();
  }

  void add(int fd) override {
    Slot& slot = slots_[static_cast<std::size_t>(fd)];
    if (!slot.initialized) {
      check_sys(uv_poll_init(&loop_, &slot.poll, fd) == 0, "uv_poll_init");
      slot.poll.data = this;
      slot.fd = fd;
      slot.initialized = true;
    }
    uv_poll_start(&slot.poll, UV_READABLE, on_poll);
  }
  void modify(int fd, bool write) override {
    uv_poll_start(&slots_[static_cast<std::size_t>(fd)].poll, write ? UV_READABLE | UV_WRITABLE : UV_READABLE,
                  on_poll);
  }
  void remove(int fd) override { uv_poll_stop(&slots_[static_cast<std::size_t>(fd)].poll); }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override { uv_run(&loop_, UV_RUN_NOWAIT); }
  void run_once_with_timeout() override {
    // Starting an active timer restarts it, `timeout` after the loop's time.
    uv_timer_start(
        &timer_, [](uv_timer_t*) {}, static_cast<std::uint64_t>(kWaitTimeout.count()), 0);
    uv_run(&loop_, UV_RUN_ONCE);
  }

  void sleep(std::chrono::nanoseconds span) override {
    // libuv's timers count whole milliseconds: round up.
    uv_update_time(&loop_);
    const auto millis = std::chrono::ceil<std::chrono::milliseconds>(span).count();
    uv_timer_start(
        &timer_, [](uv_timer_t*) {}, static_cast<std::uint64_t>(millis), 0);
    uv_run(&loop_, UV_RUN_ONCE);
  }

 private:
  struct Slot {
    uv_poll_t poll;  // first, so that a handle is its slot
    int fd = -1;
    bool initialized = false;
  };
  static void on_poll(uv_poll_t* handle, int, int) {
    auto* self = static_cast<LibuvBackend*>(handle->data);
    self->on_ready_(self->context_, reinterpret_cast<Slot*>(handle)->fd);
  }

  uv_loop_t loop_{};
  uv_timer_t timer_{};
  std::unique_ptr<Slot[]> slots_;
  int fd_limit_ = 0;
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_libuv_backend() { return std::make_unique<LibuvBackend>(); }

}  // namespace bench

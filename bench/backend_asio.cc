// Boost.Asio: one posix::stream_descriptor per fd with a persistent
// async_wait (re-armed by its own handler, the way Asio's examples keep
// waiting), on a single-threaded io_context, polled with poll().

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "backend.h"

namespace bench {
namespace {

namespace asio = boost::asio;

class AsioBackend final : public Backend {
 public:
  const char* name() const override { return "Boost.Asio"; }
  bool level_triggered() const override { return false; }
  bool can_modify() const override { return false; }

  void open(int fd_limit, OnReady on_ready, void* context) override {
    // A concurrency hint of 1: one thread runs the loop, so Asio drops its locks.
    io_.emplace(1);
    timer_.emplace(*io_);
    descriptors_.clear();
    descriptors_.resize(static_cast<std::size_t>(fd_limit));
    on_ready_ = on_ready;
    context_ = context;
  }
  void close() override {
    // The fds belong to the workload: release them before the descriptors go.
    for (auto& d : descriptors_) {
      if (d) d->release();
    }
    descriptors_.clear();
    timer_.reset();
    io_.reset();
  }

  void add(int fd) override {
    auto& d = descriptors_[static_cast<std::size_t>(fd)];
    d = std::make_unique<asio::posix::stream_descriptor>(*io_, fd);
    arm(*d, fd);
  }
  void modify(int, bool) override {}
  void remove(int fd) override {
    auto& d = descriptors_[static_cast<std::size_t>(fd)];
    d->release();
    d.reset();
  }
  void churn(const std::vector<int>& fds) override { churn_with(*this, fds); }

  void run_once() override {
    io_->poll();
    io_->restart();
  }
  // Not run by any workload (they need level-triggered fds), but kept true
  // to the interface: the first handler, ready or the timer's, ends it.
  void run_once_with_timeout() override { sleep(kWaitTimeout); }

  void sleep(std::chrono::nanoseconds span) override {
    timer_->expires_after(span);
    timer_->async_wait([](const boost::system::error_code&) {});
    io_->run_one();
    io_->restart();
  }

 private:
  void arm(asio::posix::stream_descriptor& d, int fd) {
    d.async_wait(asio::posix::stream_descriptor::wait_read,
                 [this, &d, fd](const boost::system::error_code& error) {
                   if (error) return;  // released
                   on_ready_(context_, fd);
                   arm(d, fd);
                 });
  }

  std::optional<asio::io_context> io_;
  std::optional<asio::steady_timer> timer_;
  std::vector<std::unique_ptr<asio::posix::stream_descriptor>> descriptors_;
  OnReady on_ready_ = nullptr;
  void* context_ = nullptr;
};

}  // namespace

std::unique_ptr<Backend> make_asio_backend() { return std::make_unique<AsioBackend>(); }

}  // namespace bench

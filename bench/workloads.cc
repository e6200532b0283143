#include "workloads.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace bench {
namespace {

using Clock = std::chrono::steady_clock;

// The fds a workload owns, closed with it.
class OwnedFds {
 public:
  OwnedFds() = default;
  OwnedFds(const OwnedFds&) = delete;
  OwnedFds& operator=(const OwnedFds&) = delete;
  ~OwnedFds() {
    for (int fd : fds_) ::close(fd);
  }
  int keep(int fd) {
    check_sys(fd >= 0, "creating a workload fd");
    fds_.push_back(fd);
    return fd;
  }
  // One more than the largest fd: the domain a loop needs.
  int limit() const { return fds_.empty() ? 1 : *std::max_element(fds_.begin(), fds_.end()) + 1; }

 private:
  std::vector<int> fds_;
};

// Sets up a loop by watching `watched`, then one iteration; timed.
std::chrono::nanoseconds open_and_watch(Backend& backend, int fd_limit, const std::vector<int>& watched,
                                        OnReady on_ready, void* context) {
  backend.open(fd_limit, on_ready, context);
  const auto begin = Clock::now();
  for (int fd : watched) backend.add(fd);
  backend.run_once();
  return Clock::now() - begin;
}

class BenchC final : public Workload {
 public:
  BenchC(int pairs, int active, int writes) : pairs_(pairs), active_(active), writes_(writes) {
    readers_.reserve(static_cast<std::size_t>(pairs));
    writers_.reserve(static_cast<std::size_t>(pairs));
    for (int i = 0; i < pairs; ++i) {
      int sv[2];
      check_sys(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
      readers_.push_back(fds_.keep(sv[0]));
      writers_.push_back(fds_.keep(sv[1]));
    }
    // The callback is handed an fd: find the next pair's writer in one load.
    next_writer_.assign(static_cast<std::size_t>(fds_.limit()), -1);
    for (int i = 0; i < pairs; ++i) {
      next_writer_[static_cast<std::size_t>(readers_[static_cast<std::size_t>(i)])] =
          writers_[static_cast<std::size_t>((i + 1) % pairs)];
    }
  }

  std::string label() const override {
    return "n=" + std::to_string(pairs_) + " a=" + std::to_string(active_);
  }
  bool runs_on(const Backend&) const override { return true; }

  std::chrono::nanoseconds start(Backend& backend) override {
    backend_ = &backend;
    return open_and_watch(backend, fds_.limit(), readers_, on_read, this);
  }

  void step() override {
    count_ = 0;
    fired_ = 0;
    writes_left_ = writes_;
    const int space = pairs_ / active_;
    for (int i = 0; i < active_; ++i) {
      send_byte(writers_[static_cast<std::size_t>(i * space)]);
      ++fired_;
    }
    while (count_ != fired_) backend_->run_once();
  }

  void stop() override { backend_->close(); }

 private:
  static void send_byte(int fd) { check_sys(::write(fd, "e", 1) == 1, "write"); }
  static void on_read(void* context, int fd) {
    auto* self = static_cast<BenchC*>(context);
    char byte;
    if (::read(fd, &byte, 1) == 1) ++self->count_;
    if (self->writes_left_ > 0) {
      send_byte(self->next_writer_[static_cast<std::size_t>(fd)]);
      --self->writes_left_;
      ++self->fired_;
    }
  }

  int pairs_, active_, writes_;
  OwnedFds fds_;
  std::vector<int> readers_, writers_, next_writer_;
  Backend* backend_ = nullptr;
  long count_ = 0, fired_ = 0, writes_left_ = 0;
};

// kTimed: each wait with a timeout of kWaitTimeout, else none. A template
// parameter, so that the step costs no test to tell them apart.
template <bool kTimed>
class AlwaysReady final : public Workload {
 public:
  explicit AlwaysReady(int fds) {
    // A semaphore eventfd holding 1 stays readable until it is read.
    for (int i = 0; i < fds; ++i) watched_.push_back(fds_.keep(::eventfd(1, EFD_SEMAPHORE | EFD_NONBLOCK)));
  }
  std::string label() const override { return "N=" + std::to_string(watched_.size()); }
  bool runs_on(const Backend& backend) const override { return backend.level_triggered(); }
  std::chrono::nanoseconds start(Backend& backend) override {
    backend_ = &backend;
    return open_and_watch(backend, fds_.limit(), watched_, on_ready, this);
  }
  void step() override {
    if constexpr (kTimed) {
      backend_->run_once_with_timeout();
    } else {
      backend_->run_once();
    }
  }
  void stop() override {
    backend_->close();
    if (walked_ == 0) std::fprintf(stderr, "always-ready: nothing was walked\n");
  }

 private:
  static void on_ready(void* context, int) { ++static_cast<AlwaysReady*>(context)->walked_; }

  OwnedFds fds_;
  std::vector<int> watched_;
  Backend* backend_ = nullptr;
  long walked_ = 0;
};

void ignore_ready(void*, int) {}

// The workloads that change what is watched, over the read ends of empty
// pipes: never readable, nor ever writable, so the changes are all a step
// does. A step is nothing but the calls, with no loop iteration (where
// libev and libuv would pass their deferred changes to the kernel), so that
// the figure is that of the calls alone, as any harness making the same
// calls would see it.
class QuietPipes : public Workload {
 public:
  explicit QuietPipes(int fds) {
    for (int i = 0; i < fds; ++i) {
      int p[2];
      check_sys(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe2");
      watched_.push_back(fds_.keep(p[0]));
      fds_.keep(p[1]);
    }
  }
  bool runs_on(const Backend& backend) const override { return backend.can_modify(); }
  void stop() override { backend_->close(); }

 protected:
  OwnedFds fds_;
  std::vector<int> watched_;
  Backend* backend_ = nullptr;
};

class Churn final : public QuietPipes {
 public:
  using QuietPipes::QuietPipes;
  std::string label() const override {
    return "set/modify/modify back/remove, " + std::to_string(watched_.size()) + " fds";
  }
  std::chrono::nanoseconds start(Backend& backend) override {
    backend_ = &backend;
    backend.open(fds_.limit(), ignore_ready, nullptr);
    return {};
  }
  void step() override { backend_->churn(watched_); }
  double ops_per_step() const override { return 4.0 * static_cast<double>(watched_.size()); }
};

class UnchangedSet final : public QuietPipes {
 public:
  using QuietPipes::QuietPipes;
  std::string label() const override { return "unchanged set, " + std::to_string(watched_.size()) + " fds"; }
  std::chrono::nanoseconds start(Backend& backend) override {
    backend_ = &backend;
    return open_and_watch(backend, fds_.limit(), watched_, ignore_ready, nullptr);
  }
  void step() override {
    for (int fd : watched_) backend_->modify(fd, false);
  }
  double ops_per_step() const override { return static_cast<double>(watched_.size()); }
};

}  // namespace

std::unique_ptr<Workload> make_bench_c(int pairs, int active, int writes) {
  return std::make_unique<BenchC>(pairs, active, writes);
}
std::unique_ptr<Workload> make_always_ready(int fds) { return std::make_unique<AlwaysReady<false>>(fds); }
std::unique_ptr<Workload> make_always_ready_timed(int fds) {
  return std::make_unique<AlwaysReady<true>>(fds);
}
std::unique_ptr<Workload> make_churn(int fds) { return std::make_unique<Churn>(fds); }
std::unique_ptr<Workload> make_unchanged_set(int fds) { return std::make_unique<UnchangedSet>(fds); }

std::unique_ptr<Workload> make_workload(const std::string& spec, int writes) {
  std::istringstream in(spec);
  std::string kind;
  std::getline(in, kind, ':');
  std::vector<int> numbers;
  for (std::string part; std::getline(in, part, ':');) numbers.push_back(std::stoi(part));
  if (kind == "bench_c" && numbers.size() == 2) return make_bench_c(numbers[0], numbers[1], writes);
  if (numbers.size() != 1) return nullptr;
  if (kind == "ready") return make_always_ready(numbers[0]);
  if (kind == "timed") return make_always_ready_timed(numbers[0]);
  if (kind == "churn") return make_churn(numbers[0]);
  if (kind == "unchanged") return make_unchanged_set(numbers[0]);
  return nullptr;
}

}  // namespace bench

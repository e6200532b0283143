// Micro-benchmarks of linux_ext::Epoll's own operations (Google Benchmark).
// The comparison with raw epoll and the event libraries is compare.cc.

#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <linux_ext/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <vector>

namespace {

using linux_ext::Epoll;
using Flags = Epoll::Flags;

// Fds that a benchmark owns and closes.
class Fds {
 public:
  // `count` semaphore eventfds holding 1: they stay readable.
  explicit Fds(int count) {
    for (int i = 0; i < count; ++i) fds_.push_back(::eventfd(1, EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC));
  }
  Fds(const Fds&) = delete;
  Fds& operator=(const Fds&) = delete;
  ~Fds() {
    for (int fd : fds_) ::close(fd);
  }
  int operator[](std::size_t i) const { return fds_[i]; }
  const std::vector<int>& all() const { return fds_; }
  int limit() const { return fds_.empty() ? 1 : fds_.back() + 1; }

 private:
  std::vector<int> fds_;
};

Epoll make_epoll(int num_file_descrs) { return Epoll::create(num_file_descrs, 256).value(); }

// set on an fd not in the set (ADD), then remove (DEL) to make room again.
void BM_Set_Add(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  for (auto _ : state) {
    ep.set(fds[0], Flags::in);
    state.PauseTiming();
    ep.remove(fds[0]);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_Set_Add);

// set with other flags than the current ones: one EPOLL_CTL_MOD.
void BM_Set_Mod(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  ep.set(fds[0], Flags::in);
  bool write = false;
  for (auto _ : state) {
    write = !write;
    ep.set(fds[0], write ? Flags::in + Flags::out : Flags::in);
  }
}
BENCHMARK(BM_Set_Mod);

// set with the current level-triggered flags: no system call.
void BM_Set_Unchanged(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  ep.set(fds[0], Flags::in);
  for (auto _ : state) ep.set(fds[0], Flags::in);
}
BENCHMARK(BM_Set_Unchanged);

// set with unchanged edge-triggered flags: re-arms, so one MOD.
void BM_Set_UnchangedEdgeTriggered(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  ep.set(fds[0], Flags::in + Flags::et);
  for (auto _ : state) ep.set(fds[0], Flags::in + Flags::et);
}
BENCHMARK(BM_Set_UnchangedEdgeTriggered);

// A whole add then remove pair (ADD + DEL).
void BM_SetRemove(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  for (auto _ : state) {
    ep.set(fds[0], Flags::in);
    ep.remove(fds[0]);
  }
}
BENCHMARK(BM_SetRemove);

// remove of an fd not in the set: no system call.
void BM_Remove_Absent(benchmark::State& state) {
  Fds fds(1);
  Epoll ep = make_epoll(fds.limit());
  for (auto _ : state) ep.remove(fds[0]);
}
BENCHMARK(BM_Remove_Absent);

// find over a domain of state.range(0) slots, a few of them set, probing
// spread-out fds: flat from 1 000 to 1 000 000 slots.
void BM_Find(benchmark::State& state) {
  Fds fds(4);
  const int domain = static_cast<int>(state.range(0));
  Epoll ep = make_epoll(domain);
  for (int fd : fds.all()) ep.set(fd, Flags::in);
  int probe = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ep.find(probe));
    probe = (probe + 7919) % domain;  // a prime stride: every cache line of the table in turn
  }
}
BENCHMARK(BM_Find)->Arg(1000)->Arg(1'000'000);

// wait with N always-ready fds and `timeout`, then the walk of the ready set.
template <class Walk>
void wait_and_walk(benchmark::State& state, Epoll::Timeout timeout, Walk walk) {
  const int n = static_cast<int>(state.range(0));
  Fds fds(n);
  Epoll ep = make_epoll(fds.limit());
  for (int fd : fds.all()) ep.set(fd, Flags::in);
  for (auto _ : state) {
    ep.wait(timeout);
    benchmark::DoNotOptimize(walk(ep));
  }
  state.SetItemsProcessed(state.iterations() * n);
}
// A lambda, not a function, so that each walk inlines into its loop.
constexpr auto sum_by_iter_ready = [](const Epoll& ep) {
  int sum = 0;
  ep.iter_ready([&](int fd, Flags) { sum += fd; });
  return sum;
};

// A non-blocking wait, then the walk three ways.
void BM_WaitReady_IterReady(benchmark::State& state) {
  wait_and_walk(state, Epoll::Timeout::immediately(), sum_by_iter_ready);
}
void BM_WaitReady_FoldReady(benchmark::State& state) {
  wait_and_walk(state, Epoll::Timeout::immediately(), [](const Epoll& ep) {
    return ep.fold_ready(0, [](int acc, int fd, Flags) { return acc + fd; });
  });
}
void BM_WaitReady_Range(benchmark::State& state) {
  wait_and_walk(state, Epoll::Timeout::immediately(), [](const Epoll& ep) {
    int sum = 0;
    for (auto [fd, flags] : ep.ready()) sum += fd;
    return sum;
  });
}
BENCHMARK(BM_WaitReady_IterReady)->Arg(1)->Arg(64)->Arg(256);
BENCHMARK(BM_WaitReady_FoldReady)->Arg(1)->Arg(64)->Arg(256);
BENCHMARK(BM_WaitReady_Range)->Arg(1)->Arg(64)->Arg(256);

// A wait with a 1 ms timeout, as an event loop waits for its next timer;
// the fds are ready, so it returns at once: what a timeout adds to a wait.
void BM_WaitReady_After1ms(benchmark::State& state) {
  wait_and_walk(state, Epoll::Timeout::after(std::chrono::milliseconds(1)), sum_by_iter_ready);
}
void BM_WaitReady_AfterPrecise1ms(benchmark::State& state) {
  wait_and_walk(state, Epoll::Timeout::after_precise(std::chrono::milliseconds(1)), sum_by_iter_ready);
}
BENCHMARK(BM_WaitReady_After1ms)->Arg(1)->Arg(64);
BENCHMARK(BM_WaitReady_AfterPrecise1ms)->Arg(1)->Arg(64);

// Printing a set of 64 fds.
void BM_ToSexp(benchmark::State& state) {
  Fds fds(64);
  Epoll ep = make_epoll(fds.limit());
  for (int fd : fds.all()) ep.set(fd, Flags::in);
  ep.wait(Epoll::Timeout::immediately());
  for (auto _ : state) benchmark::DoNotOptimize(ep.to_sexp());
}
BENCHMARK(BM_ToSexp);

// create and destroy over a growing domain: the table's pages are not
// touched, so the cost should barely grow.
void BM_Create(benchmark::State& state) {
  const int domain = static_cast<int>(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(Epoll::create(domain, 256));
}
BENCHMARK(BM_Create)->Arg(1000)->Arg(100'000)->Arg(1'000'000);

// iter and size with 8 fds set at the ends of a big domain: costs what the
// set holds, not the domain.
void BM_Iter(benchmark::State& state) {
  Fds fds(8);
  Epoll ep = make_epoll(static_cast<int>(state.range(0)));
  for (int fd : fds.all()) ep.set(fd, Flags::in);
  for (auto _ : state) {
    int sum = 0;
    ep.iter([&](int fd, Flags) { sum += fd; });
    benchmark::DoNotOptimize(sum);
  }
}
BENCHMARK(BM_Iter)->Arg(1000)->Arg(1'000'000);

void BM_Size(benchmark::State& state) {
  Fds fds(8);
  Epoll ep = make_epoll(static_cast<int>(state.range(0)));
  for (int fd : fds.all()) ep.set(fd, Flags::in);
  for (auto _ : state) benchmark::DoNotOptimize(ep.size());
}
BENCHMARK(BM_Size)->Arg(1000)->Arg(1'000'000);

}  // namespace

BENCHMARK_MAIN();

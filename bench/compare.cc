// The side-by-side comparison: the same workloads (workloads.h) on raw
// epoll, linux_ext::Epoll, libev, libevent, libuv and Boost.Asio.
//
//   compare tables [--quick] [--data DIR]
//     Runs every workload, interleaving the libraries round by round
//     (A B C A B C ..., the first one rotating), and prints one markdown
//     table per workload with medians and ratios to raw epoll. With --data,
//     also writes the bench.c figures as gnuplot data files into DIR.
//   compare count WORKLOAD LIBRARY STEPS
//     Sets WORKLOAD up on LIBRARY, runs one step to warm up, then STEPS
//     steps between CALLGRIND_START_INSTRUMENTATION and _STOP_, and prints
//     the number of operations they counted. bench/callgrind.sh runs this
//     under callgrind and strace for the deterministic figures.
//     WORKLOAD: bench_c:N:A, ready:N, churn:N, unchanged:N.
//     LIBRARY: raw, linux_ext, linux_ext_precise, libev, libevent, libuv,
//     asio (linux_ext_precise: timed waits with Timeout::after_precise).

#include <malloc.h>
#include <sys/resource.h>
#include <valgrind/callgrind.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <linux_ext/epoll.h>

#include "backend.h"
#include "workloads.h"

// Every allocation of the process is counted, whoever makes it (operator
// new ends here too): the libraries allocate with malloc.
namespace {
std::atomic<std::uint64_t> allocations{0};
}  // namespace
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void __libc_free(void* p);
void* malloc(std::size_t size) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void free(void* p) noexcept { __libc_free(p); }
}

namespace bench {

std::vector<std::unique_ptr<Backend>> make_all_backends() {
  std::vector<std::unique_ptr<Backend>> all;
  all.push_back(make_raw_backend());
  all.push_back(make_linux_ext_backend(false));
  all.push_back(make_libev_backend());
  all.push_back(make_libevent_backend());
  all.push_back(make_libuv_backend());
  all.push_back(make_asio_backend());
  return all;
}

std::unique_ptr<Backend> make_backend(const char* name) {
  const std::string n = name;
  if (n == "raw") return make_raw_backend();
  if (n == "linux_ext") return make_linux_ext_backend(false);
  if (n == "linux_ext_precise") return make_linux_ext_backend(true);
  if (n == "libev") return make_libev_backend();
  if (n == "libevent") return make_libevent_backend();
  if (n == "libuv") return make_libuv_backend();
  if (n == "asio") return make_asio_backend();
  return nullptr;
}

namespace {

using Clock = std::chrono::steady_clock;
using Backends = std::vector<std::unique_ptr<Backend>>;

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return NAN;
  std::sort(samples.begin(), samples.end());
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples.size()))) ;
  return samples[std::min(samples.size() - 1, i == 0 ? 0 : i - 1)];
}
double median(const std::vector<double>& samples) { return percentile(samples, 0.5); }

// The samples of one workload on one library.
struct Samples {
  std::vector<double> ns_per_op;   // a step's time over its operations
  std::vector<double> setup_ns;    // start()
  std::uint64_t allocations = 0;   // during the timed steps, in all
  std::uint64_t steps = 0;
};

// Runs `workload` on every library that can run it, `rounds` times, the
// libraries interleaved and the first one rotating; `steps` timed steps
// per sample. Returns one Samples per library (empty when it cannot).
std::vector<Samples> measure(const Backends& backends, Workload& workload, int rounds, int steps) {
  std::vector<Samples> results(backends.size());
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t k = 0; k < backends.size(); ++k) {
      const std::size_t b = (k + static_cast<std::size_t>(round)) % backends.size();
      if (!workload.runs_on(*backends[b])) continue;
      Samples& s = results[b];
      s.setup_ns.push_back(static_cast<double>(workload.start(*backends[b]).count()));
      workload.step();  // warm: caches, lazily grown buffers
      const std::uint64_t allocations_before = allocations.load();
      const auto begin = Clock::now();
      for (int i = 0; i < steps; ++i) workload.step();
      const auto elapsed = std::chrono::duration<double, std::nano>(Clock::now() - begin).count();
      s.allocations += allocations.load() - allocations_before;
      s.steps += static_cast<std::uint64_t>(steps);
      workload.stop();
      s.ns_per_op.push_back(elapsed / steps / workload.ops_per_step());
    }
  }
  return results;
}

std::string format(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// "12.3 (1.02×)": a median and its ratio to raw epoll's.
std::string cell(double value, double raw, int decimals) {
  if (std::isnan(value)) return "n/a";
  return format(value, decimals) + " (" + format(value / raw, 2) + "×)";
}

struct Column {
  std::string label;
  std::vector<Samples> results;
};

// Prints a table's heading, its description and its header rows: one
// column for the library, then one per column.
void print_header(const char* title, const char* description, const std::vector<Column>& columns) {
  std::printf("\n### %s\n\n%s\n\n| library |", title, description);
  for (const Column& c : columns) std::printf(" %s |", c.label.c_str());
  std::printf("\n| --- |");
  for (std::size_t i = 0; i < columns.size(); ++i) std::printf(" ---: |");
  std::printf("\n");
}

// One markdown table: a row per library, a column per workload, each cell
// a median and its ratio to raw epoll in the same column.
void print_table(const char* title, const char* unit, const Backends& backends, const std::vector<Column>& columns,
                 bool setup, double scale, int decimals) {
  print_header(title, (std::string(unit) + ", median (ratio to raw epoll)").c_str(), columns);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    std::printf("| %s |", backends[b]->name());
    for (const Column& c : columns) {
      auto value = [&](std::size_t i) {
        return median(setup ? c.results[i].setup_ns : c.results[i].ns_per_op) / scale;
      };
      std::printf(" %s |", cell(value(b), value(0), decimals).c_str());
    }
    std::printf("\n");
  }
}

void print_allocations(const Backends& backends, const std::vector<Column>& columns) {
  print_header("Allocations per step after setup",
               "malloc/calloc/realloc calls (operator new included) during the timed steps, per step", columns);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    std::printf("| %s |", backends[b]->name());
    for (const Column& c : columns) {
      const Samples& s = c.results[b];
      std::printf(" %s |", s.steps == 0 ? "n/a"
                                          : format(static_cast<double>(s.allocations) /
                                                       static_cast<double>(s.steps), 2).c_str());
    }
    std::printf("\n");
  }
}

void write_chart_data(const std::string& path, const Backends& backends, const std::vector<Column>& columns,
                      const std::vector<int>& pairs, bool setup) {
  std::ofstream out(path);
  check_sys(out.good(), path.c_str());
  out << "n";
  for (const auto& b : backends) out << " \"" << b->name() << '"';
  out << "\n";
  for (std::size_t i = 0; i < columns.size(); ++i) {
    out << pairs[i];
    for (const Samples& s : columns[i].results) {
      const double v = median(setup ? s.setup_ns : s.ns_per_op) / 1000.0;
      out << ' ' << (std::isnan(v) ? std::string("NaN") : format(v, 2));
    }
    out << "\n";
  }
}

struct Settings {
  int rounds;
  std::vector<int> pairs;
  int bench_c_steps, ready_steps, churn_steps, unchanged_steps, timeout_samples;
};

void run_timeouts(const Settings& settings) {
  Backends backends = make_all_backends();
  backends.insert(backends.begin() + 2, make_linux_ext_backend(true));
  for (auto& b : backends) b->open(8, [](void*, int) {}, nullptr);
  const std::chrono::nanoseconds spans[] = {std::chrono::microseconds(100), std::chrono::microseconds(500),
                                            std::chrono::microseconds(1000), std::chrono::microseconds(1500)};
  std::printf("\n### Timeout accuracy\n\nA timed wait with nothing ready: how long it slept, in µs, %d samples "
              "per cell, interleaved. Early = woke before the span had passed (must be 0).\n\n"
              "| library | span | median | p99 | early |\n| --- | ---: | ---: | ---: | ---: |\n",
              settings.timeout_samples);
  for (const auto span : spans) {
    std::vector<std::vector<double>> slept(backends.size());
    std::vector<int> early(backends.size(), 0);
    for (int i = 0; i < settings.timeout_samples; ++i) {
      for (std::size_t k = 0; k < backends.size(); ++k) {
        const std::size_t b = (k + static_cast<std::size_t>(i)) % backends.size();
        const auto begin = Clock::now();
        backends[b]->sleep(span);
        const auto took = Clock::now() - begin;
        if (took < span) ++early[b];
        slept[b].push_back(std::chrono::duration<double, std::micro>(took).count());
      }
    }
    for (std::size_t b = 0; b < backends.size(); ++b) {
      std::printf("| %s | %s | %s | %s | %d |\n", backends[b]->name(),
                  format(std::chrono::duration<double, std::micro>(span).count(), 0).c_str(),
                  format(median(slept[b]), 1).c_str(), format(percentile(slept[b], 0.99), 1).c_str(), early[b]);
    }
  }
  for (auto& b : backends) b->close();
}

// Heap bytes in use, small blocks and mmapped ones.
std::size_t heap_in_use() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

std::size_t bytes_of_create(int num_file_descrs, int max_ready_events) {
  const std::size_t before = heap_in_use();
  auto epoll = linux_ext::Epoll::create(num_file_descrs, max_ready_events).value();
  return heap_in_use() - before;
}

void run_memory() {
  constexpr int kSmall = 1000, kLarge = 1'000'000, kEvents = 65'536;
  const double per_slot = static_cast<double>(bytes_of_create(kLarge, 1) - bytes_of_create(kSmall, 1)) /
                          (kLarge - kSmall);
  const double per_event = static_cast<double>(bytes_of_create(kSmall, kEvents) - bytes_of_create(kSmall, 1)) /
                           (kEvents - 1);
  std::printf("\n### Memory of linux_ext::Epoll\n\nHeap bytes from mallinfo2 around `create`.\n\n"
              "| figure | value | target |\n| --- | ---: | ---: |\n"
              "| bytes per fd slot (create(1 000 000) - create(1 000)) | %.2f | ≤ 8 |\n"
              "| bytes per ready event (create(1 000, 65 536) - create(1 000, 1)) | %.2f | |\n"
              "| heap bytes of create(1 000 000, 256) | %zu | |\n",
              per_slot, per_event, bytes_of_create(kLarge, 256));
}

void run_tables(const Settings& settings, const char* data_dir) {
  Backends backends = make_all_backends();
  const int writes = 1000;
  std::vector<Column> allocation_columns;

  for (int active : {1, 100}) {
    std::vector<Column> columns;
    for (int pairs : settings.pairs) {
      auto workload = make_bench_c(pairs, active, writes);
      columns.push_back({workload->label(), measure(backends, *workload, settings.rounds, settings.bench_c_steps)});
    }
    const std::string title = "bench.c, " + std::to_string(active) + " active, " + std::to_string(writes) + " writes";
    print_table((title + ": loop time").c_str(), "µs per run until every write is read", backends, columns, false,
                1000.0, 1);
    print_table((title + ": setup time").c_str(), "µs to register all n fds and run one iteration", backends,
                columns, true, 1000.0, 1);
    if (data_dir != nullptr) {
      const std::string stem = std::string(data_dir) + "/bench_c_a" + std::to_string(active);
      write_chart_data(stem + ".dat", backends, columns, settings.pairs, false);
      write_chart_data(stem + "_setup.dat", backends, columns, settings.pairs, true);
    }
    allocation_columns.push_back(std::move(columns.back()));
  }

  std::vector<Column> ready;
  for (int fds : {1, 64, 256}) {
    auto workload = make_always_ready(fds);
    ready.push_back({workload->label(), measure(backends, *workload, settings.rounds, settings.ready_steps)});
  }
  print_table("Always-ready eventfds: one non-blocking wait and the walk of its ready set",
              "ns per iteration (Asio: n/a, its reactor is edge-triggered)", backends, ready, false, 1.0, 1);
  allocation_columns.push_back(std::move(ready.back()));

  std::vector<Column> churn;
  {
    auto workload = make_churn(1000);
    churn.push_back({workload->label(), measure(backends, *workload, settings.rounds, settings.churn_steps)});
  }
  {
    auto workload = make_unchanged_set(1000);
    churn.push_back({workload->label(), measure(backends, *workload, settings.rounds, settings.unchanged_steps)});
  }
  print_table("Churn",
              "ns per operation: over 1 000 empty pipes, per fd in turn, set (an add), modify to in|out, modify "
              "back to in, remove; and `set` with the flags an fd already has. Calls only, no loop iteration: "
              "libev passes its changes to the kernel there, libuv its additions, so theirs are partly or wholly "
              "recorded, not made (see their system calls). Asio: n/a, nothing to modify",
              backends, churn, false, 1.0, 1);
  allocation_columns.push_back(std::move(churn.front()));

  print_allocations(backends, allocation_columns);
  run_timeouts(settings);
  run_memory();
}

int run_count(const char* spec, const char* library, int steps) {
  auto backend = make_backend(library);
  auto workload = make_workload(spec, 1000);
  if (!backend || !workload || steps <= 0) {
    std::fprintf(stderr, "compare count: unknown workload or library, or steps <= 0\n");
    return 2;
  }
  if (!workload->runs_on(*backend)) {
    std::printf("n/a\n");
    return 0;
  }
  workload->start(*backend);
  workload->step();
  CALLGRIND_START_INSTRUMENTATION;
  for (int i = 0; i < steps; ++i) workload->step();
  CALLGRIND_STOP_INSTRUMENTATION;
  workload->stop();
  std::printf("%.0f\n", workload->ops_per_step() * steps);
  return 0;
}

// bench.c at n = 9 000 needs 18 000 fds: take the whole hard limit.
void raise_fd_limit() {
  rlimit limit;
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  bench::raise_fd_limit();
  if (argc == 5 && std::strcmp(argv[1], "count") == 0) {
    return bench::run_count(argv[2], argv[3], std::atoi(argv[4]));
  }
  if (argc >= 2 && std::strcmp(argv[1], "tables") == 0) {
    bool quick = false;
    const char* data_dir = nullptr;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--quick") == 0) quick = true;
      if (std::strcmp(argv[i], "--data") == 0 && i + 1 < argc) data_dir = argv[++i];
    }
    // Churn: two passes over its 1 000 fds per sample.
    const bench::Settings full{41, {100, 1000, 9000}, 10, 2000, 2, 20, 100};
    const bench::Settings fast{5, {100, 1000}, 2, 500, 2, 5, 20};
    bench::run_tables(quick ? fast : full, data_dir);
    return 0;
  }
  std::fprintf(stderr,
               "usage: compare tables [--quick] [--data DIR]\n"
               "       compare count WORKLOAD LIBRARY STEPS\n");
  return 2;
}

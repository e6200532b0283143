// The side-by-side comparison: the same workloads (workloads.h) on raw
// epoll, linux_ext::Epoll, libev, libevent, libuv and Boost.Asio.
//
//   compare tables [--quick] [--data DIR]
//     Runs every workload, interleaving the libraries round by round
//     (A B C A B C ..., the first one rotating), and prints one markdown
//     table per workload with medians and ratios to raw epoll, then
//     linux_ext::Epoll's figures against their targets. With --data, also
//     writes the bench.c figures as gnuplot data files into DIR, and
//     DIR/added_time.dat: what linux_ext::Epoll adds to raw epoll's time
//     per call, which bench/run.sh prints in a user's units.
//   compare count WORKLOAD LIBRARY STEPS
//     Sets WORKLOAD up on LIBRARY, runs one step to warm up, then STEPS
//     steps between CALLGRIND_START_INSTRUMENTATION and _STOP_, and prints
//     the number of operations they counted. bench/callgrind.sh runs this
//     under callgrind and strace for the deterministic figures.
//     WORKLOAD: bench_c:N:A, ready:N, timed:N, churn:N, unchanged:N.
//     LIBRARY: raw, linux_ext, linux_ext_precise, libev, libevent, libuv,
//     asio (linux_ext_precise: timed waits with Timeout::after_precise).

#include <linux_ext/epoll.h>
#include <malloc.h>
#include <sys/resource.h>
#include <valgrind/callgrind.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "backend.h"
#include "count_allocations.h"
#include "workloads.h"

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

// The rows of make_all_backends that the targets compare.
constexpr std::size_t kRaw = 0, kLinuxExt = 1;

// make_all_backends with linux_ext's after_precise right after linux_ext,
// for the tables of timed waits.
constexpr std::size_t kPrecise = 2;
Backends make_timed_backends() {
  Backends backends = make_all_backends();
  backends.insert(backends.begin() + kPrecise, make_linux_ext_backend(true));
  return backends;
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return NAN;
  std::sort(samples.begin(), samples.end());
  const auto i = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples.size())));
  return samples[std::min(samples.size() - 1, i == 0 ? 0 : i - 1)];
}
double median(const std::vector<double>& samples) { return percentile(samples, 0.5); }

// The samples of one workload on one library.
struct Samples {
  std::vector<double> ns_per_op;  // a step's time over its operations
  std::vector<double> setup_ns;   // start()
  std::uint64_t allocations = 0;  // during the timed steps, in all
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
      const std::uint64_t allocations_before = linux_ext::test::allocation_count();
      const auto begin = Clock::now();
      for (int i = 0; i < steps; ++i) workload.step();
      const auto elapsed = std::chrono::duration<double, std::nano>(Clock::now() - begin).count();
      s.allocations += linux_ext::test::allocation_count() - allocations_before;
      s.steps += static_cast<std::uint64_t>(steps);
      workload.stop();
      s.ns_per_op.push_back(elapsed / steps / workload.ops_per_step());
    }
  }
  return results;
}

// One workload measured on every library: a column of a table.
struct Column {
  std::string label;
  std::vector<Samples> results;

  double median_ns(std::size_t backend) const { return median(results[backend].ns_per_op); }
};

Column measure_column(const Backends& backends, std::unique_ptr<Workload> workload, int rounds, int steps) {
  return {workload->label(), measure(backends, *workload, rounds, steps)};
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
void print_table(const char* title, const char* unit, const Backends& backends,
                 const std::vector<Column>& columns, bool setup, double scale, int decimals) {
  print_header(title, (std::string(unit) + ", median (ratio to raw epoll)").c_str(), columns);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    std::printf("| %s |", backends[b]->name());
    for (const Column& c : columns) {
      auto value = [&](std::size_t i) {
        return median(setup ? c.results[i].setup_ns : c.results[i].ns_per_op) / scale;
      };
      std::printf(" %s |", cell(value(b), value(kRaw), decimals).c_str());
    }
    std::printf("\n");
  }
}

// Allocations per timed step of each library in each column.
void print_allocations(const Backends& backends, const std::vector<Column>& columns) {
  print_header(
      "Allocations per step after setup",
      "calls of any allocator (malloc, calloc, realloc, memalign and the rest; operator new included) "
      "during the timed steps, per step",
      columns);
  for (std::size_t b = 0; b < backends.size(); ++b) {
    std::printf("| %s |", backends[b]->name());
    for (const Column& c : columns) {
      const Samples& s = c.results[b];
      std::printf(" %s |",
                  s.steps == 0
                      ? "n/a"
                      : format(static_cast<double>(s.allocations) / static_cast<double>(s.steps), 2).c_str());
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

// The interval that holds the median of `samples` with at least 95 %
// confidence, distribution-free: the k-th smallest to the k-th largest,
// which misses the median only when fewer than k samples fall on one side
// of it, with probability 2 P(Binomial(n, 1/2) < k). The largest k that
// keeps the confidence at 95 % or more; with fewer than 6 samples none
// does, and the interval is the smallest to the largest, at the confidence
// they give.
struct Interval {
  double low, high, confidence;
};
Interval median_interval(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  std::size_t k = 1;
  double p = std::ldexp(1.0, -static_cast<int>(n));  // P(B = k - 1)
  double below = p;                                  // P(B < k)
  while (2 * (k + 1) <= n + 1) {
    p = p * static_cast<double>(n - k + 1) / static_cast<double>(k);
    if (1 - 2 * (below + p) < 0.95) break;
    below += p;
    ++k;
  }
  return {samples[k - 1], samples[n - k], 1 - 2 * below};
}

// What backend `ours` adds to raw epoll's time per operation in `column`:
// the difference of the medians, and whether the clock can tell them apart,
// from the rounds' own differences (ours minus raw's in the same round).
struct AddedTime {
  const char* call;  // a key that bench/run.sh labels
  double raw_ns, ours_ns;
  Interval per_round;
  std::size_t rounds;
};

AddedTime added_time(const char* call, const Column& column, std::size_t ours) {
  const std::vector<double>& raw = column.results[kRaw].ns_per_op;
  const std::vector<double>& mine = column.results[ours].ns_per_op;
  std::vector<double> differences(raw.size());
  std::transform(mine.begin(), mine.end(), raw.begin(), differences.begin(), std::minus<>());
  return {call, column.median_ns(kRaw), column.median_ns(ours), median_interval(differences), raw.size()};
}

void write_added_times(const std::string& path, const std::vector<AddedTime>& added) {
  std::ofstream out(path);
  check_sys(out.good(), path.c_str());
  out << "# call raw_ns linux_ext_ns per_round_low_ns per_round_high_ns confidence rounds\n";
  for (const AddedTime& a : added) {
    out << a.call << ' ' << format(a.raw_ns, 3) << ' ' << format(a.ours_ns, 3) << ' '
        << format(a.per_round.low, 3) << ' ' << format(a.per_round.high, 3) << ' '
        << format(a.per_round.confidence, 4) << ' ' << a.rounds << "\n";
  }
}

// One figure of linux_ext::Epoll against its target, beside raw epoll's.
struct Target {
  std::string figure, raw, ours, versus, target;
  bool met;
};

void print_targets(const std::vector<Target>& targets) {
  std::printf(
      "\n### Targets for linux_ext::Epoll: time, allocations, memory\n\n"
      "Medians from the tables above. A ratio moves by a few percent from run to run on a shared machine, so "
      "a "
      "miss by less than that is noise; the deterministic figures (instructions, system calls) decide.\n\n"
      "| figure | raw epoll | linux_ext::Epoll | ratio or difference | target | met? |\n"
      "| --- | ---: | ---: | ---: | ---: | --- |\n");
  for (const Target& t : targets) {
    auto or_dash = [](const std::string& text) { return text.empty() ? "—" : text.c_str(); };
    std::printf("| %s | %s | %s | %s | %s | %s |\n", t.figure.c_str(), or_dash(t.raw), or_dash(t.ours),
                or_dash(t.versus), t.target.c_str(), t.met ? "met" : "missed");
  }
}

// The time of backend `ours` in `column` against raw epoll's: met when the
// ratio is at most `limit`.
Target time_against_raw(const std::string& figure, const Column& column, std::size_t ours, double limit,
                        double scale, const char* unit) {
  const double raw = column.median_ns(kRaw) / scale, mine = column.median_ns(ours) / scale;
  return {figure,
          format(raw, 1) + " " + unit,
          format(mine, 1) + " " + unit,
          format(mine / raw, 3) + "×",
          "≤ " + format(limit, 2) + "×",
          mine / raw <= limit};
}

// linux_ext's bench.c loop time against the fastest of the libraries
// (every row after raw and linux_ext): met when it is faster than each.
Target loop_against_libraries(const Backends& backends, const Column& column) {
  std::size_t fastest = kLinuxExt + 1;
  for (std::size_t b = fastest; b < backends.size(); ++b) {
    if (column.median_ns(b) < column.median_ns(fastest)) fastest = b;
  }
  const double mine = column.median_ns(kLinuxExt);
  return {"bench.c loop, " + column.label + ", against the fastest library (" + backends[fastest]->name() +
              ", " + format(column.median_ns(fastest) / 1000.0, 1) + " µs)",
          "",
          format(mine / 1000.0, 1) + " µs",
          format(mine / column.median_ns(fastest), 3) + "×",
          "< 1× (faster than each)",
          mine < column.median_ns(fastest)};
}

struct Settings {
  int rounds;
  std::vector<int> pairs;
  int bench_c_steps, ready_steps, churn_steps, unchanged_steps, timeout_samples;
};

void run_timeouts(const Settings& settings, std::vector<Target>& targets) {
  Backends backends = make_timed_backends();
  for (auto& b : backends)
    b->open(
        8, [](void*, int) {}, nullptr);
  const std::chrono::nanoseconds spans[] = {std::chrono::microseconds(100), std::chrono::microseconds(500),
                                            std::chrono::microseconds(1000), std::chrono::microseconds(1500)};
  std::printf(
      "\n### Timeout accuracy\n\nA timed wait with nothing ready: how long it slept, in µs, %d samples "
      "per cell, interleaved. Early = woke before the span had passed (must be 0).\n\n"
      "| library | span | median | p99 | early |\n| --- | ---: | ---: | ---: | ---: |\n",
      settings.timeout_samples);
  std::vector<int> early(backends.size(), 0);
  for (const auto span : spans) {
    std::vector<std::vector<double>> slept(backends.size());
    std::vector<int> early_at_span(backends.size(), 0);
    for (int i = 0; i < settings.timeout_samples; ++i) {
      for (std::size_t k = 0; k < backends.size(); ++k) {
        const std::size_t b = (k + static_cast<std::size_t>(i)) % backends.size();
        const auto begin = Clock::now();
        backends[b]->sleep(span);
        const auto took = Clock::now() - begin;
        if (took < span) ++early_at_span[b];
        slept[b].push_back(std::chrono::duration<double, std::micro>(took).count());
      }
    }
    const double span_us = std::chrono::duration<double, std::micro>(span).count();
    for (std::size_t b = 0; b < backends.size(); ++b) {
      std::printf("| %s | %s | %s | %s | %d |\n", backends[b]->name(), format(span_us, 0).c_str(),
                  format(median(slept[b]), 1).c_str(), format(percentile(slept[b], 0.99), 1).c_str(),
                  early_at_span[b]);
      early[b] += early_at_span[b];
    }
    if (span == spans[0]) {
      const double raw = median(slept[kRaw]), precise = median(slept[kPrecise]);
      targets.push_back({"`after_precise(100 µs)`: median sleep", format(raw, 1) + " µs",
                         format(precise, 1) + " µs", "", "< 200 µs", precise < 200});
    }
  }
  for (const std::size_t b : {kLinuxExt, kPrecise}) {
    targets.push_back({std::string("early wake-ups, ") + backends[b]->name() + ", every span",
                       std::to_string(early[kRaw]), std::to_string(early[b]), "", "0", early[b] == 0});
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

void run_memory(std::vector<Target>& targets) {
  constexpr int kSmall = 1000, kLarge = 1'000'000, kEvents = 65'536;
  // glibc maps the first blocks this large with mmap, rounded up to whole
  // pages (a few KB more, 0.01 byte per slot), and freeing them raises its
  // mmap threshold, so that the later ones come from the heap at their
  // size. One create first, so that every figure is the table's bytes, not
  // that rounding.
  bytes_of_create(kLarge, 1);
  const double per_slot =
      static_cast<double>(bytes_of_create(kLarge, 1) - bytes_of_create(kSmall, 1)) / (kLarge - kSmall);
  const double per_event =
      static_cast<double>(bytes_of_create(kSmall, kEvents) - bytes_of_create(kSmall, 1)) / (kEvents - 1);
  std::printf(
      "\n### Memory of linux_ext::Epoll\n\nHeap bytes from mallinfo2 around `create`.\n\n"
      "| figure | value |\n| --- | ---: |\n"
      "| bytes per fd slot (create(1 000 000) - create(1 000)) | %.2f |\n"
      "| bytes per ready event (create(1 000, 65 536) - create(1 000, 1)) | %.2f |\n"
      "| heap bytes of create(1 000 000, 256) | %zu |\n",
      per_slot, per_event, bytes_of_create(kLarge, 256));
  targets.push_back(
      {"table memory, bytes per fd slot (mallinfo2)", "", format(per_slot, 2), "", "≤ 16", per_slot <= 16});
}

void run_tables(const Settings& settings, const char* data_dir) {
  Backends backends = make_all_backends();
  const int writes = 1000;
  std::vector<Column> allocation_columns;
  std::vector<Target> targets;
  // A wait with its walk of one event, a timed one, and a set/remove: the
  // calls of every event loop, in a user's units.
  std::vector<AddedTime> added;
  // linux_ext's allocations in every timed step below, all made after
  // `create`: the target is none.
  std::uint64_t allocations_after_create = 0;
  auto count_allocations = [&](const Column& column, std::size_t ours) {
    allocations_after_create += column.results[ours].allocations;
  };

  for (int active : {1, 100}) {
    std::vector<Column> columns;
    for (int pairs : settings.pairs) {
      columns.push_back(measure_column(backends, make_bench_c(pairs, active, writes), settings.rounds,
                                       settings.bench_c_steps));
    }
    const std::string title =
        "bench.c, " + std::to_string(active) + " active, " + std::to_string(writes) + " writes";
    print_table((title + ": loop time").c_str(), "µs per run until every write is read", backends, columns,
                false, 1000.0, 1);
    print_table((title + ": setup time").c_str(), "µs to register all n fds and run one iteration", backends,
                columns, true, 1000.0, 1);
    if (data_dir != nullptr) {
      const std::string stem = std::string(data_dir) + "/bench_c_a" + std::to_string(active);
      write_chart_data(stem + ".dat", backends, columns, settings.pairs, false);
      write_chart_data(stem + "_setup.dat", backends, columns, settings.pairs, true);
    }
    for (const Column& c : columns) {
      targets.push_back(time_against_raw("bench.c loop, " + c.label, c, kLinuxExt, 1.05, 1000.0, "µs"));
      targets.push_back(loop_against_libraries(backends, c));
      count_allocations(c, kLinuxExt);
    }
    allocation_columns.push_back(std::move(columns.back()));
  }

  std::vector<Column> ready;
  for (int fds : {1, 64, 256}) {
    ready.push_back(measure_column(backends, make_always_ready(fds), settings.rounds, settings.ready_steps));
    count_allocations(ready.back(), kLinuxExt);
    targets.push_back(time_against_raw("non-blocking wait + walk, " + ready.back().label, ready.back(),
                                       kLinuxExt, 1.03, 1.0, "ns"));
  }
  added.push_back(added_time("wait", ready.front(), kLinuxExt));
  print_table("Always-ready eventfds: one non-blocking wait and the walk of its ready set",
              "ns per wait (Asio: n/a, its reactor is edge-triggered)", backends, ready, false, 1.0, 1);
  allocation_columns.push_back(std::move(ready.back()));

  const Backends timed_backends = make_timed_backends();
  std::vector<Column> timed;
  for (int fds : {1, 64}) {
    timed.push_back(
        measure_column(timed_backends, make_always_ready_timed(fds), settings.rounds, settings.ready_steps));
    for (const std::size_t b : {kLinuxExt, kPrecise}) {
      count_allocations(timed.back(), b);
      targets.push_back(time_against_raw(std::string("wait with a 1 ms timeout + walk, ") +
                                             timed.back().label + ", " + timed_backends[b]->name(),
                                         timed.back(), b, 1.03, 1.0, "ns"));
    }
  }
  print_table(
      "Always-ready eventfds: one wait with a 1 ms timeout and the walk of its ready set",
      "ns per wait. The fds are ready, so the wait returns at once: what differs is how each computes "
      "and passes its timeout (raw `epoll_wait(..., 1)`, `wait(Timeout::after(1ms))`, "
      "`wait(Timeout::after_precise(1ms))`, the libraries a 1 ms timer re-armed each iteration; "
      "Asio: n/a, edge-triggered)",
      timed_backends, timed, false, 1.0, 1);
  added.push_back(added_time("timed_wait", timed.front(), kLinuxExt));

  std::vector<Column> churn;
  churn.push_back(measure_column(backends, make_churn(1000), settings.rounds, settings.churn_steps));
  churn.push_back(
      measure_column(backends, make_unchanged_set(1000), settings.rounds, settings.unchanged_steps));
  for (const Column& c : churn) count_allocations(c, kLinuxExt);
  print_table(
      "Churn",
      "ns per operation: over 1 000 empty pipes, per fd in turn, set (an add), modify to in|out, modify "
      "back to in, remove; and `set` with the flags an fd already has. Calls only, no loop iteration: "
      "libev passes its changes to the kernel there, libuv its additions, so theirs are partly or wholly "
      "recorded, not made (see their system calls). Asio: n/a, nothing to modify",
      backends, churn, false, 1.0, 1);
  targets.push_back(
      time_against_raw("set/remove (churn: " + churn[0].label + ")", churn[0], kLinuxExt, 1.03, 1.0, "ns"));
  added.push_back(added_time("set_remove", churn[0], kLinuxExt));
  {
    const Column& unchanged = churn[1];
    const double raw = unchanged.median_ns(kRaw), mine = unchanged.median_ns(kLinuxExt);
    targets.push_back({"`set` with unchanged level-triggered flags (raw: an EPOLL_CTL_MOD)",
                       format(raw, 1) + " ns", format(mine, 2) + " ns", format(raw / mine, 1) + "× faster",
                       "≥ 20× faster", raw / mine >= 20});
  }
  allocation_columns.push_back(std::move(churn.front()));

  print_allocations(backends, allocation_columns);
  targets.push_back({"allocations after `create`, in all the timed steps of every table above", "",
                     std::to_string(allocations_after_create), "", "0", allocations_after_create == 0});
  run_timeouts(settings, targets);
  run_memory(targets);
  print_targets(targets);
  if (data_dir != nullptr) write_added_times(std::string(data_dir) + "/added_time.dat", added);
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

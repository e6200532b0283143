// The workloads of the comparison, written once against `Backend`.
//
// A workload opens a loop on a backend and sets it up (`start`), then runs
// its measured unit (`step`) as often as asked, then closes the loop
// (`stop`). compare.cc times the steps, or brackets them with callgrind's
// instrumentation toggles, so that both kinds of figure measure exactly the
// same code.

#ifndef LINUX_EXT_BENCH_WORKLOADS_H_
#define LINUX_EXT_BENCH_WORKLOADS_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace bench {

class Workload {
 public:
  virtual ~Workload() = default;
  // What the step is, for tables: "n=1000 a=100".
  virtual std::string label() const = 0;
  // Whether `backend` can run this workload as its documentation recommends.
  virtual bool runs_on(const Backend& backend) const = 0;
  // Opens a loop on `backend` and sets it up; returns how long the setup
  // took (registering every fd, and one iteration so that libraries which
  // defer their changes make them).
  virtual std::chrono::nanoseconds start(Backend& backend) = 0;
  // The measured unit.
  virtual void step() = 0;
  // How many operations one step counts (fds changed, for churn).
  virtual double ops_per_step() const { return 1; }
  // Closes the loop.
  virtual void stop() = 0;
};

// libevent's test/bench.c: `pairs` socketpairs watched for reading, `active`
// of them, spread evenly, get one byte; each callback reads its byte and,
// while writes remain (`writes` in all), writes one to the next pair. A step
// is one whole run, until every byte written has been read.
std::unique_ptr<Workload> make_bench_c(int pairs, int active, int writes);
// `fds` semaphore eventfds that stay readable, level-triggered; a step is
// one non-blocking wait and the walk of its ready set.
std::unique_ptr<Workload> make_always_ready(int fds);
// The same with a wait of at most kWaitTimeout (1 ms), which returns at once
// since the fds are ready: what a timeout costs in the wait of an event loop.
std::unique_ptr<Workload> make_always_ready_timed(int fds);
// Over the read ends of `fds` empty pipes, a step is one pass: for each fd
// in turn, set it for reading (an add), modify it to read+write, modify it
// back to read, and remove it. Four operations per fd, and no loop
// iteration.
std::unique_ptr<Workload> make_churn(int fds);
// `fds` pipes watched for reading; a step sets each to reading again
// (unchanged), with no loop iteration.
std::unique_ptr<Workload> make_unchanged_set(int fds);

// Parses "bench_c:1000:100", "ready:64", "timed:64", "churn:1000",
// "unchanged:100" (the names `compare count` takes); null when the name is
// unknown.
std::unique_ptr<Workload> make_workload(const std::string& spec, int writes);

}  // namespace bench

#endif  // LINUX_EXT_BENCH_WORKLOADS_H_

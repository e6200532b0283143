// lsepoll: list the epoll sets of running processes.
//
//   lsepoll [--json] [--watch SECONDS] [PID...]
//
// For each epoll instance of each process: every fd it watches, the flags in
// the library's S-expression format (what `Epoll::to_sexp` prints), and what
// the fd is. Without a PID, every process the user may read that has an
// epoll instance. With --watch, then only what changes. See lsepoll(1).

#include <signal.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "print.h"
#include "proc.h"
#include "watch.h"

namespace {

using namespace lsepoll;

constexpr std::string_view kUsage =
    "usage: lsepoll [--json] [--watch SECONDS] [PID...]\n"
    "List the epoll instances of the given processes (default: every process\n"
    "you may read), each watched fd with its flags and what it is.\n"
    "  --json             print JSON instead of text\n"
    "  --watch SECONDS    then, every SECONDS (e.g. 2 or 0.5), print what changed\n"
    "                     (fds added, removed, their flags or kind changed), each\n"
    "                     line stamped with the time; stop on SIGINT or SIGTERM\n";

// The longest --watch interval taken: a day.
constexpr double kMaxWatchSeconds = 86400;

struct Options {
  bool json = false;
  std::optional<std::chrono::nanoseconds> watch;  // the interval, with --watch
  std::vector<pid_t> pids;                        // empty: every process
};

// Prints `message` about the command line and the usage; exit status 2.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "lsepoll: %s\n%s", message.c_str(), kUsage.data());
  return 2;
}

// A --watch interval: a positive decimal number of seconds, at most a day.
std::optional<std::chrono::nanoseconds> parse_interval(const std::string& text) {
  char* end = nullptr;
  const double seconds = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds <= 0 || seconds > kMaxWatchSeconds) {
    return std::nullopt;
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(seconds));
}

// A process id: a positive decimal number, as /proc names them.
std::optional<pid_t> parse_pid(std::string_view arg) {
  if (arg.empty() || arg.size() >= 10 || arg.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  const long pid = std::stol(std::string(arg));
  if (pid <= 0) return std::nullopt;
  return static_cast<pid_t>(pid);
}

// Parses the command line into `options`; an exit status when it is wrong or
// asked for help.
std::optional<int> parse_options(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      options.json = true;
    } else if (arg == "--watch") {
      if (i + 1 == argc) return usage_error("--watch: missing SECONDS");
      options.watch = parse_interval(argv[++i]);
      if (!options.watch) {
        return usage_error("--watch " + std::string(argv[i]) + ": SECONDS must be a positive number up to " +
                           std::to_string(static_cast<int>(kMaxWatchSeconds)));
      }
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else if (const std::optional<pid_t> pid = parse_pid(arg)) {
      options.pids.push_back(*pid);
    } else {
      return usage_error(std::string(arg) + ": not a process id");
    }
  }
  return std::nullopt;
}

// Reads the epoll sets of the processes `options` names (or of every process
// that has one). A named process that cannot be read is reported on stderr
// when `report_errors`, and sets `status` to 1; scanning every process, the
// ones that vanished or belong to another user are not errors: they are
// simply not the user's to see.
std::vector<Process> read_processes(const Options& options, bool report_errors, int& status) {
  const bool named = !options.pids.empty();
  std::vector<Process> processes;
  for (const pid_t pid : named ? options.pids : all_pids()) {
    auto process = inspect(pid);
    if (!process) {
      if (named && report_errors) {
        std::fprintf(stderr, "lsepoll: %s\n", process.error().context().c_str());
        status = 1;
      }
      continue;
    }
    if (named || !process->epolls.empty()) processes.push_back(std::move(*process));
  }
  return processes;
}

void print_processes(const std::vector<Process>& processes, const Options& options) {
  if (options.json) {
    std::string out = "[";
    for (const Process& p : processes) out += (out.size() > 1 ? ",\n " : "") + process_json(p);
    std::fputs((out + "]\n").c_str(), stdout);
  } else {
    for (const Process& p : processes) std::fputs(process_text(p, !options.pids.empty()).c_str(), stdout);
  }
  std::fflush(stdout);
}

// The local time now, "2026-01-02T15:04:05.123+0100".
std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm local{};
  localtime_r(&seconds, &local);
  char date[32], zone[8], text[64];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &local);
  std::strftime(zone, sizeof zone, "%z", &local);
  std::snprintf(text, sizeof text, "%s.%03d%s", date, static_cast<int>(millis), zone);
  return text;
}

// The signals that stop --watch.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// --watch: after the first reading, every `options.watch` reads again and prints
// what changed, until SIGINT or SIGTERM. The two signals are blocked and
// waited for with sigtimedwait, which is also the sleep between readings, so
// a signal stops lsepoll between two readings, never halfway through one.
void watch(std::vector<Process> last, const Options& options) {
  const sigset_t stop = stop_signals();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(*options.watch);
  const timespec interval{static_cast<time_t>(seconds.count()),
                          static_cast<long>((*options.watch - seconds).count())};
  // A named process that exits shows as its instances gone, not as an error.
  int ignored_status = 0;
  while (sigtimedwait(&stop, nullptr, &interval) < 0) {
    std::vector<Process> now = read_processes(options, false, ignored_status);
    const std::string time = timestamp();
    std::string out;
    for (const Change& change : diff(last, now)) {
      out += options.json ? change_json(change, time) : change_text(change, time);
    }
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
    last = std::move(now);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::optional<int> exit_status = parse_options(argc, argv, options)) return *exit_status;
  if (options.watch) {
    // Blocked before the first reading, so that a signal sent once it is
    // printed is waited for, not fatal.
    const sigset_t stop = stop_signals();
    sigprocmask(SIG_BLOCK, &stop, nullptr);
  }
  int status = 0;
  std::vector<Process> processes = read_processes(options, true, status);
  print_processes(processes, options);
  if (options.watch) watch(std::move(processes), options);
  return status;
}

// lsepoll: list the epoll sets of running processes.
//
//   lsepoll [--json] [PID...]
//
// For each epoll instance of each process: every fd it watches, the flags in
// the library's S-expression format (what `Epoll::to_sexp` prints), and what
// the fd is. Without a PID, every process the user may read that has an
// epoll instance. See lsepoll(1).

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "print.h"
#include "proc.h"

namespace {

using namespace lsepoll;

constexpr std::string_view kUsage =
    "usage: lsepoll [--json] [PID...]\n"
    "List the epoll instances of the given processes (default: every process\n"
    "you may read), each watched fd with its flags and what it is.\n"
    "  --json             print JSON instead of text\n";

struct Options {
  bool json = false;
  std::vector<pid_t> pids;  // empty: every process
};

// Prints `message` about the command line and the usage; exit status 2.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "lsepoll: %s\n%s", message.c_str(), kUsage.data());
  return 2;
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
// and sets `status` to 1; scanning every process, the
// ones that vanished or belong to another user are not errors: they are
// simply not the user's to see.
std::vector<Process> read_processes(const Options& options, int& status) {
  const bool named = !options.pids.empty();
  std::vector<Process> processes;
  for (const pid_t pid : named ? options.pids : all_pids()) {
    auto process = inspect(pid);
    if (!process) {
      if (named) {
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

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (const std::optional<int> exit_status = parse_options(argc, argv, options)) return *exit_status;
  int status = 0;
  const std::vector<Process> processes = read_processes(options, status);
  print_processes(processes, options);
  return status;
}

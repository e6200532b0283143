// prefork: a pre-forking echo server whose workers inherit one Epoll set.
//
// The parent opens a loopback listener, puts it in an Epoll set once, and
// forks worker processes that all accept on it. A forked child shares its
// parent's epoll instance, so the first thing each worker does is
// `after_fork()`: the worker gets a set of its own, holding the same fds with
// the same flags, and only then adds its own fds (a signalfd, its
// connections). The listener is watched with `exclusive`, so a connection
// wakes one waiting worker rather than all of them. That is not balance: the
// worker woken first takes every connection queued by then, so one worker may
// serve most of them. (many_cores shows SO_REUSEPORT, where the kernel
// spreads connections over one listener per thread.)
//
// The parent then acts as the client: it opens connections, sends a line on
// each, checks every echo, stops the workers with SIGTERM and adds up what
// each one reports through a pipe. Once the workers have built their sets, it
// also checks that its own set, as the kernel sees it, is still the one it
// built. It exits 0 only when every connection was served and every byte came
// back intact.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;

namespace {

constexpr const char* kUsage =
    "usage: prefork [--workers N] [--connections M]\n"
    "  fork N worker processes (default 4) that accept on one listening\n"
    "  socket, then open M connections (default 64), send a line on each,\n"
    "  check every echo, stop the workers with SIGTERM and add up what each\n"
    "  one served\n";

// What a worker tells the parent when it stops. One write to a pipe of at
// most PIPE_BUF bytes is atomic, so reports from several workers never
// interleave.
struct Report {
  int worker = 0;
  int connections = 0;
  long bytes = 0;
};

sigset_t sigterm_only() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  return set;
}

// A nonblocking TCP listener on 127.0.0.1, on a port the kernel picks.
int make_listener() {
  const int fd = static_cast<int>(
      example::check(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  const sockaddr_in address = example::loopback_address(0);
  example::check(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), "bind");
  example::check(listen(fd, SOMAXCONN), "listen");
  return fd;
}

// One worker process: echoes on the connections it accepts until SIGTERM,
// then reports to the parent and exits.
[[noreturn]] void run_worker(Epoll& ep, int worker, int listen_fd, int ready_fd, int report_fd,
                             pid_t parent) {
  // First, before anything changes or waits on the set: this process shares
  // the parent's epoll instance (fork copies the fd, not the instance), so a
  // `set` here would change the parent's kernel set behind the parent's
  // table, and every worker would wait on one shared set. `after_fork` makes
  // a new instance holding every fd of the table. Forgetting it is caught:
  // `set`, `remove`, `wait` and `pwait` throw std::logic_error naming both
  // process ids.
  ep.after_fork();

  // Nobody is left to read the report once the parent is gone. (The check
  // after the prctl covers a parent that died before it.)
  example::check(prctl(PR_SET_PDEATHSIG, SIGKILL), "prctl");
  if (getppid() != parent) std::exit(1);

  // SIGTERM was blocked before the fork, so one sent before this signalfd
  // existed waits for it instead of killing the worker.
  const sigset_t term = sigterm_only();
  const int signal_fd =
      static_cast<int>(example::check(signalfd(-1, &term, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd"));
  ep.set(signal_fd, Epoll::Flags::in);
  const char ready = 'r';
  example::check(write(ready_fd, &ready, 1), "write");
  close(ready_fd);

  Report report{.worker = worker};
  bool stopping = false;
  while (!stopping) {
    ep.wait(Epoll::Timeout::never());
    for (auto [fd, flags] : ep.ready()) {
      if (fd == signal_fd) {
        stopping = true;
      } else if (fd == listen_fd) {
        // Even with `exclusive` the kernel may wake more than one worker for
        // a connection: EAGAIN means another one accepted it first.
        report.connections += example::accept_all(ep, listen_fd);
      } else {
        report.bytes += example::echo(ep, fd);
      }
    }
  }

  // Every fd in the set is this worker's to close (its copy of the listener
  // too), and each leaves the set before it is closed, the library's first
  // rule. Removing the fd a walk is visiting keeps the walk going.
  ep.iter([&](int fd, Epoll::Flags) {
    ep.remove(fd);
    close(fd);
  });
  ep.close();
  example::check(write(report_fd, &report, sizeof report), "write");
  std::exit(0);
}

// Opens `connections` connections to the port, sends one line on each and
// checks that each comes back unchanged. Returns the number of intact echoes
// and adds the bytes sent to `sent`.
int run_client(std::uint16_t port, int connections, long& sent) {
  const std::vector<int> fds = example::connect_all(port, connections);
  // All lines go out before any echo is read, so the connections are served
  // at the same time, by whichever workers the kernel wakes.
  std::vector<std::string> lines;
  for (int i = 0; i < connections; ++i) {
    lines.push_back("hello from connection " + std::to_string(i) + "\n");
    example::check(write(fds[i], lines[i].data(), lines[i].size()), "write");
    sent += static_cast<long>(lines[i].size());
  }
  int intact = 0;
  for (int i = 0; i < connections; ++i) {
    std::string echo;
    while (echo.size() < lines[i].size()) {
      char buffer[256];
      const long n = example::check(read(fds[i], buffer, lines[i].size() - echo.size()), "read");
      if (n == 0) break;
      echo.append(buffer, static_cast<std::size_t>(n));
    }
    if (echo == lines[i]) ++intact;
    close(fds[i]);
  }
  return intact;
}

}  // namespace

int main(int argc, char** argv) {
  int workers = 4;
  int connections = 64;
  example::parse_options(argc, argv, kUsage, {{"--workers", workers}, {"--connections", connections}});

  // Blocked before the fork, so that every worker starts with it blocked
  // (see run_worker). The parent unblocks it again once the workers exist.
  const sigset_t term = sigterm_only();
  sigset_t parent_mask;
  sigprocmask(SIG_BLOCK, &term, &parent_mask);

  const int listen_fd = make_listener();
  const std::uint16_t port = example::local_port(listen_fd);
  // The set every worker inherits. `exclusive` is only valid when an fd is
  // added to a set, and it is added each time: here, and in each worker by
  // `after_fork`, which adds every fd of the table with its flags to the
  // worker's new set. (A `set` with `exclusive` in a worker, where the
  // listener is already in the set, would be refused with EINVAL.)
  auto ep = Epoll::create(example::fd_domain(), /*max_ready_events=*/64).value();
  ep.set(listen_fd, Epoll::Flags::in + Epoll::Flags::exclusive);

  int ready_pipe[2];
  int report_pipe[2];
  example::check(pipe2(ready_pipe, O_CLOEXEC), "pipe2");
  example::check(pipe2(report_pipe, O_CLOEXEC), "pipe2");
  std::printf("%d workers listening on 127.0.0.1:%u\n", workers, static_cast<unsigned>(port));
  // Flushed before the fork, or each worker would inherit the line in its
  // copy of the buffer and print it again when it exits.
  std::fflush(stdout);
  const pid_t parent = getpid();
  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) {
    const pid_t pid = static_cast<pid_t>(example::check(fork(), "fork"));
    if (pid == 0) {
      close(ready_pipe[0]);
      close(report_pipe[0]);
      run_worker(ep, i, listen_fd, ready_pipe[1], report_pipe[1], parent);
    }
    pids.push_back(pid);
  }
  sigprocmask(SIG_SETMASK, &parent_mask, nullptr);
  close(ready_pipe[1]);
  close(report_pipe[1]);

  // Once it has written to the ready pipe, a worker has called after_fork
  // and added its signalfd to its own set. Had that `set` gone to the shared
  // instance (the library refuses it before after_fork, a bare epoll fd does
  // not), the signalfd would be in this kernel set now, behind this table,
  // and check_against_kernel would throw.
  for (int i = 0; i < workers; ++i) {
    char ready;
    if (example::check(read(ready_pipe[0], &ready, 1), "read") != 1) {
      std::printf("FAIL: only %d of %d workers started\n", i, workers);
      return 1;
    }
  }
  close(ready_pipe[0]);
  ep.check_against_kernel();
  std::printf("the parent's set, as the kernel sees it once every worker has its own: %s\n",
              ep.to_sexp().c_str());
  std::fflush(stdout);

  long sent = 0;
  const int intact = run_client(port, connections, sent);

  int exited_cleanly = 0;
  for (pid_t pid : pids) example::check(kill(pid, SIGTERM), "kill");
  for (pid_t pid : pids) {
    int status = 0;
    example::check(waitpid(pid, &status, 0), "waitpid");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) ++exited_cleanly;
  }
  std::vector<std::optional<Report>> reports(static_cast<std::size_t>(workers));
  Report report;
  while (example::check(read(report_pipe[0], &report, sizeof report), "read") == sizeof report) {
    const auto worker = static_cast<std::size_t>(report.worker);
    if (worker < reports.size()) reports[worker] = report;
  }
  close(report_pipe[0]);
  ep.remove(listen_fd);
  close(listen_fd);
  ep.close();

  int reported = 0;
  int served = 0;
  long echoed = 0;
  for (int i = 0; i < workers; ++i) {
    const std::optional<Report>& r = reports[static_cast<std::size_t>(i)];
    if (!r) {
      std::printf("worker %d: no report\n", i);
      continue;
    }
    std::printf("worker %d: %d connections, %ld bytes\n", i, r->connections, r->bytes);
    ++reported;
    served += r->connections;
    echoed += r->bytes;
  }
  if (exited_cleanly != workers || reported != workers || served != connections || echoed != sent ||
      intact != connections) {
    std::printf(
        "FAIL: %d of %d workers exited cleanly, %d reported; %d of %d connections served;\n"
        "      %ld of %ld bytes echoed; %d echoes intact\n",
        exited_cleanly, workers, reported, served, connections, echoed, sent, intact);
    return 1;
  }
  std::printf("%d workers, %d connections, %ld bytes, all intact\n", workers, connections, sent);
  return 0;
}

// clean_shutdown: stop an event loop on SIGINT or SIGTERM, two ways.
//
//   clean_shutdown signalfd   the signals are blocked and read from a
//                             signalfd that sits in the Epoll set like any fd
//   clean_shutdown pwait      the signals are blocked except while waiting:
//                             `pwait` installs the mask atomically, a handler
//                             runs, and `pwait` returns `interrupted`
//
// Both block the signals before anything else, so no signal can slip in
// between the check of a "stop" flag and the wait (the race `pwait` exists to
// close). Both print "waiting" once the loop is ready: send SIGINT or SIGTERM
// then. A pipe stands in for the work the loop would normally do.

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string_view>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;

namespace {

volatile sig_atomic_t g_signal = 0;

void on_signal(int signal_number) { g_signal = signal_number; }

// Says the loop is ready for a signal. Flushed at once: stdout may be a pipe
// to whoever waits for this line before it sends the signal.
void announce_waiting() {
  std::printf("waiting\n");
  std::fflush(stdout);
}

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// The signal arrives as a readable fd: no handler, no EINTR, and the loop
// learns which signal it was and who sent it.
int run_with_signalfd(Epoll& ep, int work_fd) {
  const sigset_t signals = shutdown_signals();
  const int sfd =
      static_cast<int>(example::check(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC), "signalfd"));
  ep.set(sfd, Epoll::Flags::in);
  announce_waiting();
  int received = 0;
  while (received == 0) {
    ep.wait(Epoll::Timeout::never());
    for (auto [fd, flags] : ep.ready()) {
      if (fd == work_fd) std::printf("work\n");
      if (fd != sfd) continue;
      signalfd_siginfo info;
      if (read(sfd, &info, sizeof info) == sizeof info) received = static_cast<int>(info.ssi_signo);
    }
  }
  ep.remove(sfd);
  close(sfd);
  std::printf("signalfd: got SIG%s, shutting down cleanly\n", sigabbrev_np(received));
  return 0;
}

// The signal interrupts the wait: `pwait` unblocks SIGINT and SIGTERM only
// for the time of the wait, so the handler can run nowhere else.
int run_with_pwait(Epoll& ep, int work_fd) {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  example::check(sigaction(SIGINT, &action, nullptr), "sigaction");
  example::check(sigaction(SIGTERM, &action, nullptr), "sigaction");
  sigset_t wait_mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &wait_mask);
  sigdelset(&wait_mask, SIGINT);
  sigdelset(&wait_mask, SIGTERM);
  announce_waiting();
  while (g_signal == 0) {
    if (ep.pwait(Epoll::Timeout::never(), wait_mask) == Epoll::WaitResult::interrupted) continue;
    for (auto [fd, flags] : ep.ready()) {
      if (fd == work_fd) std::printf("work\n");
    }
  }
  std::printf("pwait: interrupted by SIG%s, shutting down cleanly\n", sigabbrev_np(g_signal));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc == 2 ? argv[1] : "";
  if (mode != "signalfd" && mode != "pwait") {
    std::fprintf(stderr, "usage: clean_shutdown signalfd|pwait\n");
    return 2;
  }
  // First thing: from here on SIGINT and SIGTERM can only arrive where the
  // loop chooses to take them.
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  int work[2];
  example::check(pipe2(work, O_CLOEXEC), "pipe2");
  auto ep = Epoll::create(/*num_file_descrs=*/64, /*max_ready_events=*/8).value();
  ep.set(work[0], Epoll::Flags::in);
  const int status = mode == "signalfd" ? run_with_signalfd(ep, work[0]) : run_with_pwait(ep, work[0]);
  ep.close();
  close(work[0]);
  close(work[1]);
  return status;
}

// select_to_epoll: one loop written with select(), then with Epoll.
//
// The loop reads several pipes, at most 4 bytes from a pipe per round, until
// each one reaches end of file. It relies on level-triggered readiness: a pipe
// that still holds data is reported again in the next round. select() has
// always worked that way, and so does an Epoll by default (no `Flags::et`), so
// moving a loop over is a mechanical change: the fd_set becomes the Epoll's
// table, FD_SET/FD_CLR become `set`/`remove`, and the scan over every fd
// becomes a walk over the ready set, which costs what is ready, not the
// highest fd. Both loops print the same transcript.

#include <fcntl.h>
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "example_util.h"
#include "linux_ext/epoll.h"

using linux_ext::Epoll;

namespace {

constexpr const char* kUsage =
    "usage: select_to_epoll [--pipes N]\n"
    "  read N pipes (default 3)\n";

constexpr std::size_t kChunk = 4;

// The pipes a loop reads, each filled with a message and closed for writing,
// and what the loop has read from each.
struct Pipes {
  std::vector<int> read_fds;
  std::vector<std::string> received;
  int rounds = 0;

  explicit Pipes(int count) {
    for (int i = 0; i < count; ++i) {
      int fds[2];
      example::check(pipe2(fds, O_CLOEXEC), "pipe2");
      const std::string message =
          "message " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 3, '!');
      example::check(write(fds[1], message.data(), message.size()), "write");
      close(fds[1]);
      read_fds.push_back(fds[0]);
      received.emplace_back();
    }
  }

  // Reads one chunk from the pipe at `index`; false at end of file.
  bool read_chunk(std::size_t index) {
    char buffer[kChunk];
    const long n = example::check(read(read_fds[index], buffer, sizeof buffer), "read");
    received[index].append(buffer, static_cast<std::size_t>(n));
    return n > 0;
  }

  std::size_t index_of(int fd) const {
    for (std::size_t i = 0; i < read_fds.size(); ++i) {
      if (read_fds[i] == fd) return i;
    }
    return read_fds.size();
  }

  std::string transcript(const char* loop) const {
    std::string out = std::string(loop) + ": " + std::to_string(rounds) + " rounds\n";
    for (std::size_t i = 0; i < received.size(); ++i) {
      out += "  pipe " + std::to_string(i) + ": \"" + received[i] + "\"\n";
    }
    return out;
  }
};

// Before: select() over an fd_set rebuilt every round.
std::string select_loop(int count) {
  Pipes pipes(count);
  std::vector<bool> open(pipes.read_fds.size(), true);
  std::size_t remaining = open.size();
  while (remaining > 0) {
    fd_set readable;
    FD_ZERO(&readable);
    int max_fd = -1;
    for (std::size_t i = 0; i < open.size(); ++i) {
      if (!open[i]) continue;
      FD_SET(pipes.read_fds[i], &readable);
      max_fd = std::max(max_fd, pipes.read_fds[i]);
    }
    example::check(select(max_fd + 1, &readable, nullptr, nullptr, nullptr), "select");
    ++pipes.rounds;
    for (std::size_t i = 0; i < open.size(); ++i) {
      if (!open[i] || !FD_ISSET(pipes.read_fds[i], &readable)) continue;
      if (!pipes.read_chunk(i)) {
        open[i] = false;
        --remaining;
        close(pipes.read_fds[i]);
      }
    }
  }
  return pipes.transcript("select");
}

// After: the same loop on an Epoll. The set persists between rounds, so
// nothing is rebuilt, and only ready fds are visited.
std::string epoll_loop(int count) {
  Pipes pipes(count);
  auto ep = Epoll::create(/*num_file_descrs=*/1024, /*max_ready_events=*/64).value();
  for (int fd : pipes.read_fds) ep.set(fd, Epoll::Flags::in);
  while (ep.size() > 0) {
    ep.wait(Epoll::Timeout::never());
    ++pipes.rounds;
    for (auto [fd, flags] : ep.ready()) {
      // A pipe whose writer is gone reports `hup`, with or without data left.
      if (!pipes.read_chunk(pipes.index_of(fd))) {
        ep.remove(fd);
        close(fd);
      }
    }
  }
  return pipes.transcript("epoll");
}

}  // namespace

int main(int argc, char** argv) {
  int count = 3;
  example::parse_options(argc, argv, kUsage, {{"--pipes", count}});
  const std::string before = select_loop(count);
  const std::string after = epoll_loop(count);
  std::printf("%s%s", before.c_str(), after.c_str());
  // Each transcript starts with the loop's name; the rest must be the same.
  const bool same = before.substr(before.find(':')) == after.substr(after.find(':'));
  std::printf(same ? "the two loops agree\n" : "FAIL: the two loops differ\n");
  return same ? 0 : 1;
}

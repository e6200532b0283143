// A model of one Epoll and of the kernel's epoll set beside it, driven with
// the same operations as a real Epoll and compared after every step.
//
// The model is exact about the kernel: it keys each kernel entry by
// (open file, fd number), as the kernel does, so that closing an fd that is
// still in the set, a dup that keeps its file alive, a number reused by
// another file, ADD/MOD/DEL errnos in the kernel's order of checks, and
// one-shot entries that fire are all predicted, not guessed. It knows the
// count of every eventfd, and so exactly what a wait must report for one.
// The fds themselves (which number open() returns) come from the real
// system: the model predicts what the Epoll does with them.
//
// The table is compared as a set after every step: `iter` visits each fd
// once, in an order the contract leaves open.
//
// Used by tests/model_test.cc (random operations, seeds, shrinking) and by
// fuzz/ops_fuzz.cc (operations decoded from the fuzzer's bytes).

#ifndef LINUX_EXT_TESTS_EPOLL_MODEL_H_
#define LINUX_EXT_TESTS_EPOLL_MODEL_H_

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "linux_ext/epoll.h"

namespace linux_ext::model {

using Flags = Epoll::Flags;

// What one step does. Operations on fds name an fd *number*, so that any
// subsequence of a recorded run is still a meaningful run (shrinking relies
// on it); a number that is not one of the model's own open fds makes
// close/dup/write/read do nothing.
enum class OpKind : std::uint8_t {
  open_pipe,        // pipe2: a read end and a write end
  open_socketpair,  // two connected stream sockets
  open_eventfd,     // an eventfd (every eventfd shares one anonymous inode)
  open_memfd,       // a regular file: epoll refuses it with EPERM
  dup,              // dup(fd): a second number for the same open file
  close_fd,         // close(fd), whether or not fd is in the set
  write,            // a byte (or an eventfd count of 1) into fd
  read,             // drain fd
  set,              // ep.set(fd, flags)
  remove,           // ep.remove(fd)
  wait,             // ep.wait / pwait with the timeout chosen by `arg`
  close_epoll,      // ep.close()
  create_epoll,     // ep = Epoll::create(...): a new set, the old one closed
  walk_ready,       // iter_ready, changing the table at each event (`arg`'s bits: remove it, or set `fd`)
  clear_ready,      // ep.clear_ready()
  resize,           // ep.resize with the sizes chosen by `arg`
};
inline constexpr int kNumOpKinds = static_cast<int>(OpKind::resize) + 1;

// One operation: `fd` for fd operations, `flags` for set, `arg` chooses the
// timeout of a wait (see `wait_timeout`), the sizes of a resize (see
// `resize_sizes`) and what a walk of the ready set changes.
struct Op {
  OpKind kind;
  int fd = 0;
  std::uint32_t flags = 0;
  std::uint32_t arg = 0;
};

// The timeout of a wait with `arg`: mostly a poll, sometimes a short timed
// wait in both granularities (these cost real time, so they are rare), and a
// pwait with an empty mask.
struct WaitChoice {
  Epoll::Timeout timeout;
  bool use_pwait;
  std::string text;
};
inline WaitChoice wait_timeout(std::uint32_t arg) {
  const bool use_pwait = (arg & 1U) != 0;
  const std::uint32_t kind = (arg >> 1) % 64;
  const auto micros = std::chrono::microseconds((arg >> 7) % 1500 + 1);
  const std::string call = use_pwait ? "pwait" : "wait";
  if (kind == 0) {
    return {Epoll::Timeout::after(micros), use_pwait,
            call + "(after " + std::to_string(micros.count()) + "us)"};
  }
  if (kind == 1) {
    const auto precise = std::chrono::microseconds(micros.count() % 200 + 1);
    return {Epoll::Timeout::after_precise(precise), use_pwait,
            call + "(after_precise " + std::to_string(precise.count()) + "us)"};
  }
  return {Epoll::Timeout::immediately(), use_pwait, call + "(immediately)"};
}

// The sizes of a resize with `arg`: domains around the harness's fds (which
// run past 32), so that shrinks that would drop an fd come up, and buffers
// from 1 up; sometimes sizes that create refuses.
struct ResizeChoice {
  int num_file_descrs;
  int max_ready_events;
};
inline ResizeChoice resize_sizes(std::uint32_t arg) {
  const int domains[] = {32, 48, 64, 24, 16, 8, 0, -1};
  const int maxes[] = {4, 1, 2, 3, 8, 64, 0, -5};
  return {domains[arg % 8], maxes[(arg >> 3) % 8]};
}

inline std::string to_string(const Op& op) {
  const std::string fd = std::to_string(op.fd);
  switch (op.kind) {
    case OpKind::open_pipe:
      return "open pipe";
    case OpKind::open_socketpair:
      return "open socketpair";
    case OpKind::open_eventfd:
      return "open eventfd";
    case OpKind::open_memfd:
      return "open memfd (regular file)";
    case OpKind::dup:
      return "dup " + fd;
    case OpKind::close_fd:
      return "close " + fd;
    case OpKind::write:
      return "write " + fd;
    case OpKind::read:
      return "read " + fd;
    case OpKind::set:
      return "set " + fd + " " + Flags::of_bits(op.flags).to_string();
    case OpKind::remove:
      return "remove " + fd;
    case OpKind::wait:
      return wait_timeout(op.arg).text;
    case OpKind::close_epoll:
      return "close the epoll set";
    case OpKind::create_epoll:
      return "create a new epoll set";
    case OpKind::walk_ready:
      return "iter_ready, at each event i: remove it if bit i of " + std::to_string(op.arg) +
             " is set, else set " + fd + " " + Flags::of_bits(op.flags).to_string();
    case OpKind::clear_ready:
      return "clear_ready";
    case OpKind::resize: {
      const ResizeChoice sizes = resize_sizes(op.arg);
      return "resize " + std::to_string(sizes.num_file_descrs) + " " + std::to_string(sizes.max_ready_events);
    }
  }
  return "?";
}

inline std::string to_string(const std::vector<Op>& ops) {
  std::string text;
  for (std::size_t i = 0; i < ops.size(); ++i)
    text += "  " + std::to_string(i + 1) + ". " + to_string(ops[i]) + "\n";
  return text;
}

// The sizes of the Epoll under test when it is created (resize changes
// them). The domain is small on purpose: the fds the model opens run past
// it, so out-of-range fds come up by themselves.
struct Config {
  int num_file_descrs = 32;
  int max_ready_events = 4;
  int max_open_fds = 40;
  // check_against_kernel (which reads /proc) runs after every step whose
  // number is a multiple of this; table, size and invariant after every step.
  int kernel_check_every = 1;
};

// Harness
//
// A real Epoll, the fds the model opened, and the model of both the table
// and the kernel's set. `step` runs one Op on both and returns what
// disagreed ("" when nothing did).
class Harness {
 public:
  explicit Harness(Config config = {})
      : config_(config),
        epoll_(make_epoll()),
        domain_(config.num_file_descrs),
        max_ready_events_(config.max_ready_events) {
    // Writing into a pipe whose read end is closed must give EPIPE, not kill.
    ::signal(SIGPIPE, SIG_IGN);
    foreign_ = open_fds_now();
  }
  ~Harness() {
    for (const auto& [fd, file] : fds_) ::close(fd);
  }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Runs `op` on the Epoll and on the model; returns "" or what disagreed.
  std::string step(const Op& op) {
    ++steps_;
    std::string failure = apply(op);
    if (failure.empty()) failure = compare();
    return failure;
  }

  // The model's own open fds (the epoll fd is not among them).
  const std::map<int, int>& open_fds() const { return fds_; }
  // The epoll fd, or -1 when the set is closed.
  int epoll_fd() const { return closed_ ? -1 : epoll_.fd(); }
  const Config& config() const { return config_; }
  // The domain the set has now: the config's, or the last resize's.
  int domain() const { return domain_; }
  // The flags the model has for `fd` in the table, if any.
  std::optional<Flags> table_flags(int fd) const {
    const auto it = table_.find(fd);
    if (it == table_.end()) return std::nullopt;
    return it->second.flags;
  }
  // How many times check_against_kernel was compared with the model.
  long kernel_checks() const { return kernel_checks_; }
  // How often set and remove ended each way, e.g. "set EBADF" -> 120.
  const std::map<std::string, long>& outcomes() const { return outcomes_; }

 private:
  // An open file, as the kernel knows it: epoll keys its entries by it.
  struct File {
    OpKind kind;              // how it was opened
    int references;           // fd numbers naming it
    bool write_end;           // a pipe's write end
    std::uint64_t count = 0;  // an eventfd's counter: readable while positive
  };
  // One entry of the kernel's set, keyed by (file id, fd number).
  struct KernelEntry {
    Flags flags;
    bool disarmed = false;        // a oneshot entry that fired
    bool may_have_fired = false;  // a oneshot entry whose number another entry shares, reported
  };
  struct TableEntry {
    Flags flags;
    int file;  // the file the fd named when it was added
  };
  // What an operation did: returned, or threw one of these.
  struct Outcome {
    enum Kind { ok, out_of_range, invalid_argument, logic_error, system_error, other } kind = ok;
    int error = 0;
    std::string what;
    bool operator==(const Outcome& o) const { return kind == o.kind && error == o.error; }
  };

  static constexpr Flags kExclusiveOk =
      Flags::in + Flags::out + Flags::err + Flags::hup + Flags::wakeup + Flags::et + Flags::exclusive;

  Epoll make_epoll() const {
    return Epoll::create(config_.num_file_descrs, config_.max_ready_events).value();
  }

  static std::set<int> open_fds_now() {
    std::set<int> fds;
    if (DIR* dir = ::opendir("/proc/self/fd")) {
      while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') fds.insert(std::atoi(entry->d_name));
      }
      ::closedir(dir);
    }
    return fds;
  }

  static std::string describe(const Outcome& o) {
    switch (o.kind) {
      case Outcome::ok:
        return "returned";
      case Outcome::out_of_range:
        return "threw std::out_of_range";
      case Outcome::invalid_argument:
        return "threw std::invalid_argument";
      case Outcome::logic_error:
        return "threw std::logic_error";
      case Outcome::system_error:
        return "threw std::system_error(" + std::error_code(o.error, std::generic_category()).message() + ")";
      case Outcome::other:
        return "threw something else: " + o.what;
    }
    return "?";
  }

  template <class F>
  static Outcome run(F&& f) {
    try {
      f();
      return {};
    } catch (const std::system_error& e) {
      return {Outcome::system_error, e.code().value(), e.what()};
    } catch (const std::out_of_range& e) {
      return {Outcome::out_of_range, 0, e.what()};
    } catch (const std::invalid_argument& e) {
      return {Outcome::invalid_argument, 0, e.what()};
    } catch (const std::logic_error& e) {
      return {Outcome::logic_error, 0, e.what()};
    } catch (const std::exception& e) {
      return {Outcome::other, 0, e.what()};
    }
  }

  static std::string mismatch(const std::string& what, const Outcome& expected, const Outcome& actual) {
    return what + ": expected it to have " + describe(expected) + ", but it " + describe(actual) +
           (actual.what.empty() ? "" : " (" + actual.what + ")");
  }
  static std::string mismatch(const Op& op, const Outcome& expected, const Outcome& actual) {
    return mismatch(to_string(op), expected, actual);
  }

  void count_outcome(const char* operation, const Outcome& o) {
    std::string name = describe(o);
    if (o.kind == Outcome::system_error) {
      const char* errno_name = ::strerrorname_np(o.error);
      name = errno_name != nullptr ? errno_name : std::to_string(o.error);
    }
    ++outcomes_[std::string(operation) + " " + name];
  }

  bool in_domain(int fd) const { return fd >= 0 && fd < domain_; }

  // The errno the kernel's epoll_ctl gives, in the order it checks, and its
  // effect on the kernel's set when it succeeds.
  int kernel_ctl(char op, int fd, Flags flags) {
    const auto named = fds_.find(fd);
    const bool is_epoll = !closed_ && fd == epoll_.fd();
    if (named == fds_.end() && !is_epoll) return EBADF;
    if (is_epoll) return EINVAL;  // an epoll set cannot watch itself
    const int file = named->second;
    if (files_.at(file).kind == OpKind::open_memfd) return EPERM;  // regular files cannot be polled
    if (op != 'D' && flags.do_intersect(Flags::exclusive)) {
      if (op == 'M' || !flags.is_subset(kExclusiveOk)) return EINVAL;
    }
    const auto entry = kernel_.find({file, fd});
    switch (op) {
      case 'A':
        if (entry != kernel_.end()) return EEXIST;
        kernel_[{file, fd}] = KernelEntry{flags};
        return 0;
      case 'M':
        if (entry == kernel_.end()) return ENOENT;
        if (entry->second.flags.do_intersect(Flags::exclusive)) return EINVAL;
        entry->second = KernelEntry{flags};
        return 0;
      default:
        if (entry == kernel_.end()) return ENOENT;
        kernel_.erase(entry);
        return 0;
    }
  }

  static Outcome errno_outcome(int error) {
    return error == 0 ? Outcome{} : Outcome{Outcome::system_error, error, {}};
  }

  Outcome expect_set(int fd, Flags flags) {
    if (closed_) return Outcome{Outcome::logic_error, 0, {}};
    if (!in_domain(fd)) return Outcome{Outcome::out_of_range, 0, {}};
    const auto entry = table_.find(fd);
    if (entry != table_.end()) {
      if (flags.do_intersect(Flags::exclusive)) return errno_outcome(EINVAL);
      if (entry->second.flags == flags && !flags.do_intersect(Flags::et + Flags::oneshot)) return {};
      const int error = kernel_ctl('M', fd, flags);
      if (error == 0) entry->second.flags = flags;
      return errno_outcome(error);
    }
    const int error = kernel_ctl('A', fd, flags);
    if (error == 0) table_[fd] = TableEntry{flags, fds_.at(fd)};
    return errno_outcome(error);
  }

  Outcome expect_remove(int fd) {
    if (closed_) return Outcome{Outcome::logic_error, 0, {}};
    if (!in_domain(fd)) return Outcome{Outcome::out_of_range, 0, {}};
    if (table_.erase(fd) == 0) return {};
    return errno_outcome(kernel_ctl('D', fd, Flags::none));
  }

  // resize refuses the sizes create refuses, and a domain without room for
  // an fd of the table; otherwise the table stays and the sizes change.
  Outcome expect_resize(ResizeChoice sizes) {
    if (closed_) return Outcome{Outcome::logic_error, 0, {}};
    if (sizes.num_file_descrs < 0 || sizes.max_ready_events <= 0)
      return Outcome{Outcome::invalid_argument, 0, {}};
    if (!table_.empty() && table_.rbegin()->first >= sizes.num_file_descrs) {
      return Outcome{Outcome::invalid_argument, 0, {}};
    }
    domain_ = sizes.num_file_descrs;
    max_ready_events_ = sizes.max_ready_events;
    return {};
  }

  // set and remove on the Epoll and on the model; "" or what disagreed.
  std::string check_set(const std::string& what, int fd, Flags flags) {
    if (is_foreign(fd)) return {};
    const Outcome expected = expect_set(fd, flags);
    const Outcome actual = run([&] { epoll_.set(fd, flags); });
    count_outcome("set", actual);
    return expected == actual ? std::string() : mismatch(what, expected, actual);
  }
  std::string check_remove(const std::string& what, int fd) {
    if (is_foreign(fd)) return {};
    const Outcome expected = expect_remove(fd);
    const Outcome actual = run([&] { epoll_.remove(fd); });
    count_outcome("remove", actual);
    return expected == actual ? std::string() : mismatch(what, expected, actual);
  }

  // A file loses a name; with the last one gone the kernel drops its entries.
  void drop_reference(int fd) {
    const int file = fds_.at(fd);
    fds_.erase(fd);
    if (--files_.at(file).references > 0) return;
    files_.erase(file);
    std::erase_if(kernel_, [&](const auto& entry) { return entry.first.first == file; });
  }

  void add_fd(int fd, OpKind kind, bool write_end = false) {
    if (fd < 0) return;
    files_[next_file_] = File{kind, 1, write_end};
    fds_[fd] = next_file_++;
  }

  bool can_open() const { return static_cast<int>(fds_.size()) + 2 <= config_.max_open_fds; }

  std::string apply(const Op& op) {
    const bool ours = fds_.count(op.fd) != 0;
    switch (op.kind) {
      case OpKind::open_pipe: {
        int p[2];
        if (can_open() && ::pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {
          add_fd(p[0], op.kind);
          add_fd(p[1], op.kind, true);
        }
        return {};
      }
      case OpKind::open_socketpair: {
        int s[2];
        if (can_open() && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, s) == 0) {
          add_fd(s[0], op.kind);
          add_fd(s[1], op.kind);
        }
        return {};
      }
      case OpKind::open_eventfd:
        if (can_open()) add_fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), op.kind);
        return {};
      case OpKind::open_memfd:
        if (can_open()) add_fd(::memfd_create("epoll_model", MFD_CLOEXEC), op.kind);
        return {};
      case OpKind::dup:
        if (ours && can_open()) {
          const int copy = ::fcntl(op.fd, F_DUPFD_CLOEXEC, 0);
          if (copy >= 0) {
            fds_[copy] = fds_.at(op.fd);
            ++files_.at(fds_.at(op.fd)).references;
          }
        }
        return {};
      case OpKind::close_fd:
        if (ours) {
          ::close(op.fd);
          drop_reference(op.fd);
        }
        return {};
      case OpKind::write:
        if (ours) write_into(op.fd);
        return {};
      case OpKind::read:
        if (ours) {
          char buffer[4096];
          while (::read(op.fd, buffer, sizeof buffer) > 0) {
          }
          files_.at(fds_.at(op.fd)).count = 0;  // an eventfd reads its whole count
        }
        return {};
      case OpKind::set:
        return check_set(to_string(op), op.fd, Flags::of_bits(op.flags));
      case OpKind::remove:
        return check_remove(to_string(op), op.fd);
      case OpKind::wait:
        return apply_wait(op);
      case OpKind::walk_ready:
        return apply_walk_ready(op);
      case OpKind::clear_ready:
        epoll_.clear_ready();
        if (epoll_.num_ready() != 0)
          return "clear_ready left " + std::to_string(epoll_.num_ready()) + " events";
        if (!closed_ && !epoll_.ready().empty()) return "clear_ready left events in ready()";
        return {};
      case OpKind::resize:
        return apply_resize(op);
      case OpKind::close_epoll: {
        const Outcome actual = run([&] { epoll_.close(); });
        closed_ = true;
        table_.clear();
        kernel_.clear();
        return actual == Outcome{} ? std::string() : mismatch(op, Outcome{}, actual);
      }
      case OpKind::create_epoll:
        epoll_ = make_epoll();
        closed_ = false;
        domain_ = config_.num_file_descrs;
        max_ready_events_ = config_.max_ready_events;
        table_.clear();
        kernel_.clear();
        return {};
    }
    return "unknown operation";
  }

  // Whether `what` names fd `fd` ("fd 3", not the start of "fd 31").
  static bool names_fd(const std::string& what, int fd) {
    const std::string name = "fd " + std::to_string(fd);
    for (std::size_t at = what.find(name); at != std::string::npos; at = what.find(name, at + 1)) {
      const std::size_t end = at + name.size();
      if (end == what.size() || what[end] < '0' || what[end] > '9') return true;
    }
    return false;
  }

  // resize: refused exactly when the model refuses it, naming an fd it
  // would drop, and changing nothing then; otherwise the ready set is empty.
  std::string apply_resize(const Op& op) {
    const ResizeChoice sizes = resize_sizes(op.arg);
    const int ready_before = epoll_.num_ready();
    const Outcome expected = expect_resize(sizes);
    const Outcome actual = run([&] { epoll_.resize(sizes.num_file_descrs, sizes.max_ready_events); });
    count_outcome("resize", actual);
    if (!(expected == actual)) return mismatch(op, expected, actual);
    if (actual.kind == Outcome::ok) {
      return epoll_.num_ready() == 0 ? std::string() : to_string(op) + ": the ready set was not emptied";
    }
    if (epoll_.num_ready() != ready_before) return to_string(op) + ": a refused resize changed the ready set";
    if (actual.kind == Outcome::invalid_argument && sizes.num_file_descrs >= 0 &&
        sizes.max_ready_events > 0) {
      bool named = false;
      for (auto it = table_.lower_bound(sizes.num_file_descrs); it != table_.end(); ++it) {
        named |= names_fd(actual.what, it->first);
      }
      if (!named) return to_string(op) + ": the error names no fd it would drop: " + actual.what;
    }
    return {};
  }

  // A walk of the ready set that changes the table at every event: it must
  // still visit exactly the events of the last wait, and each change must
  // do what it does outside a walk.
  std::string apply_walk_ready(const Op& op) {
    if (closed_) {
      const Outcome actual = run([&] { epoll_.iter_ready([](int, Flags) {}); });
      return actual.kind == Outcome::logic_error ? std::string()
                                                 : mismatch(op, Outcome{Outcome::logic_error, 0, {}}, actual);
    }
    std::vector<std::pair<int, Flags>> before;
    for (const auto [fd, flags] : epoll_.ready()) before.emplace_back(fd, flags);
    std::vector<std::pair<int, Flags>> walked;
    std::string failure;
    epoll_.iter_ready([&](int fd, Flags flags) {
      const std::size_t i = walked.size();
      walked.emplace_back(fd, flags);
      const std::string during = " during " + to_string(op);
      const std::string f =
          (op.arg >> (i % 32)) & 1U
              ? check_remove("remove " + std::to_string(fd) + during, fd)
              : check_set("set " + std::to_string(op.fd) + during, op.fd, Flags::of_bits(op.flags));
      if (failure.empty()) failure = f;
    });
    if (!failure.empty()) return failure;
    if (walked != before) return to_string(op) + ": the walk did not visit the events of the last wait";
    return {};
  }

  void write_into(int fd) {
    File& file = files_.at(fds_.at(fd));
    if (file.kind == OpKind::open_eventfd) {
      const std::uint64_t one = 1;
      if (::write(fd, &one, sizeof one) == static_cast<ssize_t>(sizeof one)) ++file.count;
    } else if (file.kind == OpKind::open_socketpair) {
      [[maybe_unused]] const ssize_t n = ::send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    } else if (file.kind == OpKind::open_pipe && file.write_end) {
      [[maybe_unused]] const ssize_t n = ::write(fd, "x", 1);
    }
  }

  bool is_foreign(int fd) const { return foreign_.count(fd) != 0 && fds_.count(fd) == 0 && fd != epoll_fd(); }

  // The kernel entries that report under the fd number `fd`.
  std::vector<std::map<std::pair<int, int>, KernelEntry>::iterator> entries_for(int fd) {
    std::vector<std::map<std::pair<int, int>, KernelEntry>::iterator> found;
    for (auto it = kernel_.begin(); it != kernel_.end(); ++it) {
      if (it->first.second == fd) found.push_back(it);
    }
    return found;
  }

  // What an eventfd is ready for: out always (its count never nears the
  // top here), in while its count is positive.
  static Flags eventfd_readiness(const File& file) {
    return file.count > 0 ? Flags::in + Flags::out : Flags::out;
  }

  // A wait cannot be predicted event by event for every kind of file, but
  // what it reports can be checked: only fds the kernel watches, only
  // events they were watched for (plus err and hup), never no event, never
  // a disarmed one-shot entry, at most max_ready_events, `ok` exactly when
  // something is ready, and always `ok` when a level-triggered eventfd is
  // watched for `out` (an eventfd is always writable here). Eventfds are
  // exact: each reports what its count makes it ready for, and with room
  // to spare in the buffer every ready level-triggered one is reported.
  std::string apply_wait(const Op& op) {
    const WaitChoice choice = wait_timeout(op.arg);
    if (closed_) {
      const Outcome actual = run([&] { epoll_.wait(choice.timeout); });
      return actual.kind == Outcome::logic_error ? std::string()
                                                 : mismatch(op, Outcome{Outcome::logic_error, 0, {}}, actual);
    }
    bool must_be_ready = false;
    for (const auto& [key, entry] : kernel_) {
      if (!entry.disarmed && !entry.may_have_fired && entry.flags.do_intersect(Flags::out) &&
          !entry.flags.do_intersect(Flags::et) && files_.at(key.first).kind == OpKind::open_eventfd) {
        must_be_ready = true;
      }
    }
    sigset_t empty;
    sigemptyset(&empty);
    Epoll::WaitResult result{};
    const Outcome actual = run([&] {
      result = choice.use_pwait ? epoll_.pwait(choice.timeout, empty) : epoll_.wait(choice.timeout);
    });
    if (!(actual == Outcome{})) return mismatch(op, Outcome{}, actual);
    const int n = epoll_.num_ready();
    const std::string context = choice.text + " returned " + std::to_string(n) + " events: ";
    if (result == Epoll::WaitResult::interrupted) return context + "interrupted without a signal";
    if ((result == Epoll::WaitResult::ok) != (n > 0)) return context + "ok does not match the ready count";
    if (n > max_ready_events_) return context + "more than max_ready_events";
    if (must_be_ready && n == 0)
      return context + "nothing, though a level-triggered eventfd is watched for out";
    std::set<int> reported;
    std::set<int> seen;
    std::string failure;
    epoll_.iter_ready([&](int fd, Flags flags) {
      const std::string event = context + "fd " + std::to_string(fd);
      reported.insert(fd);
      if (flags.is_empty()) failure = event + " reported with no event";
      const auto entries = entries_for(fd);
      if (entries.empty()) {
        failure = event + " is not in the kernel's set";
        return;
      }
      if (entries.size() > 1) {
        // Two files under one number: which of them fired cannot be told.
        for (const auto& e : entries)
          e->second.may_have_fired |= e->second.flags.do_intersect(Flags::oneshot);
        return;
      }
      KernelEntry& entry = entries.front()->second;
      if (!seen.insert(fd).second) failure = event + " twice";
      if (entry.disarmed) failure = event + " fired again after oneshot";
      const Flags allowed =
          (entry.flags & (Flags::in + Flags::out + Flags::pri + Flags::rdhup)) + Flags::err + Flags::hup;
      if (!flags.is_subset(allowed)) {
        failure = event + " reported " + flags.to_string() + " but is watched for " + entry.flags.to_string();
      }
      const File& file = files_.at(entries.front()->first.first);
      if (file.kind == OpKind::open_eventfd && flags != (eventfd_readiness(file) & entry.flags)) {
        failure = event + " (an eventfd of count " + std::to_string(file.count) + ", watched for " +
                  entry.flags.to_string() + ") reported " + flags.to_string();
      }
      if (entry.flags.do_intersect(Flags::oneshot)) {
        entry.disarmed = true;
        entry.may_have_fired = false;
      }
    });
    if (!failure.empty() || n == max_ready_events_) return failure;
    for (const auto& [key, entry] : kernel_) {
      const File& file = files_.at(key.first);
      if (file.kind != OpKind::open_eventfd || entry.flags.do_intersect(Flags::et + Flags::oneshot)) continue;
      if ((eventfd_readiness(file) & entry.flags).is_empty() || reported.count(key.second) != 0) continue;
      return context + "fd " + std::to_string(key.second) + ", a ready level-triggered eventfd, was left out";
    }
    return {};
  }

  // Whether the table and the kernel's set agree, by the model: every table
  // entry's fd still names the file it was added with and the kernel has
  // that (file, fd) entry, and the kernel has no other entry.
  std::string model_disagreement() const {
    for (const auto& [fd, entry] : table_) {
      const auto named = fds_.find(fd);
      if (named == fds_.end()) return "fd " + std::to_string(fd) + " was closed while in the set";
      if (named->second != entry.file) return "fd " + std::to_string(fd) + " now names another file";
      if (kernel_.count({entry.file, fd}) == 0)
        return "fd " + std::to_string(fd) + " is not in the kernel's set";
    }
    for (const auto& [key, entry] : kernel_) {
      const auto in_table = table_.find(key.second);
      if (in_table == table_.end() || in_table->second.file != key.first) {
        return "the kernel watches fd " + std::to_string(key.second) +
               " (a closed or other file), the table does not";
      }
    }
    return {};
  }

  std::string compare() {
    std::ostringstream failure;
    if (epoll_.is_closed() != closed_) return closed_ ? "the set should be closed" : "the set should be open";
    if (const Outcome o = run([&] { epoll_.invariant(); }); !(o == Outcome{})) return "invariant: " + o.what;
    if (closed_) {
      if (epoll_.size() != 0 || epoll_.num_ready() != 0) return "a closed set has a size or ready events";
      return {};
    }
    if (epoll_.size() != table_.size()) {
      failure << "size() is " << epoll_.size() << ", the model has " << table_.size();
      return failure.str();
    }
    if (epoll_.num_file_descrs() != domain_ || epoll_.max_ready_events() != max_ready_events_) {
      failure << "the sizes are " << epoll_.num_file_descrs() << " and " << epoll_.max_ready_events()
              << ", the model has " << domain_ << " and " << max_ready_events_;
      return failure.str();
    }
    // iter: each fd once, in any order, with its flags.
    std::map<int, Flags> walked;
    std::string problem;
    epoll_.iter([&](int fd, Flags flags) {
      if (!walked.emplace(fd, flags).second && problem.empty())
        problem = "iter visited fd " + std::to_string(fd) + " twice";
    });
    if (!problem.empty()) return problem;
    for (const auto& [fd, flags] : walked) {
      const auto model = table_.find(fd);
      if (model == table_.end())
        return "iter visited fd " + std::to_string(fd) + ", which the model does not have";
      if (model->second.flags != flags) {
        return "iter gave fd " + std::to_string(fd) + " " + flags.to_string() + ", the model has " +
               model->second.flags.to_string();
      }
    }
    if (walked.size() != table_.size())
      return "iter visited " + std::to_string(walked.size()) + " fds of " + std::to_string(table_.size());
    // find: every fd of the domain.
    for (int fd = 0; fd < domain_; ++fd) {
      const std::optional<Flags> found = epoll_.find(fd);
      if (found != table_flags(fd)) {
        return "find(" + std::to_string(fd) + ") is " + (found ? found->to_string() : "nullopt") +
               ", the model has " + (table_flags(fd) ? table_flags(fd)->to_string() : "nullopt");
      }
    }
    if (steps_ % config_.kernel_check_every == 0) {
      ++kernel_checks_;
      const std::string expected = model_disagreement();
      const Outcome o = run([&] { epoll_.check_against_kernel(); });
      if (expected.empty() && !(o == Outcome{}))
        return "check_against_kernel threw, but the model agrees: " + o.what;
      if (!expected.empty() && o.kind != Outcome::logic_error) {
        return "check_against_kernel " + describe(o) + ", but the model has: " + expected;
      }
    }
    return {};
  }

  Config config_;
  Epoll epoll_;
  bool closed_ = false;
  std::set<int> foreign_;      // fds open before the harness: never touched
  std::map<int, int> fds_;     // fd number -> file id
  std::map<int, File> files_;  // file id -> file
  int next_file_ = 1;
  std::map<int, TableEntry> table_;                    // what the Epoll's table must hold
  std::map<std::pair<int, int>, KernelEntry> kernel_;  // (file id, fd) -> the kernel's entry
  int domain_;                                         // the Epoll's num_file_descrs, as resize left it
  int max_ready_events_;
  long steps_ = 0;
  long kernel_checks_ = 0;
  std::map<std::string, long> outcomes_;
};

// A random operation fitting the harness's state: fds mostly among the open
// ones, sometimes any number around the domain or far outside it; flags
// mostly readiness bits, sometimes et, oneshot, exclusive, wakeup, err, hup,
// and sometimes exactly the current ones (the path without a system call).
inline Op random_op(std::mt19937_64& rng, const Harness& harness) {
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  auto pick_fd = [&]() -> int {
    const auto& fds = harness.open_fds();
    const int r = static_cast<int>(rng() % 100);
    if (r < 80 && !fds.empty()) {
      auto it = fds.begin();
      std::advance(it, static_cast<long>(rng() % fds.size()));
      return it->first;
    }
    if (r < 83 && harness.epoll_fd() >= 0) return harness.epoll_fd();
    if (r < 97)
      return static_cast<int>(rng() % static_cast<unsigned>(std::max(harness.domain(), 32) + 6)) - 2;
    const int far[] = {INT_MIN, -1, INT_MAX, harness.domain(), 1 << 20};
    return far[rng() % std::size(far)];
  };
  auto random_flags = [&](int fd) -> std::uint32_t {
    if (const auto current = harness.table_flags(fd); current && chance(15)) return current->bits();
    Flags f;
    if (chance(50)) f |= Flags::in;
    if (chance(40)) f |= Flags::out;
    if (chance(10)) f |= Flags::pri;
    if (chance(10)) f |= Flags::rdhup;
    if (chance(5)) f |= Flags::err;
    if (chance(5)) f |= Flags::hup;
    if (chance(25)) f |= Flags::et;
    if (chance(20)) f |= Flags::oneshot;
    if (chance(10)) f |= Flags::exclusive;
    if (chance(5)) f |= Flags::wakeup;
    return f.bits();
  };
  const int r = static_cast<int>(rng() % 1000);
  Op op{OpKind::set};
  // A closed set only throws: reopen it soon.
  if (harness.epoll_fd() < 0 && chance(10)) return {OpKind::create_epoll};
  if (r < 360) {
    op.fd = pick_fd();
    op.flags = random_flags(op.fd);
  } else if (r < 480) {
    op = {OpKind::remove, pick_fd()};
  } else if (r < 600) {
    op = {OpKind::wait, 0, 0, static_cast<std::uint32_t>(rng())};
  } else if (r < 630) {
    op = {OpKind::walk_ready, pick_fd(), 0, static_cast<std::uint32_t>(rng())};
    op.flags = random_flags(op.fd);
  } else if (r < 640) {
    op = {OpKind::clear_ready};
  } else if (r < 655) {
    op = {OpKind::resize, 0, 0, static_cast<std::uint32_t>(rng())};
  } else if (r < 760) {
    const OpKind opens[] = {OpKind::open_pipe, OpKind::open_socketpair, OpKind::open_eventfd,
                            OpKind::open_memfd};
    op = {opens[rng() % 4]};
  } else if (r < 840) {
    op = {OpKind::close_fd, pick_fd()};
  } else if (r < 880) {
    op = {OpKind::dup, pick_fd()};
  } else if (r < 950) {
    op = {OpKind::write, pick_fd()};
  } else if (r < 994) {
    op = {OpKind::read, pick_fd()};
  } else if (r < 996) {
    op = {OpKind::close_epoll};
  } else {
    op = {OpKind::create_epoll};
  }
  return op;
}

// Runs `ops` from a fresh harness; returns the first disagreement, with the
// number of the step, or "".
inline std::string replay(const std::vector<Op>& ops, const Config& config) {
  Harness harness(config);
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (std::string failure = harness.step(ops[i]); !failure.empty()) {
      return "step " + std::to_string(i + 1) + ": " + failure;
    }
  }
  return {};
}

// Shrinks a sequence for which `fails` holds by delta debugging (Zeller's
// ddmin): removes chunks, of halving size, for as long as the rest still
// fails. The result fails, and removing any one operation from it would not.
inline std::vector<Op> shrink_with(std::vector<Op> ops,
                                   const std::function<bool(const std::vector<Op>&)>& fails) {
  std::size_t chunks = 2;
  while (ops.size() >= 2) {
    const std::size_t chunk = (ops.size() + chunks - 1) / chunks;
    bool reduced = false;
    for (std::size_t start = 0; start < ops.size(); start += chunk) {
      std::vector<Op> rest(ops.begin(), ops.begin() + static_cast<long>(start));
      rest.insert(rest.end(), ops.begin() + static_cast<long>(std::min(ops.size(), start + chunk)),
                  ops.end());
      if (fails(rest)) {
        ops = std::move(rest);
        chunks = std::max<std::size_t>(chunks - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (chunk == 1) break;
      chunks = std::min(ops.size(), chunks * 2);
    }
  }
  return ops;
}

// Shrinks a sequence that disagrees with the model when replayed.
inline std::vector<Op> shrink(const std::vector<Op>& ops, const Config& config) {
  return shrink_with(ops,
                     [&](const std::vector<Op>& candidate) { return !replay(candidate, config).empty(); });
}

}  // namespace linux_ext::model

#endif  // LINUX_EXT_TESTS_EPOLL_MODEL_H_

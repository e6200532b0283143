// Epoll: every system call of the library, and the table kept beside them.
//
// Each system call goes through `detail::call` (src/seam.h), the seam
// that tests use to count calls and inject failures. The kernel always goes
// first: the table changes only after the kernel accepted the change.

#include <linux/kcmp.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_view.h"
#include "linux_ext/epoll.h"
#include "seam.h"
#if defined(LINUX_EXT_FAULT_INJECTION)
#include "fault_injection.h"
#endif

namespace linux_ext {

using Flags = Epoll::Flags;

// The header mirrors the kernel's constants and event layout without
// including <sys/epoll.h>; these keep the two in step.
static_assert(Flags::in.bits() == EPOLLIN && Flags::out.bits() == EPOLLOUT &&
              Flags::pri.bits() == EPOLLPRI && Flags::err.bits() == EPOLLERR &&
              Flags::hup.bits() == EPOLLHUP && Flags::et.bits() == EPOLLET &&
              Flags::oneshot.bits() == EPOLLONESHOT && Flags::rdhup.bits() == EPOLLRDHUP &&
              Flags::wakeup.bits() == EPOLLWAKEUP && Flags::exclusive.bits() == EPOLLEXCLUSIVE);
static_assert(detail::kCtlAdd == EPOLL_CTL_ADD && detail::kCtlDel == EPOLL_CTL_DEL && detail::kCtlMod == EPOLL_CTL_MOD);
static_assert(sizeof(detail::KernelEvent) == sizeof(epoll_event) &&
              offsetof(detail::KernelEvent, data) == offsetof(epoll_event, data) &&
              alignof(detail::KernelEvent) == alignof(epoll_event));

namespace {

using detail::Syscall;

constexpr std::int64_t kNanosPerMilli = 1'000'000;
constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
// The bits the kernel keeps in an entry whose one-shot event fired.
constexpr Flags kPrivateFlags = Flags::wakeup + Flags::oneshot + Flags::et + Flags::exclusive;

std::error_code errno_code(int error) { return {error, std::generic_category()}; }

// The error paths are kept out of line (noinline, cold), so that building
// their messages does not weigh on the frames of the fast paths.
[[noreturn, gnu::cold, gnu::noinline]] void throw_errno(int error, const std::string& context) {
  throw std::system_error(errno_code(error), context);
}

// Whether the kernel answered epoll_pwait2 with ENOSYS (an old kernel, or
// valgrind); found out by the first precise wait, then kept.
std::atomic<bool> pwait2_missing{false};

const char* ctl_name(int op) {
  switch (op) {
    case EPOLL_CTL_ADD: return "EPOLL_CTL_ADD";
    case EPOLL_CTL_MOD: return "EPOLL_CTL_MOD";
    default: return "EPOLL_CTL_DEL";
  }
}

// Closes `fd`; returns 0 or the errno of a failure that matters (EINTR does
// not: Linux releases the fd whatever close(2) returns).
int close_fd(int fd) noexcept {
  if (detail::call(Syscall::close, [&] { return ::close(fd); }) == 0 || errno == EINTR) return 0;
  return errno;
}

std::int64_t monotonic_now_ns() {
  timespec now{};
  if (detail::call(Syscall::clock_gettime, [&] { return ::clock_gettime(CLOCK_MONOTONIC, &now); }) != 0) {
    throw_errno(errno, "clock_gettime(CLOCK_MONOTONIC)");
  }
  return std::int64_t{now.tv_sec} * kNanosPerSecond + now.tv_nsec;
}

// A positive span in milliseconds for epoll_wait: rounded up, clamped to
// INT_MAX.
int to_millis_rounded_up(std::int64_t span_ns) {
  const std::int64_t millis = span_ns / kNanosPerMilli + (span_ns % kNanosPerMilli != 0 ? 1 : 0);
  return static_cast<int>(std::min<std::int64_t>(millis, INT_MAX));
}

// Throws `error`, the errno of a failed wait through `call` (epoll_wait,
// epoll_pwait or epoll_pwait2).
[[noreturn, gnu::cold, gnu::noinline]] void throw_wait_error(int error, const char* call, int epoll_fd,
                                                             int max_events) {
  throw_errno(error, std::string(call) + "(epoll fd " + std::to_string(epoll_fd) + ", max_ready_events " +
                         std::to_string(max_events) + ")");
}

Error invalid_argument(std::string context) {
  return Error(std::make_error_code(std::errc::invalid_argument), std::move(context));
}

}  // namespace

// ---------------------------------------------------------------------------
// The system calls of the inline fast paths

int detail::epoll_ctl(int epoll_fd, CtlOp op, int fd, KernelEvent* event) {
  return detail::call(Syscall::epoll_ctl,
                      [&] { return ::epoll_ctl(epoll_fd, op, fd, reinterpret_cast<epoll_event*>(event)); });
}

int detail::epoll_wait(int epoll_fd, KernelEvent* events, int max_events, int timeout_ms) {
  return detail::call(Syscall::epoll_wait, [&] {
    return ::epoll_wait(epoll_fd, reinterpret_cast<epoll_event*>(events), max_events, timeout_ms);
  });
}

// ---------------------------------------------------------------------------
// Error and OrError

Error::Error(std::error_code code, std::string context) : code_(code), context_(std::move(context)) {}

std::string Error::message() const { return context_ + ": " + code_.message(); }

void detail::throw_no_error_held() {
  throw std::logic_error("OrError::error: a value is held, not an error");
}

// ---------------------------------------------------------------------------
// FdBitmap

bool detail::FdBitmap::allocate(int domain) noexcept {
  release();
  std::size_t total = 0;
  std::size_t bits = static_cast<std::size_t>(domain);
  int depth = 0;
  // Level k has one bit per word of level k-1; the top level is one word.
  do {
    offset_[depth] = total;
    const std::size_t words = (bits + 63) / 64;
    total += words == 0 ? 1 : words;
    bits = words;
    ++depth;
  } while (bits > 1);
  offset_[depth] = total;
  words_.reset(static_cast<std::uint64_t*>(std::calloc(total, sizeof(std::uint64_t))));
  if (!words_) return false;
  depth_ = depth;
  domain_ = domain;
  return true;
}

void detail::FdBitmap::release() noexcept {
  words_.reset();
  depth_ = 0;
  domain_ = 0;
}

void detail::FdBitmap::mark(unsigned fd, bool non_empty) noexcept {
  // Level k holds one bit per word of level k - 1: climb while a word's
  // emptiness changes.
  std::size_t word = fd >> 6;
  for (int level = 1; level < depth_; ++level) {
    std::uint64_t& above = words_.get()[offset_[level] + (word >> 6)];
    const std::uint64_t old = above;
    const std::uint64_t bit = std::uint64_t{1} << (word & 63);
    above = non_empty ? old | bit : old & ~bit;
    if ((old != 0) == (above != 0)) return;
    word >>= 6;
  }
}

long detail::FdBitmap::check() const noexcept {
  const std::uint64_t* words = words_.get();
  for (int level = 1; level < depth_; ++level) {
    const std::size_t below = offset_[level] - offset_[level - 1];
    for (std::size_t i = 0; i < 64 * (offset_[level + 1] - offset_[level]); ++i) {
      const bool marked = (words[offset_[level] + i / 64] >> (i % 64)) & 1U;
      const bool non_empty = i < below && words[offset_[level - 1] + i] != 0;
      if (marked != non_empty) return -1;
    }
  }
  long members = 0;
  for (std::size_t i = 0; i < offset_[1] && depth_ > 0; ++i) members += __builtin_popcountll(words[i]);
  // No bit may stand past the end of the domain.
  if (depth_ > 0 && domain_ % 64 != 0 && offset_[1] > 0 &&
      (words[(static_cast<std::size_t>(domain_) - 1) / 64] >> (domain_ % 64)) != 0) {
    return -1;
  }
  return members;
}

// ---------------------------------------------------------------------------
// Lifetime

Epoll::Epoll(int epoll_fd, int num_file_descrs, int max_ready_events) noexcept
    : epoll_fd_(epoll_fd), num_file_descrs_(num_file_descrs), max_ready_events_(max_ready_events) {}

OrError<Epoll> Epoll::create(int num_file_descrs, int max_ready_events) {
  constexpr int kMaxReadyEvents = static_cast<int>(INT_MAX / sizeof(epoll_event));
  if (num_file_descrs < 0) {
    return invalid_argument("Epoll::create: num_file_descrs is " + std::to_string(num_file_descrs) +
                            "; it must be >= 0");
  }
  if (max_ready_events <= 0 || max_ready_events > kMaxReadyEvents) {
    return invalid_argument("Epoll::create: max_ready_events is " + std::to_string(max_ready_events) +
                            "; it must be in [1, " + std::to_string(kMaxReadyEvents) + "]");
  }
  const int epoll_fd = detail::call(Syscall::epoll_create1, [] { return ::epoll_create1(EPOLL_CLOEXEC); });
  if (epoll_fd < 0) return Error(errno_code(errno), "epoll_create1");
  Epoll epoll(epoll_fd, num_file_descrs, max_ready_events);  // closes epoll_fd on every return below
  // calloc leaves large blocks to fresh zero pages, touched only when used.
  epoll.slots_.reset(static_cast<std::uint32_t*>(
      std::calloc(static_cast<std::size_t>(std::max(num_file_descrs, 1)), sizeof(std::uint32_t))));
  epoll.events_.reset(static_cast<detail::KernelEvent*>(
      std::calloc(static_cast<std::size_t>(max_ready_events), sizeof(detail::KernelEvent))));
  if (!epoll.slots_ || !epoll.events_ || !epoll.present_.allocate(num_file_descrs)) {
    return Error(errno_code(ENOMEM), "Epoll::create: cannot allocate the table for " +
                                         std::to_string(num_file_descrs) + " fds and " +
                                         std::to_string(max_ready_events) + " ready events");
  }
  return epoll;
}

Epoll::Epoll(Epoll&& other) noexcept
    : epoll_fd_(other.epoll_fd_),
      num_file_descrs_(other.num_file_descrs_),
      max_ready_events_(other.max_ready_events_),
      num_ready_(other.num_ready_),
      size_(other.size_),
      slots_(std::move(other.slots_)),
      present_(std::move(other.present_)),
      events_(std::move(other.events_)) {
  other.release();
}

Epoll& Epoll::operator=(Epoll&& other) noexcept {
  if (this != &other) {
    if (!is_closed()) close_fd(epoll_fd_);
    epoll_fd_ = other.epoll_fd_;
    num_file_descrs_ = other.num_file_descrs_;
    max_ready_events_ = other.max_ready_events_;
    num_ready_ = other.num_ready_;
    size_ = other.size_;
    slots_ = std::move(other.slots_);
    present_ = std::move(other.present_);
    events_ = std::move(other.events_);
    other.release();
  }
  return *this;
}

Epoll::~Epoll() {
  if (!is_closed()) close_fd(epoll_fd_);
}

void Epoll::release() noexcept {
  epoll_fd_ = -1;
  num_ready_ = 0;
  size_ = 0;
  slots_.reset();
  present_.release();
  events_.reset();
}

void Epoll::close() {
  if (is_closed()) return;
  const int epoll_fd = epoll_fd_;
  release();
  if (const int error = close_fd(epoll_fd); error != 0) {
    throw_errno(error, "close(epoll fd " + std::to_string(epoll_fd) + ")");
  }
}

int Epoll::fd() const {
  check_open("fd");
  return epoll_fd_;
}

void Epoll::throw_closed(const char* operation) {
  throw std::logic_error(std::string("Epoll::") + operation + ": the epoll set is closed");
}

void Epoll::throw_bad_fd(int fd, const char* operation) const {
  if (is_closed()) throw_closed(operation);
  throw std::out_of_range(std::string("Epoll::") + operation + ": fd " + std::to_string(fd) +
                          " is outside the epoll set's domain [0, " + std::to_string(num_file_descrs_) + ")");
}

void Epoll::throw_exclusive_on_modify(int fd, Flags flags) const {
  throw_errno(EINVAL, "Epoll::set: fd " + std::to_string(fd) + " is already in the epoll set with " +
                          from_slot(slots_[static_cast<std::size_t>(fd)]).to_string() + ", and exclusive in " +
                          flags.to_string() + " is only valid when an fd is added");
}

void Epoll::throw_ctl_error(detail::CtlOp op, int fd, Flags flags) {
  const int error = errno;
  std::string context = std::string("epoll_ctl(") + ctl_name(op) + ", fd " + std::to_string(fd);
  if (op != detail::kCtlDel) context += ", " + flags.to_string();
  throw_errno(error, context + ")");
}



// ---------------------------------------------------------------------------
// The table

Flags Epoll::find_exn(int fd) const {
  if (const std::optional<Flags> flags = find(fd)) return *flags;
  throw std::out_of_range("fd " + std::to_string(fd) + " is not in the epoll set");
}

// ---------------------------------------------------------------------------
// Waiting

Epoll::WaitResult Epoll::wait_failed(Timeout timeout) {
  const int error = errno;
  num_ready_ = 0;
  if (error != EINTR) throw_wait_error(error, "epoll_wait", epoll_fd_, max_ready_events_);
  // A signal: the careful loop goes on waiting (an untimed wait has no time
  // to account for).
  return wait_with(timeout, nullptr);
}

Epoll::WaitResult Epoll::pwait(Timeout timeout, const sigset_t& mask) { return wait_with(timeout, &mask); }

Epoll::WaitResult Epoll::wait_with(Timeout timeout, const sigset_t* mask) {
  check_open(mask == nullptr ? "wait" : "pwait");
  num_ready_ = 0;  // the events of an earlier wait are gone, whatever happens now
  auto* const events = reinterpret_cast<epoll_event*>(events_.get());
  const bool timed = timeout.kind_ == Timeout::Kind::millis || timeout.kind_ == Timeout::Kind::nanos;
  // The clock is read only when a signal could cut a timed wait short, to
  // go on for the time that is left.
  std::int64_t deadline = 0;
  if (timed) {
    const std::int64_t now = monotonic_now_ns();
    deadline = now + std::min(timeout.span_ns_, INT64_MAX - now);
  }
  bool precise = timeout.kind_ == Timeout::Kind::nanos && !pwait2_missing.load(std::memory_order_relaxed);
  std::int64_t left_ns = timeout.span_ns_;
  for (;;) {
    int n;
    bool clamped = false;
    if (precise) {
      const timespec span{static_cast<time_t>(left_ns / kNanosPerSecond),
                          static_cast<long>(left_ns % kNanosPerSecond)};
      // Called directly, since glibc may lack a wrapper: the kernel's
      // sigset size, _NSIG / 8, must then be passed as a long.
      n = detail::call(Syscall::epoll_pwait2, [&] {
        return static_cast<int>(::syscall(SYS_epoll_pwait2, epoll_fd_, events, max_ready_events_, &span,
                                          mask, static_cast<long>(_NSIG / 8)));
      });
      if (n < 0 && errno == ENOSYS) {
        pwait2_missing.store(true, std::memory_order_relaxed);
        precise = false;
        continue;
      }
    } else {
      int millis = -1;
      if (timeout.kind_ == Timeout::Kind::immediately) {
        millis = 0;
      } else if (timed) {
        millis = to_millis_rounded_up(left_ns);
        clamped = millis == INT_MAX && left_ns > std::int64_t{INT_MAX} * kNanosPerMilli;
      }
      n = mask == nullptr
              ? detail::epoll_wait(epoll_fd_, events_.get(), max_ready_events_, millis)
              : detail::call(Syscall::epoll_pwait, [&] {
                  return ::epoll_pwait(epoll_fd_, events, max_ready_events_, millis, mask);
                });
    }
    if (n > 0) {
      num_ready_ = n;
      return WaitResult::ok;
    }
    num_ready_ = 0;
    if (n < 0) {
      if (errno != EINTR) {
        throw_wait_error(errno, precise ? "epoll_pwait2" : mask != nullptr ? "epoll_pwait" : "epoll_wait", epoll_fd_,
                         max_ready_events_);
      }
      if (mask != nullptr) return WaitResult::interrupted;
    } else if (!clamped) {
      return WaitResult::timeout;
    }
    // Interrupted by a signal, or a clamped span ran out early: go on for
    // the time that is left.
    if (timed) {
      left_ns = deadline - monotonic_now_ns();
      if (left_ns <= 0) return WaitResult::timeout;
    }
  }
}

// ---------------------------------------------------------------------------
// Checks

void Epoll::invariant() const {
  if (is_closed()) return;
  auto fail = [](const std::string& what) { throw std::logic_error("Epoll::invariant: " + what); };
  if (num_file_descrs_ < 0) fail("num_file_descrs is negative: " + std::to_string(num_file_descrs_));
  if (max_ready_events_ <= 0) fail("max_ready_events is not positive: " + std::to_string(max_ready_events_));
  if (num_ready_ < 0 || num_ready_ > max_ready_events_) {
    fail("num_ready is " + std::to_string(num_ready_) + ", outside [0, max_ready_events = " +
         std::to_string(max_ready_events_) + "]");
  }
  const long members = present_.check();
  if (members < 0) fail("the membership bitmap is inconsistent (an upper-level bit disagrees with its word)");
  if (static_cast<std::size_t>(members) != size_) {
    fail("size is " + std::to_string(size_) + " but the table holds " + std::to_string(members) + " fds");
  }
  for (int fd = 0; fd < num_file_descrs_; ++fd) {
    const bool has_slot = slots_[static_cast<std::size_t>(fd)] != kAbsent;
    if (has_slot != present_.contains(fd)) {
      fail("fd " + std::to_string(fd) + (has_slot ? " has flags but is not" : " has no flags but is") +
           " in the membership bitmap");
    }
  }
}

void Epoll::check_against_kernel() const {
  check_open("check_against_kernel");
  const std::string path = "/proc/self/fdinfo/" + std::to_string(epoll_fd_);
  OrError<std::vector<detail::WatchedFd>> read = detail::read_epoll_fdinfo(path);
  if (!read) throw std::system_error(read.error().code(), "Epoll::check_against_kernel: " + read.error().context());
  // The kernel names an entry by its fd number and its rank among the
  // entries under that number, in the order fdinfo lists them (the same
  // order kcmp walks). Several entries share a number when an fd was closed
  // while a dup kept its file alive and the number was reused.
  struct Entry {
    detail::WatchedFd watched;
    unsigned rank;
  };
  std::vector<Entry> kernel;
  std::map<int, unsigned> ranks;
  for (const detail::WatchedFd& w : *read) kernel.push_back(Entry{w, ranks[w.fd]++});
  std::stable_sort(kernel.begin(), kernel.end(), [](const Entry& a, const Entry& b) { return a.watched.fd < b.watched.fd; });

  std::vector<std::string> problems;
  auto problem = [&](int fd, const std::string& what) { problems.push_back("fd " + std::to_string(fd) + ": " + what); };
  auto in_table = [&](int fd) { return fd >= 0 && fd < num_file_descrs_ && present_.contains(fd); };
  // Whether the entry watches the file its fd number names now: kcmp tells
  // exactly; where it cannot (no kcmp), the inode tells, which cannot tell
  // apart files sharing one (eventfds, the two ends of a pipe).
  auto watches_file_of_fd = [&](const Entry& e, const struct stat& st) {
    kcmp_epoll_slot slot{static_cast<std::uint32_t>(epoll_fd_), static_cast<std::uint32_t>(e.watched.fd), e.rank};
    const long same = ::syscall(SYS_kcmp, ::getpid(), ::getpid(), KCMP_EPOLL_TFD, e.watched.fd, &slot);
    if (same >= 0) return same == 0;
    return st.st_ino == e.watched.inode && st.st_dev == e.watched.device;
  };

  for (const Entry& e : kernel) {
    if (!in_table(e.watched.fd)) {
      problem(e.watched.fd, "in the kernel's set with " + Flags::of_bits(e.watched.events).to_string() + ", not in the table");
    }
  }
  iter([&](int fd, Flags flags) {
    const auto [first, last] = std::equal_range(kernel.begin(), kernel.end(), Entry{detail::WatchedFd{fd, 0, 0, 0, 0, 0}, 0},
                                                [](const Entry& a, const Entry& b) { return a.watched.fd < b.watched.fd; });
    if (first == last) {
      problem(fd, "in the table with " + flags.to_string() + ", not in the kernel's set (closed while in the set?)");
      return;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      problem(fd, "closed while in the set (a duplicate keeps the kernel's entry alive)");
      return;
    }
    // Every entry under this number must watch the file it names now;
    // others are left over from a file closed while in the set.
    const detail::WatchedFd* match = nullptr;
    for (auto e = first; e != last; ++e) {
      if (watches_file_of_fd(*e, st)) {
        match = &e->watched;
      } else {
        problem(fd, "now names another file (inode " + std::to_string(st.st_ino) + ") than one the kernel watches under it (inode " +
                        std::to_string(e->watched.inode) + ")");
      }
    }
    if (match == nullptr) return;
    // The kernel adds err and hup to every entry, disarms a fired oneshot
    // entry down to its private bits, and drops wakeup without
    // CAP_BLOCK_SUSPEND.
    const Flags kernel_flags = Flags::of_bits(match->events) - (Flags::err + Flags::hup);
    Flags expected = flags - (Flags::err + Flags::hup);
    if (expected.do_intersect(Flags::wakeup) && !kernel_flags.do_intersect(Flags::wakeup)) expected -= Flags::wakeup;
    const bool fired_oneshot = expected.do_intersect(Flags::oneshot) && kernel_flags.is_subset(kPrivateFlags);
    if (kernel_flags != expected && !(fired_oneshot && kernel_flags == (expected & kPrivateFlags))) {
      problem(fd, "the table has " + flags.to_string() + ", the kernel has " + Flags::of_bits(match->events).to_string());
    }
    if (match->data != static_cast<std::uint64_t>(fd)) problem(fd, "the kernel's data is " + std::to_string(match->data) + ", not the fd");
  });
  if (problems.empty()) return;
  std::string message = "Epoll::check_against_kernel: the table and the kernel disagree (epoll fd " +
                        std::to_string(epoll_fd_) + "):";
  for (const std::string& p : problems) message += "\n  " + p;
  throw std::logic_error(message);
}

#if defined(LINUX_EXT_FAULT_INJECTION)
void testing::forget_pwait2_probe() noexcept { pwait2_missing.store(false, std::memory_order_relaxed); }
#endif

}  // namespace linux_ext

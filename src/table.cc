// The table and its system calls: create, set, remove, find, resize,
// after_fork, close and moves.
//
// The table is two plain arrays. `slots_[fd]` holds the kernel's event bits
// for fd, whether it is in the set and where its entry stands in
// `members_`; `members_[0, num_entries_)` lists the fds with an entry, so
// that walks cost what the set holds. `remove` moves the last entry into the
// gap, except while walks of the table are in progress: then the entry stays
// until the last walk ends. The kernel always goes first: the table changes
// only after the kernel accepted the change.

#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "kernel_view.h"
#include "linux_ext/detail/syscall.h"
#include "linux_ext/epoll.h"

namespace linux_ext {

using Flags = Epoll::Flags;
using detail::Syscall;

namespace {

constexpr int kMaxReadyEvents = static_cast<int>(INT_MAX / sizeof(epoll_event));

// Walks of the table start with the walk clock and advance it. When it
// reaches this, the last walk to end resets it, long before it could wrap.
constexpr std::uint32_t kWalkClockLimit = 1U << 31;

// This process's id, or 0 until it is asked for: read once per process,
// at the first create or after_fork, and forgotten by a fork(2) child.
std::atomic<pid_t> process_id{0};

pid_t this_process() noexcept {
  pid_t pid = process_id.load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = ::getpid();
    process_id.store(pid, std::memory_order_relaxed);
  }
  return pid;
}

// Makes every child of fork(2) bump the fork generation before it runs code
// of its own; the first create of a process registers it. Through
// pthread_once, not a function-local static: a child forked while another
// thread registers would inherit a static's guard locked for good, and hang
// in its first create, where glibc's pthread_once starts over.
void watch_forks() noexcept {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, [] {
    pthread_atfork(nullptr, nullptr, [] {
      detail::fork_generation.fetch_add(detail::kForkGenerationUnit, std::memory_order_relaxed);
      process_id.store(0, std::memory_order_relaxed);
    });
  });
}

const char* ctl_name(int op) {
  switch (op) {
    case EPOLL_CTL_ADD:
      return "EPOLL_CTL_ADD";
    case EPOLL_CTL_MOD:
      return "EPOLL_CTL_MOD";
    default:
      return "EPOLL_CTL_DEL";
  }
}

// Closes `fd`; returns 0 or the errno of a failure that matters (EINTR does
// not: Linux releases the fd whatever close(2) returns).
int close_fd(int fd) noexcept {
  if (detail::call(Syscall::close, [&] { return ::close(fd); }) == 0 || errno == EINTR) return 0;
  return errno;
}

// Zeroed memory for `count` values of T (at least one), or null. Large
// blocks come from fresh zero pages, touched only when used, so a large
// domain costs little until it fills.
template <class T>
T* allocate(std::size_t count) noexcept {
  return static_cast<T*>(
      detail::call(Syscall::calloc, [&] { return std::calloc(std::max<std::size_t>(count, 1), sizeof(T)); }));
}

// What the checks and the kernel's refusals throw, kept out of line so that
// building their messages weighs nothing on the paths that do not throw.

[[noreturn, gnu::cold, gnu::noinline]] void throw_closed(const char* operation) {
  throw std::logic_error(std::string("Epoll::") + operation + ": the epoll set is closed");
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_bad_fd(const char* operation, int fd, int num_file_descrs) {
  throw std::out_of_range(std::string("Epoll::") + operation + ": fd " + std::to_string(fd) +
                          " is outside the epoll set's domain [0, " + std::to_string(num_file_descrs) + ")");
}

[[noreturn, gnu::cold, gnu::noinline]] void throw_not_owner(const char* operation, pid_t owner) {
  throw std::logic_error(std::string("Epoll::") + operation + ": this epoll set was made in process " +
                         std::to_string(owner) + ", whose kernel set it shares; process " +
                         std::to_string(this_process()) + " must call after_fork() first");
}

// The message of a size `create` and `resize` refuse, or empty.
std::string check_sizes(const char* operation, int num_file_descrs, int max_ready_events) {
  if (num_file_descrs < 0) {
    return std::string(operation) + ": num_file_descrs is " + std::to_string(num_file_descrs) +
           "; it must be >= 0";
  }
  if (max_ready_events <= 0 || max_ready_events > kMaxReadyEvents) {
    return std::string(operation) + ": max_ready_events is " + std::to_string(max_ready_events) +
           "; it must be in [1, " + std::to_string(kMaxReadyEvents) + "]";
  }
  return {};
}

}  // namespace

std::atomic<std::uint64_t> detail::fork_generation{0};

// ---------------------------------------------------------------------------
// Lifetime

OrError<Epoll> Epoll::create(int num_file_descrs, int max_ready_events) {
  if (std::string refused = check_sizes("Epoll::create", num_file_descrs, max_ready_events);
      !refused.empty()) {
    return Error(std::make_error_code(std::errc::invalid_argument), std::move(refused));
  }
  const int epoll_fd = detail::call(Syscall::epoll_create1, [] { return ::epoll_create1(EPOLL_CLOEXEC); });
  if (epoll_fd < 0) return Error(std::error_code(errno, std::generic_category()), "epoll_create1");
  Epoll epoll;  // closes epoll_fd on every return below
  epoll.epoll_fd_ = epoll_fd;
  epoll.num_file_descrs_ = num_file_descrs;
  epoll.max_ready_events_ = max_ready_events;
  watch_forks();
  epoll.owner_pid_ = this_process();
  const auto domain = static_cast<std::size_t>(num_file_descrs);
  epoll.slots_.reset(allocate<Slot>(domain));
  epoll.members_.reset(allocate<int>(domain));
  epoll.since_.reset(allocate<std::uint32_t>(domain));
  epoll.events_.reset(allocate<epoll_event>(static_cast<std::size_t>(max_ready_events)));
  if (!epoll.slots_ || !epoll.members_ || !epoll.since_ || !epoll.events_) {
    return Error(std::error_code(ENOMEM, std::generic_category()),
                 "Epoll::create: cannot allocate the table for " + std::to_string(num_file_descrs) +
                     " fds and " + std::to_string(max_ready_events) + " ready events");
  }
  epoll.grant_access();
  return epoll;
}

Epoll::Epoll(Epoll&& other) noexcept { take(other); }

Epoll& Epoll::operator=(Epoll&& other) noexcept {
  if (this != &other) {
    if (!is_closed()) close_fd(epoll_fd_);
    release();
    take(other);
  }
  return *this;
}

Epoll::~Epoll() {
  if (!is_closed()) close_fd(epoll_fd_);
}

void Epoll::take(Epoll& other) noexcept {
  // Entries that walks of `other` kept go now: those walks stop, and the
  // walks of this object begin afresh.
  if (other.num_removed_ != 0) other.tidy_table();
  invalidate();
  epoll_fd_ = other.epoll_fd_;
  access_key_ = other.access_key_;
  num_file_descrs_ = other.num_file_descrs_;
  max_ready_events_ = other.max_ready_events_;
  owner_pid_ = other.owner_pid_;
  slots_ = std::move(other.slots_);
  members_ = std::move(other.members_);
  num_entries_ = other.num_entries_;
  num_removed_ = 0;
  since_ = std::move(other.since_);
  walk_clock_ = other.walk_clock_;
  events_ = std::move(other.events_);
  ready_end_ = other.ready_end_;
  num_ready_ = other.num_ready_;
  other.release();
}

void Epoll::release() noexcept {
  invalidate();
  epoll_fd_ = -1;
  access_key_ = 0;
  slots_.reset();
  members_.reset();
  num_entries_ = 0;
  num_removed_ = 0;
  since_.reset();
  events_.reset();
  set_ready(0);
}

void Epoll::close() {
  if (is_closed()) return;
  const int epoll_fd = epoll_fd_;
  release();
  if (const int error = close_fd(epoll_fd); error != 0) {
    detail::throw_errno(error, "Epoll::close: close(epoll fd " + std::to_string(epoll_fd) + ")");
  }
}

int Epoll::fd() const {
  check_open("fd");
  return epoll_fd_;
}

// ---------------------------------------------------------------------------
// Checks before each operation

void Epoll::check_open(const char* operation) const {
  if (is_closed()) throw_closed(operation);
}

void Epoll::check_fd(int fd, const char* operation) const {
  if (static_cast<unsigned>(fd) >= static_cast<unsigned>(num_file_descrs_) || is_closed()) [[unlikely]] {
    check_open(operation);
    throw_bad_fd(operation, fd, num_file_descrs_);
  }
}

void Epoll::check_owner(const char* operation) const {
  if (is_inherited()) [[unlikely]]
    throw_not_owner(operation, owner_pid_);
}

void Epoll::refuse_change(int fd, const char* operation) const {
  check_open(operation);
  check_owner(operation);
  throw_bad_fd(operation, fd, num_file_descrs_);
}

void Epoll::throw_exclusive_on_modify(int fd, Flags flags) const {
  detail::throw_errno(EINVAL, "Epoll::set: fd " + std::to_string(fd) + " is already in the epoll set with " +
                                  Flags::of_bits(slots_[static_cast<std::size_t>(fd)].events).to_string() +
                                  ", and exclusive in " + flags.to_string() +
                                  " is only valid when an fd is added");
}

void Epoll::throw_ctl_error(const char* operation, int op, int fd, Flags flags) {
  const int error = errno;
  std::string context =
      std::string("Epoll::") + operation + ": epoll_ctl(" + ctl_name(op) + ", fd " + std::to_string(fd);
  if (op != EPOLL_CTL_DEL) context += ", " + flags.to_string();
  context += ")";
  if (error == ENOSPC) {
    // The user's watches, over every epoll set, reached the limit; it is
    // this file an administrator raises.
    const std::string limit_path = "/proc/sys/fs/epoll/max_user_watches";
    const OrError<std::string> limit = detail::read_whole_file(limit_path);
    context +=
        ": the user's epoll watches reached the limit in " + limit_path +
        (limit ? ", now " + limit->substr(0, limit->find('\n')) : " (" + limit.error().message() + ")");
  }
  detail::throw_errno(error, context);
}

// ---------------------------------------------------------------------------
// The table

std::optional<Flags> Epoll::find(int fd) const {
  check_fd(fd, "find");
  const Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.entry <= 0) return std::nullopt;
  return Flags::of_bits(slot.events);
}

Flags Epoll::find_exn(int fd) const {
  check_fd(fd, "find_exn");
  const Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.entry <= 0) throw std::out_of_range("fd " + std::to_string(fd) + " is not in the epoll set");
  return Flags::of_bits(slot.events);
}

void Epoll::add_reviving(int fd, Flags flags) {
  kernel_change("set", EPOLL_CTL_ADD, fd, flags);
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  slot.events = flags.bits();
  slot.entry = -slot.entry;
  --num_removed_;
  since_[static_cast<std::size_t>(fd)] = walk_clock_;  // after every walk in progress began
}

void Epoll::remove_entry_during_walks(int fd) noexcept {
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  slot.entry = -slot.entry;
  ++num_removed_;
}

void Epoll::tidy_table() const noexcept {
  if (is_closed()) return;
  if (num_removed_ != 0) {
    std::uint32_t kept = 0;
    for (std::uint32_t i = 0; i < num_entries_; ++i) {
      const int fd = members_[i];
      Slot& slot = slots_[static_cast<std::size_t>(fd)];
      if (slot.entry < 0) {
        slot.entry = 0;
        continue;
      }
      members_[kept++] = fd;
      slot.entry = static_cast<std::int32_t>(kept);
    }
    num_entries_ = kept;
    num_removed_ = 0;
  }
  if (walk_clock_ >= kWalkClockLimit) {
    std::fill_n(since_.get(), num_file_descrs_, 0);
    walk_clock_ = 0;
  }
}

void Epoll::resize(int num_file_descrs, int max_ready_events) {
  check_open("resize");
  if (std::string refused = check_sizes("Epoll::resize", num_file_descrs, max_ready_events);
      !refused.empty()) {
    throw std::invalid_argument(refused);
  }
  const std::size_t domain = static_cast<std::size_t>(num_file_descrs);
  int dropped = -1;  // the largest fd in the set outside the new domain
  for (std::uint32_t i = 0; i < num_entries_; ++i) {
    const int fd = members_[i];
    if (static_cast<std::size_t>(fd) >= domain && slots_[static_cast<std::size_t>(fd)].entry > 0)
      dropped = std::max(dropped, fd);
  }
  if (dropped >= 0) {
    throw std::invalid_argument("Epoll::resize: num_file_descrs " + std::to_string(num_file_descrs) +
                                " would drop fd " + std::to_string(dropped) + ", which is in the epoll set");
  }
  std::unique_ptr<Slot[], detail::FreeDeleter> slots(allocate<Slot>(domain));
  std::unique_ptr<int[], detail::FreeDeleter> members(allocate<int>(domain));
  std::unique_ptr<std::uint32_t[], detail::FreeDeleter> since(allocate<std::uint32_t>(domain));
  std::unique_ptr<epoll_event[], detail::FreeDeleter> events(
      allocate<epoll_event>(static_cast<std::size_t>(max_ready_events)));
  if (!slots || !members || !since || !events) {
    detail::throw_errno(ENOMEM, "Epoll::resize: cannot allocate the table for " +
                                    std::to_string(num_file_descrs) + " fds and " +
                                    std::to_string(max_ready_events) + " ready events");
  }
  // Walks in progress stop, so the new table keeps only the fds in the set.
  invalidate();
  std::uint32_t kept = 0;
  for (std::uint32_t i = 0; i < num_entries_; ++i) {
    const int fd = members_[i];
    const Slot& slot = slots_[static_cast<std::size_t>(fd)];
    if (slot.entry < 0) continue;
    members[kept++] = fd;
    slots[static_cast<std::size_t>(fd)] = {slot.events, static_cast<std::int32_t>(kept)};
  }
  slots_ = std::move(slots);
  members_ = std::move(members);
  num_entries_ = kept;
  num_removed_ = 0;
  since_ = std::move(since);
  walk_clock_ = 0;
  events_ = std::move(events);
  set_ready(0);
  num_file_descrs_ = num_file_descrs;
  max_ready_events_ = max_ready_events;
  access_key_ = (access_key_ & ~kDomainMask) | static_cast<std::uint32_t>(num_file_descrs);
}

// ---------------------------------------------------------------------------
// fork

void Epoll::after_fork() {
  check_open("after_fork");
  if (!is_inherited()) return;
  const int epoll_fd = detail::call(Syscall::epoll_create1, [] { return ::epoll_create1(EPOLL_CLOEXEC); });
  if (epoll_fd < 0) detail::throw_errno(errno, "Epoll::after_fork: epoll_create1");
  // The busy-poll parameters belong to the instance: the new one gets them
  // while the old one can still tell them.
  const int busy_poll_error = copy_busy_poll(epoll_fd_, epoll_fd);
  // From here on the set is the child's own, whatever the kernel refuses.
  ++ready_epoch_;
  set_ready(0);
  close_fd(epoll_fd_);
  epoll_fd_ = epoll_fd;
  grant_access();
  owner_pid_ = this_process();
  std::string refused;
  int first_error = 0;
  // From the end down, so that taking out a refused fd moves only entries
  // already registered.
  for (std::uint32_t i = num_entries_; i-- > 0;) {
    const int fd = members_[i];
    const Slot& slot = slots_[static_cast<std::size_t>(fd)];
    if (slot.entry < 0) continue;  // removed while the table is walked
    const Flags flags = Flags::of_bits(slot.events);
    epoll_event event{};
    event.events = flags.bits();
    event.data.fd = fd;
    if (detail::call(Syscall::epoll_ctl, [&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event); }) !=
        0) {
      const int error = errno;
      remove_entry(fd);
      if (first_error == 0) first_error = error;
      refused += (refused.empty() ? " fd " : ", fd ") + std::to_string(fd) + " " + flags.to_string() + " (" +
                 std::generic_category().message(error) + ")";
    }
  }
  if (first_error == 0 && busy_poll_error == 0) return;
  std::string context = "Epoll::after_fork: the kernel refused";
  if (first_error != 0) context += refused + ", which left the table";
  if (busy_poll_error != 0) {
    context += std::string(first_error != 0 ? ", and" : "") + " the busy-poll parameters (" +
               std::generic_category().message(busy_poll_error) + ")";
  }
  detail::throw_errno(first_error != 0 ? first_error : busy_poll_error, context);
}

// ---------------------------------------------------------------------------
// invariant

void Epoll::invariant() const {
  if (is_closed()) return;
  auto fail = [](const std::string& what) { throw std::logic_error("Epoll::invariant: " + what); };
  if ((access_key_ & kDomainMask) != static_cast<std::uint32_t>(num_file_descrs_)) {
    fail("the domain is " + std::to_string(access_key_ & kDomainMask) + " but num_file_descrs is " +
         std::to_string(num_file_descrs_));
  }
  if (max_ready_events_ <= 0) fail("max_ready_events is not positive: " + std::to_string(max_ready_events_));
  if (num_ready_ < 0 || num_ready_ > ready_end_ || ready_end_ > max_ready_events_) {
    fail("num_ready is " + std::to_string(num_ready_) + " of the " + std::to_string(ready_end_) +
         " events of the last wait, outside [0, max_ready_events = " + std::to_string(max_ready_events_) +
         "]");
  }
  if (num_removed_ > num_entries_ || num_entries_ > static_cast<std::uint32_t>(num_file_descrs_)) {
    fail(std::to_string(num_entries_) + " entries, " + std::to_string(num_removed_) +
         " of them removed, in a domain of " + std::to_string(num_file_descrs_));
  }
  if (table_walks_ == 0 && num_removed_ != 0) {
    fail(std::to_string(num_removed_) + " entries of removed fds are left with no walk in progress");
  }
  std::uint32_t removed = 0;
  for (std::uint32_t i = 0; i < num_entries_; ++i) {
    const int fd = members_[i];
    if (fd < 0 || fd >= num_file_descrs_)
      fail("entry " + std::to_string(i) + " is fd " + std::to_string(fd) + ", outside the domain");
    const std::int32_t entry = slots_[static_cast<std::size_t>(fd)].entry;
    if (entry != static_cast<std::int32_t>(i + 1) && entry != -static_cast<std::int32_t>(i + 1)) {
      fail("fd " + std::to_string(fd) + " is entry " + std::to_string(i) + " but its slot says " +
           std::to_string(entry) + " (plus one, negative when removed)");
    }
    removed += entry < 0;
    if (since_[static_cast<std::size_t>(fd)] > walk_clock_) {
      fail("fd " + std::to_string(fd) + " was revived at walk clock " +
           std::to_string(since_[static_cast<std::size_t>(fd)]) + ", after the clock's " +
           std::to_string(walk_clock_));
    }
  }
  if (removed != num_removed_) {
    fail(std::to_string(removed) + " entries are of removed fds, but the count says " +
         std::to_string(num_removed_));
  }
  std::uint32_t with_entry = 0;
  for (std::size_t fd = 0; fd < static_cast<std::size_t>(num_file_descrs_); ++fd)
    with_entry += slots_[fd].entry != 0;
  if (with_entry != num_entries_) {
    fail(std::to_string(with_entry) + " slots have an entry, but there are " + std::to_string(num_entries_));
  }
}

}  // namespace linux_ext

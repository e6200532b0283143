// The table and its system calls: create, set, remove, find, resize,
// after_fork, close and moves, and the bookkeeping that keeps walks in
// progress right.
//
// The table is two plain arrays. `slots_[fd]` holds the kernel's event bits
// for fd and where fd stands in `members_`; `members_[0, size_)` lists the
// fds in the set, so that walks cost what the set holds. `remove` moves the
// last member into the gap. The kernel always goes first: the table changes
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
#include <mutex>
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

// Every open Epoll of the process, linked through listed_prev_ and
// listed_next_, so that a child made by fork(2) marks them inherited before
// it runs code of its own. `set`, `remove` and `wait` then need no check of
// their own: a per-call comparison of fork counts was what kept
// "instructions per set/remove" above raw + 15 in `make bench`.
std::mutex list_mutex;
Epoll* open_sets = nullptr;

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
                         std::to_string(::getpid()) + " must call after_fork() first");
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
  epoll.owner_pid_ = ::getpid();
  const auto domain = static_cast<std::size_t>(num_file_descrs);
  epoll.slots_.reset(allocate<Slot>(domain));
  epoll.members_.reset(allocate<int>(domain));
  epoll.events_.reset(allocate<epoll_event>(static_cast<std::size_t>(max_ready_events)));
  if (!epoll.slots_ || !epoll.members_ || !epoll.events_) {
    return Error(std::error_code(ENOMEM, std::generic_category()),
                 "Epoll::create: cannot allocate the table for " + std::to_string(num_file_descrs) +
                     " fds and " + std::to_string(max_ready_events) + " ready events");
  }
  epoll.domain_ = num_file_descrs;
  epoll.enlist();
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
  delist();
}

void Epoll::take(Epoll& other) noexcept {
  other.stop_walks();  // while its buffer is still its own
  epoll_fd_ = other.epoll_fd_;
  num_file_descrs_ = other.num_file_descrs_;
  max_ready_events_ = other.max_ready_events_;
  domain_ = other.domain_;
  num_ready_ = other.num_ready_;
  size_ = other.size_;
  slots_ = std::move(other.slots_);
  members_ = std::move(other.members_);
  events_ = std::move(other.events_);
  owner_pid_ = other.owner_pid_;
  inherited_ = other.inherited_;
  replace_in_list(other);
  other.release();
}

void Epoll::release() noexcept {
  delist();
  stop_walks();
  epoll_fd_ = -1;
  domain_ = 0;
  num_ready_ = 0;
  size_ = 0;
  slots_.reset();
  members_.reset();
  events_.reset();
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
  if (inherited_) [[unlikely]]
    throw_not_owner(operation, owner_pid_);
}

void Epoll::refuse_change(int fd, const char* operation) const {
  check_open(operation);
  check_owner(operation);
  throw_bad_fd(operation, fd, num_file_descrs_);
}

// ---------------------------------------------------------------------------
// The list of open sets, for fork(2)

void Epoll::enlist() noexcept {
  // Registered once, before the first set is listed: the child of a fork
  // marks every listed set; the list is held through the fork.
  [[maybe_unused]] static const int registered =
      pthread_atfork([] { list_mutex.lock(); }, [] { list_mutex.unlock(); },
                     [] {
                       mark_inherited();
                       list_mutex.unlock();
                     });
  std::lock_guard<std::mutex> lock(list_mutex);
  listed_prev_ = nullptr;
  listed_next_ = open_sets;
  if (open_sets != nullptr) open_sets->listed_prev_ = this;
  open_sets = this;
  listed_ = true;
}

void Epoll::delist() noexcept {
  if (!listed_) return;
  std::lock_guard<std::mutex> lock(list_mutex);
  (listed_prev_ != nullptr ? listed_prev_->listed_next_ : open_sets) = listed_next_;
  if (listed_next_ != nullptr) listed_next_->listed_prev_ = listed_prev_;
  listed_prev_ = listed_next_ = nullptr;
  listed_ = false;
}

void Epoll::replace_in_list(Epoll& other) noexcept {
  if (!other.listed_) return;
  std::lock_guard<std::mutex> lock(list_mutex);
  listed_prev_ = std::exchange(other.listed_prev_, nullptr);
  listed_next_ = std::exchange(other.listed_next_, nullptr);
  (listed_prev_ != nullptr ? listed_prev_->listed_next_ : open_sets) = this;
  if (listed_next_ != nullptr) listed_next_->listed_prev_ = this;
  listed_ = true;
  other.listed_ = false;
}

void Epoll::mark_inherited() noexcept {
  for (Epoll* set = open_sets; set != nullptr; set = set->listed_next_) {
    set->inherited_ = true;
    set->domain_ = 0;
  }
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
  if (slot.position == 0) return std::nullopt;
  return Flags::of_bits(slot.events);
}

Flags Epoll::find_exn(int fd) const {
  check_fd(fd, "find_exn");
  const Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.position == 0) throw std::out_of_range("fd " + std::to_string(fd) + " is not in the epoll set");
  return Flags::of_bits(slot.events);
}

void Epoll::remove_member_during_walks(int fd) noexcept {
  // Fills the gap at `to` with the member at `from`; the gap is then there.
  auto fill = [this](std::size_t& gap, std::size_t from) {
    if (from == gap) return;
    const int moved = members_[from];
    members_[gap] = moved;
    slots_[static_cast<std::size_t>(moved)].position = static_cast<std::uint32_t>(gap + 1);
    gap = from;
  };
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  std::size_t gap = slot.position - 1;
  slot.position = 0;
  if (TableWalk* walk = table_walks_; walk != nullptr) {  // none in after_fork
    // The innermost walk visits members_[0, unvisited) from the end down.
    // A gap among those is filled by the last of them, so that the walk
    // still visits each once; the gap then lies among the visited ones.
    if (gap < walk->unvisited) fill(gap, --walk->unvisited);
    // Outer walks cannot all be kept right by one move: they stop.
    for (TableWalk* outer = walk->outer; outer != nullptr; outer = outer->outer) outer->unvisited = 0;
  }
  fill(gap, --size_);
}

void Epoll::resize(int num_file_descrs, int max_ready_events) {
  check_open("resize");
  if (std::string refused = check_sizes("Epoll::resize", num_file_descrs, max_ready_events);
      !refused.empty()) {
    throw std::invalid_argument(refused);
  }
  const std::size_t domain = static_cast<std::size_t>(num_file_descrs);
  for (std::size_t i = 0; i < size_; ++i) {
    if (static_cast<std::size_t>(members_[i]) >= domain) {
      const int fd = *std::max_element(members_.get(), members_.get() + size_);
      throw std::invalid_argument("Epoll::resize: num_file_descrs " + std::to_string(num_file_descrs) +
                                  " would drop fd " + std::to_string(fd) + ", which is in the epoll set");
    }
  }
  std::unique_ptr<Slot[], detail::FreeDeleter> slots(allocate<Slot>(domain));
  std::unique_ptr<int[], detail::FreeDeleter> members(allocate<int>(domain));
  std::unique_ptr<epoll_event[], detail::FreeDeleter> events(
      allocate<epoll_event>(static_cast<std::size_t>(max_ready_events)));
  if (!slots || !members || !events) {
    detail::throw_errno(ENOMEM, "Epoll::resize: cannot allocate the table for " +
                                    std::to_string(num_file_descrs) + " fds and " +
                                    std::to_string(max_ready_events) + " ready events");
  }
  stop_walks();
  std::copy_n(members_.get(), size_, members.get());
  for (std::size_t i = 0; i < size_; ++i)
    slots[static_cast<std::size_t>(members[i])] = slots_[static_cast<std::size_t>(members[i])];
  slots_ = std::move(slots);
  members_ = std::move(members);
  events_ = std::move(events);
  num_file_descrs_ = num_file_descrs;
  domain_ = inherited_ ? 0 : num_file_descrs;
  max_ready_events_ = max_ready_events;
  num_ready_ = 0;
}

// ---------------------------------------------------------------------------
// Walks

void Epoll::stop_ready_walks() const noexcept {
  for (ReadyWalk* walk = ready_walks_; walk != nullptr; walk = walk->outer) walk->end = events_.get();
  ready_walks_ = nullptr;
}

void Epoll::stop_walks() const noexcept {
  for (TableWalk* walk = table_walks_; walk != nullptr; walk = walk->outer) walk->unvisited = 0;
  table_walks_ = nullptr;
  stop_ready_walks();
}

// ---------------------------------------------------------------------------
// fork

void Epoll::after_fork() {
  check_open("after_fork");
  if (!inherited_) return;
  const int epoll_fd = detail::call(Syscall::epoll_create1, [] { return ::epoll_create1(EPOLL_CLOEXEC); });
  if (epoll_fd < 0) detail::throw_errno(errno, "Epoll::after_fork: epoll_create1");
  // From here on the set is the child's own, whatever the kernel refuses.
  stop_ready_walks();
  num_ready_ = 0;
  close_fd(epoll_fd_);
  epoll_fd_ = epoll_fd;
  owner_pid_ = ::getpid();
  inherited_ = false;
  domain_ = num_file_descrs_;
  std::string refused;
  int first_error = 0;
  // From the end down, so that removing a refused fd moves only fds
  // already registered.
  for (std::size_t i = size_; i-- > 0;) {
    const int fd = members_[i];
    const Flags flags = Flags::of_bits(slots_[static_cast<std::size_t>(fd)].events);
    epoll_event event{};
    event.events = flags.bits();
    event.data.fd = fd;
    if (detail::call(Syscall::epoll_ctl, [&] { return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event); }) !=
        0) {
      const int error = errno;
      remove_member_during_walks(fd);
      if (first_error == 0) first_error = error;
      refused += (refused.empty() ? " fd " : ", fd ") + std::to_string(fd) + " " + flags.to_string() + " (" +
                 std::generic_category().message(error) + ")";
    }
  }
  if (first_error != 0) {
    detail::throw_errno(first_error,
                        "Epoll::after_fork: the kernel refused" + refused + ", which left the table");
  }
}

// ---------------------------------------------------------------------------
// invariant

void Epoll::invariant() const {
  if (is_closed()) return;
  auto fail = [](const std::string& what) { throw std::logic_error("Epoll::invariant: " + what); };
  if (domain_ != (inherited_ ? 0 : num_file_descrs_)) {
    fail("the domain is " + std::to_string(domain_) + " but num_file_descrs is " +
         std::to_string(num_file_descrs_) + (inherited_ ? " (inherited through fork)" : ""));
  }
  if (max_ready_events_ <= 0) fail("max_ready_events is not positive: " + std::to_string(max_ready_events_));
  if (num_ready_ < 0 || num_ready_ > max_ready_events_) {
    fail("num_ready is " + std::to_string(num_ready_) +
         ", outside [0, max_ready_events = " + std::to_string(max_ready_events_) + "]");
  }
  if (size_ > static_cast<std::size_t>(num_file_descrs_)) {
    fail("size is " + std::to_string(size_) + ", more than the domain holds");
  }
  for (std::size_t i = 0; i < size_; ++i) {
    const int fd = members_[i];
    if (fd < 0 || fd >= num_file_descrs_)
      fail("member " + std::to_string(i) + " is fd " + std::to_string(fd) + ", outside the domain");
    if (slots_[static_cast<std::size_t>(fd)].position != i + 1) {
      fail("fd " + std::to_string(fd) + " is member " + std::to_string(i) + " but its slot says " +
           std::to_string(slots_[static_cast<std::size_t>(fd)].position) + " (position + 1)");
    }
  }
  std::size_t present = 0;
  for (std::size_t fd = 0; fd < static_cast<std::size_t>(num_file_descrs_); ++fd)
    present += slots_[fd].position != 0;
  if (present != size_) {
    fail("size is " + std::to_string(size_) + " but " + std::to_string(present) + " slots are in the set");
  }
}

}  // namespace linux_ext

// linux_ext/epoll.h — a Linux epoll set whose user-level table always mirrors
// the kernel's.
//
// Overview
// --------
// `linux_ext::Epoll` is the C++ counterpart of Jane Street Core's
// `Linux_ext.Epoll`. It owns one epoll instance and keeps, beside it, a table
// from file descriptor to the `Flags` it is watched for. Every change goes to
// the kernel first and reaches the table only once the kernel accepted it, so
// the two never disagree: the table can be printed (`to_sexp`), searched
// (`find`), walked (`iter`, `fold`) and checked against the kernel's own view
// (`check_against_kernel`).
//
// Waiting is level-triggered by default, which emulates `select`: an fd that
// stays readable is reported by every `wait` until it is drained. `Flags::et`
// and `Flags::oneshot` give the kernel's edge-triggered and one-shot modes.
// The ready set of the last `wait` is walked without allocating, in the order
// the kernel returned it.
//
// Everything an `Epoll` needs is allocated by `create`; afterwards no
// operation allocates (printing, parsing, errors, `check_against_kernel` and
// `resize` aside).
//
// Example
// -------
//   using linux_ext::Epoll;
//   Epoll ep = Epoll::create(/*num_file_descrs=*/1024, /*max_ready_events=*/256).value();
//   ep.set(listen_fd, Epoll::Flags::in);
//   for (;;) {
//     if (ep.wait_timeout_after(std::chrono::milliseconds(100)) != Epoll::WaitResult::ok) continue;
//     for (auto [fd, flags] : ep.ready()) {
//       if (flags.do_intersect(Epoll::Flags::in + Epoll::Flags::hup)) on_readable(fd);
//     }
//   }
//
// Rules
// -----
// * Remove an fd from the set before closing it. The kernel forgets a closed
//   fd only when its last duplicate is closed, and the table cannot see a
//   `close`; `check_against_kernel` reports such fds.
// * An `Epoll` is not thread safe: use one per thread.
// * In a child made by `fork`, call `after_fork()` before changing or waiting
//   on a set made before the fork: the child shares the parent's instance.
// * Bad fds throw `std::out_of_range`, kernel refusals `std::system_error`
//   with the kernel's errno, misuse (a closed set, a set inherited through
//   `fork`) `std::logic_error`. After any failure the table and the kernel
//   still agree, with one exception the first rule prevents: `remove` of an
//   fd closed while a `dup` of it (or a forked child's copy) keeps the file
//   open. The kernel keeps that entry until the last copy is closed, no call
//   can reach it through the closed number, and `check_against_kernel`
//   reports it.
// * Walks (`iter`, `fold`, `iter_ready`, `fold_ready`, a loop over `ready()`)
//   survive whatever their callback does to the same `Epoll`, and never read
//   freed or rewritten memory:
//
//   called in the callback     | walk of the table   | walk of the ready set
//   ---------------------------+---------------------+----------------------
//   set                        | goes on (1)         | goes on
//   remove                     | goes on (2)         | goes on (3)
//   clear_ready                | goes on             | goes on
//   wait, pwait, after_fork    | goes on (4)         | stops
//   close, resize, a move      | stops               | stops
//   a nested walk              | both follow these rules
//
//   (1) an fd added now is not visited; new flags of an fd not visited yet
//       are the ones reported. (2) A removed fd not visited yet is not
//       visited; no fd is visited twice. (3) The walk still reports the
//       events of an fd removed by an earlier callback: see `iter_ready`.
//   (4) `after_fork` may drop fds the kernel refuses, which are then not
//       visited. A walk left by an exception from its callback leaves
//       nothing behind.

#ifndef LINUX_EXT_EPOLL_H_
#define LINUX_EXT_EPOLL_H_

#include <signal.h>
#include <sys/epoll.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iosfwd>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <ratio>
#include <string>
#include <string_view>
#include <type_traits>

#include "linux_ext/detail/syscall.h"
#include "linux_ext/error.h"

namespace linux_ext {

// Epoll
//
// One epoll instance and the table that mirrors it. Move-only; the
// destructor closes the instance. See the file comment for the model.
class Epoll {
 public:
  class Flags;        // a set of epoll event bits, below
  class Timeout;      // how long `wait` may block, below
  struct ReadyEvent;  // one event of the ready set, below
  class ReadyRange;   // the ready set as a range, below

  // What `wait` saw: at least one event (`ok`), the timeout passed with no
  // event (`timeout`), or a signal arrived during `pwait` (`interrupted`).
  enum class WaitResult { ok, timeout, interrupted };

  // Epoll::BusyPoll (beyond Core; Linux 6.9 and later)
  //
  // The set's busy-poll parameters, the kernel's `struct epoll_params`: a
  // wait first spins in the kernel over the device queue (NAPI) its sockets'
  // packets came through, for up to `usecs`, and sleeps only when nothing
  // arrived by then. It trades CPU for latency, and acts only on sockets
  // whose packets came through a queue with a NAPI id (a real NIC's; not
  // loopback's). All zero, as every new set starts: off, unless the system
  // busy-polls every set (the sysctl net.core.busy_poll).
  struct BusyPoll {
    // How long a wait busy-polls before it sleeps; 0: net.core.busy_poll's
    // value (0 by default: no busy polling). At most INT32_MAX µs.
    std::chrono::microseconds usecs{0};
    // The most packets one poll of a device queue takes; 0: the kernel's
    // default (8). Above 64 needs CAP_NET_ADMIN; at most 65 535.
    unsigned budget = 0;
    // Prefer busy polling to interrupts: where the device's
    // napi_defer_hard_irqs and gro_flush_timeout are set, its interrupts
    // stay off while the set keeps polling.
    bool prefer = false;

    friend bool operator==(const BusyPoll&, const BusyPoll&) = default;
  };

  // create num_file_descrs max_ready_events
  //
  // Makes an epoll instance (with EPOLL_CLOEXEC) whose table covers the fds
  // `[0, num_file_descrs)` and whose `wait` returns at most
  // `max_ready_events` events, and allocates everything the `Epoll` will
  // ever need: 12 bytes per fd of the domain and one `epoll_event` per ready
  // event (12 bytes on x86-64, 16 elsewhere). The table's pages are zeroed
  // lazily by the system, so a large domain costs little until it is used.
  //
  // Errors are returned, never thrown: `std::errc::invalid_argument` for
  // `num_file_descrs < 0`, `max_ready_events <= 0` or
  // `max_ready_events > INT_MAX / sizeof(epoll_event)`, naming the argument
  // and its value; the errno of `epoll_create1` when it fails (EMFILE,
  // ENFILE, ENOMEM); ENOMEM when the table cannot be allocated.
  static OrError<Epoll> create(int num_file_descrs, int max_ready_events);

  // Takes over `other`'s instance, table and ready set; `other` is closed.
  // Walks in progress over `other` stop.
  Epoll(Epoll&& other) noexcept;
  // Closes this instance, then takes over `other`'s; `other` is closed.
  // Walks in progress over either stop.
  Epoll& operator=(Epoll&& other) noexcept;
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;
  // Closes the instance; never throws.
  ~Epoll();

  // Closes the epoll fd and empties the table and the ready set. Idempotent.
  // Walks in progress stop. The kernel releases the fd even when close(2)
  // fails; such a failure (EIO) is thrown as `std::system_error` after the
  // set is closed. EINTR is not a failure.
  void close();
  // True after `close`, and for a moved-from `Epoll`.
  bool is_closed() const noexcept { return epoll_fd_ < 0; }
  // The epoll file descriptor itself, e.g. to watch this set from another
  // loop. Do not close it: use `close()`.
  int fd() const;

  // Checks the object's own consistency (the table, its counts, the ready
  // set's count) and throws `std::logic_error` naming what is wrong. A closed
  // `Epoll` passes. O(num_file_descrs).
  void invariant() const;
  // Reads the kernel's view of this epoll set from
  // `/proc/self/fdinfo/<epoll fd>` and throws `std::logic_error` listing,
  // one per line, every fd where the table and the kernel disagree: an fd in
  // one and not the other, different flags, an fd closed while still in the
  // set (also when a duplicate keeps the kernel's entry alive, or the number
  // now names another file: kcmp(2) compares the files themselves, and where
  // it is refused the inodes are compared). The kernel's own `err`/`hup`
  // bits, a fired `oneshot` entry (disarmed by the kernel) and `wakeup`
  // dropped for want of CAP_BLOCK_SUSPEND are not disagreements. Also throws
  // `std::system_error` when `/proc` cannot be read (errno of the read, e.g.
  // ENOENT without procfs) and `std::logic_error` when the set is closed.
  // Allocates; a debugging aid.
  void check_against_kernel() const;
  // In a child made by fork(2): replaces the instance, shared with the
  // parent, by a new one of the child's own (EPOLL_CLOEXEC) holding every fd
  // of the table with its flags, and empties the ready set; the parent's set
  // is untouched; the busy-poll parameters go along. Where the kernel
  // refuses an fd (the child closed it), the fd leaves the table and, once
  // every fd was tried, `std::system_error` names each refused fd (and the
  // busy-poll parameters, if refused); the table then holds exactly what the
  // new set holds. Walks of the table go on; walks of the ready set stop. In the parent, and when called
  // again, it does nothing. Until it is called in the child, `set`, `remove`, `wait` and `pwait` throw
  // `std::logic_error` naming both process ids; reading the table, printing,
  // `close` and the destructor are allowed and leave the parent's set alone.
  // The child is recognised without a system call (by a `pthread_atfork`
  // handler), so it must be made by fork(2), not by a raw clone(2).
  void after_fork();

  // find fd
  //
  // The flags `fd` is watched for, or `std::nullopt` when it is not in the
  // set. Constant time, no allocation. Throws `std::out_of_range` when `fd`
  // is outside `[0, num_file_descrs)`.
  std::optional<Flags> find(int fd) const;
  // As `find`, but throws `std::out_of_range` ("fd 7 is not in the epoll
  // set") when `fd` is not in the set.
  Flags find_exn(int fd) const;

  // set fd flags
  //
  // Watches `fd` for `flags`: EPOLL_CTL_ADD when `fd` is not in the set,
  // EPOLL_CTL_MOD when it is (`data.fd` is `fd`). The kernel goes first: if
  // it refuses (EBADF for a closed fd, EPERM for a regular file, EINVAL for
  // the epoll fd itself, ENOSPC past max_user_watches, ENOMEM...) this throws
  // `std::system_error` with that errno and nothing changes. `exclusive` is
  // only valid when `fd` is added: `set` on an fd already in the set with
  // flags holding `exclusive` throws `std::system_error(EINVAL)` and changes
  // nothing. Throws `std::out_of_range` for an fd outside the domain, before
  // any system call. Constant time, one system call at most, no allocation
  // but on error.
  //
  // When `fd` is in the set with the same flags and they hold neither `et`
  // nor `oneshot`, no system call is made: nothing would change (a MOD
  // re-arms `et` and `oneshot`, so those always reach the kernel). So if
  // `fd` was closed and its number reused behind the table's back, such a
  // `set` reports no error and the new file is not watched:
  // `check_against_kernel` finds it. `remove` an fd before closing it.
  //
  // During a walk of the table, an fd that `set` adds is not visited; new
  // flags of an fd not yet visited are the ones the walk reports.
  void set(int fd, Flags flags);

  // remove fd
  //
  // Stops watching `fd`; does nothing when it is not in the set. The entry
  // leaves the table, then EPOLL_CTL_DEL runs; if that fails (EBADF: the fd
  // was closed) this throws `std::system_error` and the entry stays
  // removed: the kernel forgot a closed fd by itself, unless a `dup` of it
  // (or a forked child's copy) keeps the file open. Then the kernel keeps
  // the entry until the last copy is closed, nothing can remove it through
  // the closed number, and `check_against_kernel` reports it. Throws
  // `std::out_of_range` for an fd outside the domain. Constant time.
  //
  // During a walk of the table, a removed fd that was not visited yet is not
  // visited; every other fd is still visited once, by every walk in
  // progress.
  void remove(int fd);

  // Calls `f(fd, flags)` once for every fd in the set, in an order left
  // open. Costs what the set holds, not the domain; no allocation. `f` may
  // call any member of this `Epoll`: `set` and `remove` keep the walk going
  // as they say; `close`, `resize` and moving the `Epoll` away stop it.
  template <class F>
  void iter(F&& f) const;
  // `acc = f(fd, flags, acc)` over the set, as `iter`, starting from `init`;
  // returns the final `acc`.
  template <class A, class F>
  A fold(A init, F&& f) const;
  // The number of fds in the set. Constant time; 0 when closed.
  std::size_t size() const noexcept { return num_entries_ - num_removed_; }
  // The size of the domain `[0, num_file_descrs)`.
  int num_file_descrs() const noexcept { return num_file_descrs_; }
  // The most events one `wait` returns.
  int max_ready_events() const noexcept { return max_ready_events_; }
  // Changes the domain to `[0, num_file_descrs)` and the ready buffer to
  // `max_ready_events` in place: the same epoll instance, no system call,
  // every entry of the table kept; the ready set is emptied, and walks in
  // progress stop. The one operation after `create` that allocates. Throws
  // `std::invalid_argument` for sizes `create` refuses or a domain that
  // would drop an fd still in the set (naming it), `std::system_error`
  // (ENOMEM) when memory is short; on any error nothing changes.
  void resize(int num_file_descrs, int max_ready_events);

  // set_busy_poll params (beyond Core; Linux 6.9 and later)
  //
  // Sets this set's busy-poll parameters (see `BusyPoll`) with one
  // ioctl(EPIOCSPARAMS). They belong to the kernel's instance: a move
  // carries them, `resize` keeps them, and `after_fork` sets them on the
  // child's new instance. The arguments are checked first: `usecs` negative
  // or above INT32_MAX µs, or `budget` above 65 535, throw
  // `std::invalid_argument` naming the field and its value, before any
  // system call. The kernel's refusals are `std::system_error` with its
  // errno: EPERM for a budget above 64 (the kernel's NAPI_POLL_WEIGHT)
  // without CAP_NET_ADMIN, which the message says. A kernel without the
  // ioctl (before 6.9: ENOTTY or EINVAL; built without
  // CONFIG_NET_RX_BUSY_POLL: EOPNOTSUPP) gives
  // `std::errc::operation_not_supported`, with a message naming Linux 6.9.
  // On any error the parameters are unchanged. Throws `std::logic_error`
  // when closed, and in a fork(2) child before `after_fork` (the instance is
  // still the parent's). One system call; no allocation but on error.
  void set_busy_poll(const BusyPoll& params);
  // The busy-poll parameters the kernel holds for this set
  // (ioctl(EPIOCGPARAMS)): all zero until `set_busy_poll`. A kernel without
  // the ioctl gives the error `set_busy_poll` gives; `std::logic_error` when
  // closed. One system call; no allocation but on error.
  BusyPoll busy_poll() const;

  // wait timeout
  //
  // Blocks until at least one fd in the set is ready for an event it is
  // watched for (`ok`), or until `timeout` passes (`timeout`), and replaces
  // the ready set with what the kernel returned (at most
  // `max_ready_events`; with more ready fds, level-triggered ones that stay
  // ready are reported over successive waits). A timed wait never returns
  // `timeout` before its span has passed. A signal (EINTR) does not end the
  // wait: it goes on for the time that is left (of the rounded span, for
  // `Timeout::after`), so `interrupted` is never returned. Any other failure throws `std::system_error` with
  // the ready set empty. One system call when nothing interrupts it (a timed wait also reads the clock, a
  // vDSO call), no allocation. Walks of the ready set in progress stop.
  WaitResult wait(Timeout timeout);
  // Same as `wait(Timeout::after(span))`, for any `std::chrono::duration`.
  template <class Rep, class Period>
  WaitResult wait_timeout_after(std::chrono::duration<Rep, Period> span);
  // As `wait`, with the signal mask `mask` installed atomically for the
  // duration of the wait (epoll_pwait / epoll_pwait2), and a signal ends
  // the wait: the result is then `interrupted`, with the ready set empty.
  WaitResult pwait(Timeout timeout, const sigset_t& mask);

  // Calls `f(fd, flags)` for every event of the last `wait`, in the order
  // the kernel returned them; `flags` is what the kernel reported, which can
  // hold `err` and `hup` though they were not asked for. No allocation. `f`
  // may call any member of this `Epoll`: changes to the table and
  // `clear_ready` leave the walk going over the events it started with;
  // `wait`, `pwait`, `close`, `resize`, `after_fork` and moving the `Epoll`
  // away stop it.
  //
  // The events are what the kernel returned, whatever `f` did since: a walk
  // still reports the event of an fd that an earlier callback removed, even
  // when that number was set again for another file (a connection closed,
  // then one accepted on the same number); the event was about the old
  // file. To tell, look the fd up with `find` (an fd removed and not set
  // again is gone), or keep per-fd state of your own (a generation, or the
  // connection object) and drop events for state you tore down.
  template <class F>
  void iter_ready(F&& f) const;
  // `acc = f(acc, fd, flags)` over the ready set, as `iter_ready`, starting
  // from `init`; returns the final `acc`.
  template <class A, class F>
  A fold_ready(A init, F&& f) const;
  // The number of events in the ready set; 0 when closed.
  int num_ready() const noexcept { return num_ready_; }
  // The ready set as a range of `ReadyEvent`, in the order of `iter_ready`,
  // for `for (auto [fd, flags] : ep.ready())`. A loop over it is a walk like
  // `iter_ready`'s, stopped by the same calls, and like it reports the
  // events of fds removed during the loop (see `iter_ready` for how to tell).
  // A range kept outside a loop, and its copies, are invalidated by the
  // next `wait` or `pwait`, by `close`, `resize`, `after_fork` and by moving
  // the `Epoll`, and then read as empty; `clear_ready` and changes to the
  // table leave them as they are. Ranges and iterators are tied to the
  // `Epoll` object, not to each other: `for (auto it = ep.ready().begin();
  // it != ep.ready().end(); ++it)` walks like a range-for. They must not
  // outlive the `Epoll` object. Constant time, no allocation.
  ReadyRange ready() const;
  // Empties the ready set (Core's `Expert.clear_ready`); does nothing when
  // closed. Walks in progress go on over the events they started with.
  void clear_ready() noexcept { num_ready_ = 0; }

  // The whole object as one line: `Closed`, or
  // `((epollfd 3) (flags_by_fd ((5 (in)) (6 (in out)))) (max_ready_events 256) (num_ready_events 1)
  // (ready_events (((file_descr 5) (flags (in))))))` with the table in ascending fd order. Allocates.
  std::string to_sexp() const;

 private:
  // One fd of the domain: the kernel's event bits it is watched for, and
  // `entry`: positive when the fd is in the set, where members_[entry - 1]
  // holds it; 0 when it is not; negative when it was removed while walks of
  // the table are in progress, which keep its entry at members_[-entry - 1]
  // until the last of them ends (an add in the meantime revives it).
  struct Slot {
    std::uint32_t events;
    std::int32_t entry;
  };
  friend class ReadyRange;

  Epoll() noexcept = default;
  // Throws `std::logic_error` when closed, naming `operation`, the caller.
  void check_open(const char* operation) const;
  // Throws `std::out_of_range` when `fd` is outside `[0, num_file_descrs)`
  // (or `std::logic_error` when closed), naming `operation`.
  void check_fd(int fd, const char* operation) const;
  // Whether `fd` may be changed in the kernel's set now: the set is open,
  // owned by this process and `fd` is in its domain (`access_key_`).
  bool may_change(int fd) const noexcept {
    return (detail::fork_generation.load(std::memory_order_relaxed) | static_cast<std::uint32_t>(fd)) <
           access_key_;
  }
  // Whether this process is a child made by fork(2) since the set was made
  // (or since its `after_fork`): no system call, one comparison.
  bool is_inherited() const noexcept {
    return (access_key_ & ~kDomainMask) != detail::fork_generation.load(std::memory_order_relaxed);
  }
  // Throws `std::logic_error` in a child made by fork(2) before `after_fork`.
  void check_owner(const char* operation) const;
  // The checks before a change to the kernel's set: `check_fd` and
  // `check_owner`, in one comparison.
  void check_change(int fd, const char* operation) const {
    if (!may_change(fd)) [[unlikely]]
      refuse_change(fd, operation);
  }
  [[noreturn]] void refuse_change(int fd, const char* operation) const;
  [[noreturn]] void throw_exclusive_on_modify(int fd, Flags flags) const;
  // epoll_ctl of `fd` with `flags` and `data.fd == fd`; throws the
  // kernel's errno, naming `operation`.
  void kernel_change(const char* operation, int op, int fd, Flags flags) const;
  [[noreturn]] static void throw_ctl_error(const char* operation, int op, int fd, Flags flags);
  // `set` of an fd removed during walks of the table still in progress,
  // which kept its entry: the add revives it.
  void add_reviving(int fd, Flags flags);
  // Takes `fd`, which is in the set, out of the table (not the kernel's).
  void remove_entry(int fd) noexcept;
  // What `remove_entry` does while walks of the table are in progress.
  void remove_entry_during_walks(int fd) noexcept;
  // Copies the busy-poll parameters of the epoll instance `from_fd` to the
  // instance `to_fd`, for `after_fork`; returns 0, or the errno of the ioctl
  // that failed. Nothing to copy, and so 0: parameters all zero, or a kernel
  // without the ioctls.
  static int copy_busy_poll(int from_fd, int to_fd) noexcept;
  // The table walk behind `iter` and `fold`; `operation` names the caller.
  template <class F>
  void walk_table(const char* operation, F&& f) const;
  // Once the last walk of the table ends: drops the entries of fds removed
  // while walks ran, and restarts the walk clock when it has run far.
  void tidy_table() const noexcept;
  // The ready-set walk behind `iter_ready` and `fold_ready`.
  template <class F>
  void walk_ready(const char* operation, F&& f) const;
  // Replaces the ready set with the `n` events the kernel just wrote.
  void set_ready(int n) noexcept {
    ready_end_ = n;
    num_ready_ = n;
  }
  // The common waits, inline: one epoll_wait; the rest goes to `wait_with`.
  WaitResult wait_inline(const char* operation, Timeout timeout);
  // The whole wait loop behind `wait`, `wait_timeout_after` and `pwait`,
  // for a wait that starts now, or (`started_ns >= 0`) one whose first
  // epoll_wait, begun then on the monotonic clock, ended early (a signal,
  // or a span longer than epoll_wait takes).
  WaitResult wait_with(const char* operation, Timeout timeout, const sigset_t* mask,
                       std::int64_t started_ns = -1);
  // Throws the errno of a failed `call` (epoll_wait, ...) of `operation`.
  [[noreturn]] void throw_wait_error(const char* operation, const char* call, int error) const;
  // Releases everything; the object is then closed, and walks stop.
  void release() noexcept;
  // Takes `other`'s instance and table; `other` is then released.
  void take(Epoll& other) noexcept;

  // The instance; -1 when closed.
  int epoll_fd_ = -1;
  int num_file_descrs_ = 0;
  int max_ready_events_ = 0;
  // The fork generation of the process that owns the instance (see
  // `detail::fork_generation`), in the high half, and the domain that
  // `set` and `remove` accept (num_file_descrs_; 0 when closed) in the low
  // half: an fd may be changed when the process's generation with the fd
  // in the low half is below it. A child's generation is higher than any
  // of its parent's, so one comparison rejects a closed set, an inherited
  // one and an fd outside the domain; it is what keeps "instructions per
  // set/remove" in `make bench` one comparison from raw epoll's.
  std::uint64_t access_key_ = 0;
  static constexpr std::uint64_t kDomainMask = detail::kForkGenerationUnit - 1;
  // Makes this process the owner, with the domain [0, num_file_descrs_).
  void grant_access() noexcept {
    access_key_ = detail::fork_generation.load(std::memory_order_relaxed) |
                  static_cast<std::uint32_t>(num_file_descrs_);
  }
  // The id of the process that owns the instance (for the error message).
  pid_t owner_pid_ = 0;

  // The table: slots_[fd] for every fd of the domain, and the fds with an
  // entry in members_[0, num_entries_): those in the set, and those removed
  // while walks of the table are in progress (`num_removed_` of them).
  std::unique_ptr<Slot[], detail::FreeDeleter> slots_;
  std::unique_ptr<int[], detail::FreeDeleter> members_;
  mutable std::uint32_t num_entries_ = 0;
  mutable std::uint32_t num_removed_ = 0;
  // A walk of the table visits the entries present when it began whose fd
  // is in the set and was not revived since: since_[fd] is the walk clock
  // when fd's entry was last revived, and each walk takes the clock and
  // advances it, so an entry revived during the walk is not visited. The
  // clock only grows (until the last walk to end resets it, with since_,
  // long before it could wrap), so older values of since_ stay below it.
  // Moves with the table.
  std::unique_ptr<std::uint32_t[], detail::FreeDeleter> since_;
  mutable std::uint32_t walk_clock_ = 0;
  // Walks of the table in progress on this object (not moved with the
  // table: a walk belongs to the object it began on). A std::size_t, which
  // GCC compares with 0 in memory, in one instruction where it loads and
  // tests a narrower count: "instructions per set/remove" in `make bench`
  // are raw + 17.00 so, raw + 17.25 with a std::uint32_t.
  mutable std::size_t table_walks_ = 0;

  // The ready set: the last wait wrote events_[0, ready_end_); it holds the
  // last `num_ready_` of them (`clear_ready` empties it, not the buffer).
  std::unique_ptr<epoll_event[], detail::FreeDeleter> events_;
  int ready_end_ = 0;
  int num_ready_ = 0;

  // Epochs, which walks and ranges compare to see whether they must stop.
  // `table_epoch_` counts what frees or replaces the table (close, resize,
  // moves); `ready_epoch_` counts those and what rewrites the event buffer
  // (wait, pwait, after_fork). Never moved: each counts for its object.
  std::uint64_t table_epoch_ = 0;
  std::uint64_t ready_epoch_ = 0;
  // Ends every walk and every range of this object.
  void invalidate() noexcept {
    ++table_epoch_;
    ++ready_epoch_;
  }
};

// Epoll::Flags
//
// A set of epoll event bits: a small value type, with constexpr set
// operations. The bit values are the kernel's (`in.bits() == EPOLLIN`).
// `in`, `out`, `pri` and `rdhup` ask for readiness; `err` and `hup` are
// always reported by the kernel, asked for or not; `et`, `oneshot`,
// `wakeup` and `exclusive` change how the fd is watched.
class Epoll::Flags {
 public:
  // The empty set.
  constexpr Flags() noexcept = default;

  // Core's flags: readable, writable, urgent data, error, hang-up,
  // edge-triggered, one-shot (disarmed after one event until `set` again).
  static const Flags none, in, out, pri, err, hup, et, oneshot;
  // Beyond Core: peer closed its writing half (EPOLLRDHUP), keep the system
  // awake while the event is handled (EPOLLWAKEUP, needs CAP_BLOCK_SUSPEND),
  // wake only one of several epoll sets waiting on the same fd
  // (EPOLLEXCLUSIVE, valid only when the fd is added).
  static const Flags rdhup, wakeup, exclusive;

  // The raw bits, as passed to and from the kernel.
  constexpr std::uint32_t bits() const noexcept { return bits_; }
  // The flags with exactly these bits; bits that name no flag are kept.
  static constexpr Flags of_bits(std::uint32_t bits) noexcept {
    Flags f;
    f.bits_ = bits;
    return f;
  }

  // Union.
  friend constexpr Flags operator+(Flags a, Flags b) noexcept { return of_bits(a.bits_ | b.bits_); }
  friend constexpr Flags operator|(Flags a, Flags b) noexcept { return of_bits(a.bits_ | b.bits_); }
  // Difference: the flags of a that are not in b.
  friend constexpr Flags operator-(Flags a, Flags b) noexcept { return of_bits(a.bits_ & ~b.bits_); }
  // Intersection.
  friend constexpr Flags operator&(Flags a, Flags b) noexcept { return of_bits(a.bits_ & b.bits_); }
  // In-place forms of the three above.
  constexpr Flags& operator|=(Flags b) noexcept { return *this = *this | b; }
  constexpr Flags& operator-=(Flags b) noexcept { return *this = *this - b; }
  constexpr Flags& operator&=(Flags b) noexcept { return *this = *this & b; }
  friend constexpr bool operator==(Flags a, Flags b) noexcept = default;

  // Every known flag that is not in this set (unknown bits are dropped).
  constexpr Flags complement() const noexcept { return of_bits(kKnownBits & ~bits_); }
  // No bit at all.
  constexpr bool is_empty() const noexcept { return bits_ == 0; }
  // At least one bit in common with `other`.
  constexpr bool do_intersect(Flags other) const noexcept { return (bits_ & other.bits_) != 0; }
  // No bit in common with `other`.
  constexpr bool are_disjoint(Flags other) const noexcept { return !do_intersect(other); }
  // Every bit of this set is in `other` (this ⊆ other).
  constexpr bool is_subset(Flags other) const noexcept { return (bits_ & ~other.bits_) == 0; }

  // The S-expression of the set: flag names in the order
  // `in out pri err hup et oneshot rdhup wakeup exclusive`, e.g. `(in out)`;
  // `()` for none; bits that name no flag as
  // `((in) (unrecognized_bits 0x40))`. Allocates.
  std::string to_string() const;
  // Parses what `to_string` prints, with any whitespace, names in any order
  // and repeated. Anything else is an Error with code
  // `std::errc::invalid_argument` whose message quotes the offending token
  // and its offset.
  static OrError<Flags> of_sexp(std::string_view text);

 private:
  static constexpr std::uint32_t kKnownBits = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLET |
                                              EPOLLONESHOT | EPOLLRDHUP | EPOLLWAKEUP | EPOLLEXCLUSIVE;

  std::uint32_t bits_ = 0;
};

inline constexpr Epoll::Flags Epoll::Flags::none = Epoll::Flags::of_bits(0);
inline constexpr Epoll::Flags Epoll::Flags::in = Epoll::Flags::of_bits(EPOLLIN);
inline constexpr Epoll::Flags Epoll::Flags::out = Epoll::Flags::of_bits(EPOLLOUT);
inline constexpr Epoll::Flags Epoll::Flags::pri = Epoll::Flags::of_bits(EPOLLPRI);
inline constexpr Epoll::Flags Epoll::Flags::err = Epoll::Flags::of_bits(EPOLLERR);
inline constexpr Epoll::Flags Epoll::Flags::hup = Epoll::Flags::of_bits(EPOLLHUP);
inline constexpr Epoll::Flags Epoll::Flags::et = Epoll::Flags::of_bits(EPOLLET);
inline constexpr Epoll::Flags Epoll::Flags::oneshot = Epoll::Flags::of_bits(EPOLLONESHOT);
inline constexpr Epoll::Flags Epoll::Flags::rdhup = Epoll::Flags::of_bits(EPOLLRDHUP);
inline constexpr Epoll::Flags Epoll::Flags::wakeup = Epoll::Flags::of_bits(EPOLLWAKEUP);
inline constexpr Epoll::Flags Epoll::Flags::exclusive = Epoll::Flags::of_bits(EPOLLEXCLUSIVE);

// Epoll::Timeout
//
// How long `wait` may block. `after` has the kernel's granularity of one
// millisecond and rounds a positive span up to the next millisecond (1 µs
// waits 1 ms, 1.2 ms waits 2 ms); `after_precise` keeps nanoseconds where the
// kernel has `epoll_pwait2`. Both take any `std::chrono::duration`, integer
// or floating-point: a span of zero or less, or NaN, is `immediately`; a
// span too long for `std::chrono::nanoseconds` (`seconds::max()`, an
// infinity) is the longest span, about 292 years; a span beyond what one
// system call takes is waited for over several, never wrapped.
class Epoll::Timeout {
 public:
  // Block until an event arrives.
  static constexpr Timeout never() noexcept { return Timeout(Kind::never, 0); }
  // Poll: return at once.
  static constexpr Timeout immediately() noexcept { return Timeout(Kind::immediately, 0); }
  // Block at most `span`, rounded up to whole milliseconds.
  template <class Rep, class Period>
  static constexpr Timeout after(std::chrono::duration<Rep, Period> span) noexcept {
    const std::int64_t ns = nanos_of(span);
    if (ns == 0) return immediately();
    // Whole milliseconds, so that a wait a signal interrupts goes on for
    // what is left of the rounded span.
    return Timeout(Kind::millis, ns > kMaxNanos - (kNanosPerMilli - 1)
                                     ? kMaxNanos
                                     : (ns + kNanosPerMilli - 1) / kNanosPerMilli * kNanosPerMilli);
  }
  // Block at most `span`, to the nanosecond where the kernel has
  // `epoll_pwait2` (Linux 5.11+); elsewhere (older kernels, valgrind) as
  // `after`. Which of the two applies is found out at run time, once.
  template <class Rep, class Period>
  static constexpr Timeout after_precise(std::chrono::duration<Rep, Period> span) noexcept {
    const std::int64_t ns = nanos_of(span);
    return ns == 0 ? immediately() : Timeout(Kind::nanos, ns);
  }

 private:
  friend class Epoll;
  enum class Kind : std::uint8_t { never, immediately, millis, nanos };
  static constexpr std::int64_t kMaxNanos = std::numeric_limits<std::int64_t>::max();
  static constexpr std::int64_t kNanosPerMilli = 1'000'000;
  static constexpr int kMaxMillis = std::numeric_limits<int>::max();

  constexpr Timeout(Kind kind, std::int64_t span_ns) noexcept
      : kind_(kind),
        millis_(kind == Kind::never         ? -1
                : kind == Kind::immediately ? 0
                                            : millis_of(span_ns)),
        span_ns_(span_ns) {}

  // `span` in whole nanoseconds, rounded up, saturated to [0, kMaxNanos]
  // before any multiplication can overflow; 0 for NaN.
  template <class Rep, class Period>
  static constexpr std::int64_t nanos_of(std::chrono::duration<Rep, Period> span) noexcept {
    static_assert(std::is_arithmetic_v<Rep>, "a Timeout's span counts in an arithmetic type");
    using PerTick = std::ratio_divide<Period, std::nano>;  // nanoseconds per tick: num / den
    if (!(span.count() > 0)) return 0;                     // zero, negative or NaN
    if constexpr (std::is_integral_v<Rep> && PerTick::den == 1) {
      const auto ticks = static_cast<std::uintmax_t>(span.count());
      constexpr auto kMaxTicks = static_cast<std::uintmax_t>(kMaxNanos) / PerTick::num;
      return ticks > kMaxTicks ? kMaxNanos : static_cast<std::int64_t>(ticks * PerTick::num);
    } else if constexpr (std::is_integral_v<Rep> && PerTick::num == 1) {
      const auto ticks = static_cast<std::uintmax_t>(span.count());
      const std::uintmax_t ns = ticks / PerTick::den + (ticks % PerTick::den != 0 ? 1 : 0);
      return ns > static_cast<std::uintmax_t>(kMaxNanos) ? kMaxNanos : static_cast<std::int64_t>(ns);
    } else {
      // Floating-point spans and odd ratios: in long double, where a
      // product too large is an infinity, not undefined behaviour.
      const long double ns = static_cast<long double>(span.count()) * static_cast<long double>(PerTick::num) /
                             static_cast<long double>(PerTick::den);
      if (!(ns < static_cast<long double>(kMaxNanos))) return kMaxNanos;
      const auto whole = static_cast<std::int64_t>(ns);
      return static_cast<long double>(whole) < ns ? whole + 1 : whole;
    }
  }
  // The one mapping from a positive span to epoll_wait's timeout: whole
  // milliseconds rounded up, cut to INT_MAX (whatever is left is waited for
  // on the next round).
  static constexpr int millis_of(std::int64_t span_ns) noexcept {
    return span_ns > std::int64_t{kMaxMillis} * kNanosPerMilli
               ? kMaxMillis
               : static_cast<int>((span_ns + kNanosPerMilli - 1) / kNanosPerMilli);
  }
  // Whether the span is longer than one epoll_wait takes.
  constexpr bool is_cut() const noexcept {
    return millis_ == kMaxMillis && span_ns_ > std::int64_t{kMaxMillis} * kNanosPerMilli;
  }

  Kind kind_;
  int millis_;            // epoll_wait's timeout
  std::int64_t span_ns_;  // > 0 for millis (whole milliseconds) and nanos
};

// Epoll::ReadyEvent
//
// One event of the ready set: the fd and the flags the kernel reported.
struct Epoll::ReadyEvent {
  int fd;
  Flags flags;
  friend bool operator==(const ReadyEvent&, const ReadyEvent&) = default;

  // Beyond Core: what the kernel's bits mean, read as mio reads them.
  // Constant time.

  // Data, or urgent data, can be read: `in` or `pri`.
  constexpr bool is_readable() const noexcept { return flags.do_intersect(Flags::in + Flags::pri); }
  // Data can be written: `out`.
  constexpr bool is_writable() const noexcept { return flags.do_intersect(Flags::out); }
  // The file has an error (a socket's is read with SO_ERROR): `err`.
  constexpr bool is_error() const noexcept { return flags.do_intersect(Flags::err); }
  // Urgent data (TCP out-of-band) can be read: `pri`.
  constexpr bool is_priority() const noexcept { return flags.do_intersect(Flags::pri); }
  // The reading half is closed: `hup`, or `in` with `rdhup` (the peer shut
  // its writing half, and every byte it sent was read or is readable; watch
  // `rdhup` to hear of it before the connection is closed both ways).
  constexpr bool is_read_closed() const noexcept {
    return flags.do_intersect(Flags::hup) || (Flags::in + Flags::rdhup).is_subset(flags);
  }
  // The writing half is closed: `hup`, or `out` with `err` (a socket that
  // failed, a pipe whose reader closed), or `err` alone (such a pipe when it
  // is full).
  constexpr bool is_write_closed() const noexcept {
    return flags.do_intersect(Flags::hup) || (Flags::out + Flags::err).is_subset(flags) ||
           flags == Flags::err;
  }
};

// Epoll::ReadyRange
//
// The ready set of a wait as a range of `ReadyEvent` values, read from the
// kernel's own event buffer: `for (auto [fd, flags] : ep.ready())`. A range
// and its iterators are small values that name the `Epoll` object, the
// wait, and a place in the buffer; they are tied to the `Epoll` (which they
// must not outlive), not to each other, so copies are trivial and an
// iterator outlives the range that made it. Once the `Epoll` waits again,
// is closed, resized, moved or calls `after_fork`, they read as empty: every
// iterator equals `end()`. Constant time, no allocation.
class Epoll::ReadyRange {
 public:
  // A random-access iterator yielding `ReadyEvent` by value. Iterators at
  // or past the end of the ready set, or of a ready set gone since, are all
  // equal; so are default-constructed ones.
  class iterator {
   public:
    using iterator_concept = std::random_access_iterator_tag;
    using iterator_category = std::input_iterator_tag;
    using value_type = ReadyEvent;
    using difference_type = std::ptrdiff_t;
    using reference = ReadyEvent;

    // What `operator->` returns: the event, held by value.
    struct pointer {
      ReadyEvent event;
      const ReadyEvent* operator->() const noexcept { return &event; }
    };

    iterator() noexcept = default;
    // The event; the iterator must be before the end.
    ReadyEvent operator*() const noexcept {
      const epoll_event& event = epoll_->events_[static_cast<std::size_t>(index_)];
      return {event.data.fd, Flags::of_bits(event.events)};
    }
    pointer operator->() const noexcept { return pointer{**this}; }
    ReadyEvent operator[](difference_type n) const noexcept { return *(*this + n); }
    iterator& operator++() noexcept { return *this += 1; }
    iterator operator++(int) noexcept {
      iterator old = *this;
      *this += 1;
      return old;
    }
    iterator& operator--() noexcept { return *this -= 1; }
    iterator operator--(int) noexcept {
      iterator old = *this;
      *this -= 1;
      return old;
    }
    iterator& operator+=(difference_type n) noexcept {
      index_ += n;
      return *this;
    }
    iterator& operator-=(difference_type n) noexcept {
      index_ -= n;
      return *this;
    }
    friend iterator operator+(iterator it, difference_type n) noexcept { return it += n; }
    friend iterator operator+(difference_type n, iterator it) noexcept { return it += n; }
    friend iterator operator-(iterator it, difference_type n) noexcept { return it -= n; }
    friend difference_type operator-(const iterator& a, const iterator& b) noexcept {
      return a.position() - b.position();
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.position() == b.position();
    }
    friend auto operator<=>(const iterator& a, const iterator& b) noexcept {
      return a.position() <=> b.position();
    }

   private:
    friend class ReadyRange;
    iterator(const Epoll* epoll, std::uint64_t epoch, difference_type index) noexcept
        : epoll_(epoll), epoch_(epoch), index_(index) {}
    // Where the iterator stands in the event buffer: its index while its
    // wait's events are there and it is before their end, else their end.
    difference_type position() const noexcept {
      if (epoll_ == nullptr) return 0;
      const difference_type end = epoll_->ready_end_;
      return epoch_ == epoll_->ready_epoch_ && index_ < end ? index_ : end;
    }

    const Epoll* epoll_ = nullptr;
    std::uint64_t epoch_ = 0;
    difference_type index_ = 0;
  };

  iterator begin() const noexcept { return iterator(epoll_, epoch_, begin_); }
  iterator end() const noexcept { return iterator(epoll_, epoch_, end_); }
  // The number of events; 0 once the ready set is gone.
  std::size_t size() const noexcept { return is_current() ? static_cast<std::size_t>(end_ - begin_) : 0; }
  bool empty() const noexcept { return size() == 0; }
  // The event at `i`, which must be below `size()`.
  ReadyEvent operator[](std::size_t i) const noexcept { return begin()[static_cast<std::ptrdiff_t>(i)]; }

 private:
  friend class Epoll;
  explicit ReadyRange(const Epoll& epoll) noexcept
      : epoll_(&epoll),
        epoch_(epoll.ready_epoch_),
        begin_(epoll.ready_end_ - epoll.num_ready_),
        end_(epoll.ready_end_) {}
  // Whether the wait whose events the range views is still the last one.
  bool is_current() const noexcept { return epoch_ == epoll_->ready_epoch_; }

  const Epoll* epoll_;
  std::uint64_t epoch_;
  int begin_;
  int end_;
};

// Prints `flags.to_string()`.
std::ostream& operator<<(std::ostream& out, Epoll::Flags flags);
// Prints `epoll.to_sexp()`.
std::ostream& operator<<(std::ostream& out, const Epoll& epoll);

}  // namespace linux_ext

// The bodies of the templates above, and of set, remove and wait.
#include "linux_ext/detail/epoll_inline.h"

#endif  // LINUX_EXT_EPOLL_H_

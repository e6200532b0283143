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
// operation allocates (printing, parsing, errors and `check_against_kernel`
// aside). The table is dense over `[0, num_file_descrs)`: `find` is constant
// time, `iter`, `fold` and `size` cost what the set holds, not the domain.
//
// Example
// -------
//   auto ep = linux_ext::Epoll::create(/*num_file_descrs=*/1024,
//                                      /*max_ready_events=*/256).value();
//   using Flags = linux_ext::Epoll::Flags;
//   ep.set(listen_fd, Flags::in);
//   while (running) {
//     if (ep.wait_timeout_after(std::chrono::milliseconds(100)) !=
//         linux_ext::Epoll::WaitResult::ok)
//       continue;
//     for (auto [fd, flags] : ep.ready()) {
//       if (flags.do_intersect(Flags::in + Flags::hup)) on_readable(fd);
//     }
//   }
//
// Rules
// -----
// * Remove an fd from the set before closing it. The kernel forgets a closed
//   fd only when its last duplicate is closed, and the table cannot know;
//   `check_against_kernel` reports such fds.
// * An `Epoll` is not thread safe: use one per thread.
// * Bad fds throw `std::out_of_range`, kernel refusals `std::system_error`
//   with the kernel's errno, misuse of a closed set `std::logic_error`.
//   After any failure the table and the kernel still agree.

#ifndef LINUX_EXT_EPOLL_H_
#define LINUX_EXT_EPOLL_H_

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iosfwd>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "linux_ext/error.h"

// The fast paths (set, remove, wait) are inlined into their callers: a call
// frame costs as much as all the rest of their work.
#if defined(__GNUC__)
#define LINUX_EXT_HOT [[gnu::always_inline]] inline
#else
#define LINUX_EXT_HOT inline
#endif

namespace linux_ext {

namespace detail {

// Frees memory from `std::calloc`.
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

// The layout of the kernel's `struct epoll_event`, so that the ready set can
// be walked inline without this header including <sys/epoll.h>. It is packed
// on x86-64 only, as the kernel's is; src/epoll.cc checks that the two agree.
struct KernelEvent {
  std::uint32_t events;
  union {
    void* ptr;
    int fd;
    std::uint32_t u32;
    std::uint64_t u64;
  } data;
}
#if defined(__x86_64__)
__attribute__((packed))
#endif
;

// The operations of epoll_ctl(2), with the kernel's values (EPOLL_CTL_*).
enum CtlOp : int { kCtlAdd = 1, kCtlDel = 2, kCtlMod = 3 };

// epoll_ctl(2) and epoll_wait(2), defined in src/epoll.cc behind its
// system-call seam. The fast paths of `Epoll`, inline below, call them so
// that a call costs what a direct system call costs; they return -1 and
// leave errno set on failure.
int epoll_ctl(int epoll_fd, CtlOp op, int fd, KernelEvent* event);
int epoll_wait(int epoll_fd, KernelEvent* events, int max_events, int timeout_ms);

// FdBitmap
//
// The set of fds present in the table: a hierarchy of 64-bit words, one bit
// per fd at the bottom and one bit per non-empty word of the level below
// above it, up to a single word. Membership is one bit test, insertion and
// removal touch one word (more only when a word turns empty or non-empty),
// and `next` skips empty regions 64^k fds at a time, so walking the members
// costs what the set holds, not the domain. Memory: about 1/8 byte per fd.
// Zeroed pages are obtained lazily from `calloc`, so a large domain costs
// nothing until it is used.
class FdBitmap {
 public:
  FdBitmap() noexcept = default;
  // An empty set over `[0, domain)`; returns false when memory is short.
  bool allocate(int domain) noexcept;
  // Frees the memory; the set becomes an empty set over an empty domain.
  void release() noexcept;

  // The domain: 0 once released.
  int domain() const noexcept { return domain_; }
  bool contains(int fd) const noexcept {
    return (words_.get()[fd >> 6] >> (fd & 63)) & 1U;
  }
  // Sets fd's bit at the bottom; returns true when its word was empty, in
  // which case `mark(fd, true)` must follow. Two steps, so that callers keep
  // the rare second one out of their fast path.
  bool insert_bit(unsigned fd) noexcept {
    std::uint64_t& word = words_.get()[fd >> 6];
    const std::uint64_t old = word;
    word = old | (std::uint64_t{1} << (fd & 63));
    return old == 0;
  }
  // Clears fd's bit at the bottom; returns true when its word turned empty,
  // in which case `mark(fd, false)` must follow.
  bool erase_bit(unsigned fd) noexcept {
    std::uint64_t& word = words_.get()[fd >> 6];
    word &= ~(std::uint64_t{1} << (fd & 63));
    return word == 0;
  }
  // Records in the levels above the bottom that fd's word turned non-empty
  // (or empty).
  void mark(unsigned fd, bool non_empty) noexcept;
  // The smallest member that is >= `from` (with `from >= 0`), or -1.
  int next(int from) const noexcept {
    if (from >= domain_) return -1;
    const std::uint64_t* words = words_.get();
    std::size_t i = static_cast<std::size_t>(from);
    int level = 0;
    // Climb until a word holds a set bit at or after position i.
    for (;;) {
      const std::uint64_t word =
          words[offset_[level] + (i >> 6)] & (~std::uint64_t{0} << (i & 63));
      if (word != 0) {
        i = (i & ~std::size_t{63}) | static_cast<std::size_t>(__builtin_ctzll(word));
        break;
      }
      if (level + 1 == depth_) return -1;
      i = (i >> 6) + 1;  // the next word of this level, as a bit one level up
      if (i >= offset_[level + 1] - offset_[level]) return -1;
      ++level;
    }
    // Descend along the lowest set bits: every set bit above level 0 marks a
    // non-empty word below it.
    while (level > 0) {
      --level;
      const std::uint64_t word = words[offset_[level] + i];
      i = (i << 6) | static_cast<std::size_t>(__builtin_ctzll(word));
    }
    return static_cast<int>(i);
  }
  // Checks that every upper bit is set exactly when its word below is
  // non-empty; returns the number of members, or -1 when that fails.
  long check() const noexcept;

 private:

  // Levels needed for 2^31 fds: 64^6 > 2^31.
  static constexpr int kMaxDepth = 6;

  std::unique_ptr<std::uint64_t[], FreeDeleter> words_;
  // offset_[level] is where the level's words start in words_;
  // offset_[depth_] is the total number of words.
  std::size_t offset_[kMaxDepth + 1] = {};
  int depth_ = 0;
  int domain_ = 0;
};

}  // namespace detail

// Epoll
//
// One epoll instance and the table that mirrors it. Move-only; the
// destructor closes the instance. See the file comment for the model.
class Epoll {
 public:
  // Flags
  //
  // A set of epoll event bits: a small value type, with constexpr set
  // operations. The bit values are the kernel's (`in.bits() == EPOLLIN`).
  // `in`, `out`, `pri` and `rdhup` ask for readiness; `err` and `hup` are
  // always reported by the kernel, asked for or not; `et`, `oneshot`,
  // `wakeup` and `exclusive` change how the fd is watched.
  class Flags {
   public:
    // The empty set.
    constexpr Flags() noexcept = default;

    // Core's flags: readable, writable, urgent data, error, hang-up,
    // edge-triggered, one-shot (disarmed after one event until `set` again).
    static const Flags none, in, out, pri, err, hup, et, oneshot;
    // Beyond Core: peer closed its writing half (EPOLLRDHUP), keep the
    // system awake while the event is handled (EPOLLWAKEUP, needs
    // CAP_BLOCK_SUSPEND), wake only one of several epoll sets waiting on the
    // same fd (EPOLLEXCLUSIVE, valid only when the fd is added).
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
    // EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP |
    // EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET.
    static constexpr std::uint32_t kKnownBits = 0xf000201fU;

    std::uint32_t bits_ = 0;
  };

  // Timeout
  //
  // How long `wait` may block. `after` has the kernel's granularity of one
  // millisecond and rounds a positive span up to the next millisecond (1 µs
  // waits 1 ms, 1.2 ms waits 2 ms); `after_precise` keeps nanoseconds where
  // the kernel has `epoll_pwait2`. A span of zero or less is `immediately`;
  // a span beyond what the kernel takes is clamped, never wrapped.
  class Timeout {
   public:
    // Block until an event arrives.
    static Timeout never() noexcept { return Timeout(Kind::never, 0); }
    // Poll: return at once.
    static Timeout immediately() noexcept { return Timeout(Kind::immediately, 0); }
    // Block at most `span`, rounded up to whole milliseconds.
    static Timeout after(std::chrono::nanoseconds span) noexcept {
      return span.count() <= 0 ? immediately() : Timeout(Kind::millis, span.count());
    }
    // Block at most `span`, to the nanosecond where the kernel has
    // `epoll_pwait2` (Linux 5.11+); elsewhere (older kernels, valgrind) as
    // `after`. Which of the two applies is found out at run time, once.
    static Timeout after_precise(std::chrono::nanoseconds span) noexcept {
      return span.count() <= 0 ? immediately() : Timeout(Kind::nanos, span.count());
    }

   private:
    friend class Epoll;
    enum class Kind : std::uint8_t { never, immediately, millis, nanos };
    constexpr Timeout(Kind kind, std::int64_t span_ns) noexcept : kind_(kind), span_ns_(span_ns) {}

    Kind kind_;
    std::int64_t span_ns_;  // > 0 for millis and nanos
  };

  // What `wait` saw: at least one event (`ok`), the timeout passed with no
  // event (`timeout`), or a signal arrived during `pwait` (`interrupted`).
  enum class WaitResult { ok, timeout, interrupted };

  // One event of the ready set: the fd and the flags the kernel reported.
  struct ReadyEvent {
    int fd;
    Flags flags;
    friend bool operator==(const ReadyEvent&, const ReadyEvent&) = default;
  };

  // ReadyRange
  //
  // The ready set of the last `wait` as a range of `ReadyEvent` values, for
  // `for (auto [fd, flags] : ep.ready())`. It views the `Epoll`'s event
  // buffer, so the next `wait` or `clear_ready` invalidates it.
  class ReadyRange {
   public:
    // A random-access iterator yielding `ReadyEvent` by value.
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
      ReadyEvent operator*() const noexcept { return to_ready(*event_); }
      pointer operator->() const noexcept { return pointer{to_ready(*event_)}; }
      ReadyEvent operator[](difference_type n) const noexcept { return to_ready(event_[n]); }
      iterator& operator++() noexcept { ++event_; return *this; }
      iterator operator++(int) noexcept { iterator old = *this; ++event_; return old; }
      iterator& operator--() noexcept { --event_; return *this; }
      iterator operator--(int) noexcept { iterator old = *this; --event_; return old; }
      iterator& operator+=(difference_type n) noexcept { event_ += n; return *this; }
      iterator& operator-=(difference_type n) noexcept { event_ -= n; return *this; }
      friend iterator operator+(iterator it, difference_type n) noexcept { return it += n; }
      friend iterator operator+(difference_type n, iterator it) noexcept { return it += n; }
      friend iterator operator-(iterator it, difference_type n) noexcept { return it -= n; }
      friend difference_type operator-(iterator a, iterator b) noexcept { return a.event_ - b.event_; }
      friend bool operator==(iterator a, iterator b) noexcept = default;
      friend auto operator<=>(iterator a, iterator b) noexcept = default;

     private:
      friend class ReadyRange;
      explicit iterator(const detail::KernelEvent* event) noexcept : event_(event) {}
      const detail::KernelEvent* event_ = nullptr;
    };

    iterator begin() const noexcept { return iterator(first_); }
    iterator end() const noexcept { return iterator(first_ + size_); }
    std::size_t size() const noexcept { return static_cast<std::size_t>(size_); }
    bool empty() const noexcept { return size_ == 0; }
    ReadyEvent operator[](std::size_t i) const noexcept { return to_ready(first_[i]); }

   private:
    friend class Epoll;
    ReadyRange(const detail::KernelEvent* first, int size) noexcept : first_(first), size_(size) {}
    const detail::KernelEvent* first_;
    int size_;
  };

  // create num_file_descrs max_ready_events
  //
  // Makes an epoll instance (with EPOLL_CLOEXEC) whose table covers the fds
  // `[0, num_file_descrs)` and whose `wait` returns at most
  // `max_ready_events` events, and allocates everything the `Epoll` will
  // ever need. The table's pages are zeroed lazily by the system, so a large
  // domain is cheap until used; it costs about 4.1 bytes per fd slot and
  // 12 bytes per ready event.
  //
  // Errors are returned, never thrown: `std::errc::invalid_argument` for
  // `num_file_descrs < 0`, `max_ready_events <= 0` or
  // `max_ready_events > INT_MAX / sizeof(epoll_event)`; the errno of
  // `epoll_create1` when it fails (EMFILE, ENFILE, ENOMEM); ENOMEM when the
  // table cannot be allocated.
  static OrError<Epoll> create(int num_file_descrs, int max_ready_events);

  // Takes over `other`'s instance, table and ready set; `other` is closed.
  Epoll(Epoll&& other) noexcept;
  // Closes this instance, then takes over `other`'s; `other` is closed.
  Epoll& operator=(Epoll&& other) noexcept;
  Epoll(const Epoll&) = delete;
  Epoll& operator=(const Epoll&) = delete;
  // Closes the instance; never throws.
  ~Epoll();

  // Closes the epoll fd and empties the table and the ready set. Idempotent.
  // The kernel releases the fd even when close(2) fails; such a failure
  // (EIO) is thrown as `std::system_error` after the set is closed. EINTR is
  // not a failure.
  void close();
  // True after `close`, and for a moved-from `Epoll`.
  bool is_closed() const noexcept { return epoll_fd_ < 0; }
  // The epoll file descriptor itself, e.g. to watch this set from another
  // loop. Do not close it: use `close()`.
  int fd() const;

  // Checks the object's own consistency: the table's membership structure
  // and counts, the ready-set count. Throws `std::logic_error` naming what
  // is wrong. A closed `Epoll` passes. O(num_file_descrs).
  void invariant() const;
  // Reads the kernel's view of this epoll set from
  // `/proc/self/fdinfo/<epoll fd>` and throws `std::logic_error` listing,
  // one per line, every fd where the table and the kernel disagree: an fd in
  // one and not the other, different flags, an fd closed while still in the
  // set (also when a duplicate keeps the kernel's entry alive, or the number
  // now names another file). The kernel's own `err`/`hup` bits, a fired
  // `oneshot` entry (disarmed by the kernel) and `wakeup` dropped for want
  // of CAP_BLOCK_SUSPEND are not disagreements. Allocates; a debugging aid.
  void check_against_kernel() const;

  // find fd
  //
  // The flags `fd` is watched for, or `std::nullopt` when it is not in the
  // set. Constant time, no allocation. Throws `std::out_of_range` when `fd`
  // is outside `[0, num_file_descrs)`.
  std::optional<Flags> find(int fd) const {
    check_fd(fd, "find");
    const std::uint32_t slot = slots_[static_cast<std::size_t>(fd)];
    if (slot == kAbsent) return std::nullopt;
    return from_slot(slot);
  }
  // As `find`, but throws `std::out_of_range` ("fd 7 is not in the epoll
  // set") when `fd` is not in the set.
  Flags find_exn(int fd) const;

  // set fd flags
  //
  // Watches `fd` for `flags`: EPOLL_CTL_ADD when `fd` is not in the set,
  // EPOLL_CTL_MOD when it is (`data.fd` is `fd`). The kernel goes first: if
  // it refuses (EBADF for a closed fd, EPERM for a regular file, EINVAL for
  // the epoll fd itself, ENOSPC past max_user_watches, ENOMEM...) this throws
  // `std::system_error` with that errno and nothing changes. When `fd` is in
  // the set with the same flags and they hold neither `et` nor `oneshot`, no
  // system call is made: nothing would change (a MOD re-arms `et` and
  // `oneshot`, so those always go to the kernel). `exclusive` is only valid
  // when `fd` is added: `set` on an fd already in the set with flags holding
  // `exclusive` throws `std::system_error(EINVAL)` and changes nothing.
  // Throws `std::out_of_range` for an fd outside the domain, before any
  // system call. Assumes `fd` stays open while it is in the set: `remove`
  // it before closing it. Inline, one system call at most, no allocation but
  // on error.
  LINUX_EXT_HOT void set(int fd, Flags flags) {
    check_fd(fd, "set");
    const unsigned i = static_cast<unsigned>(fd);
    const std::uint32_t old = slots_[i];
    if (old == kAbsent) {
      kernel_change(detail::kCtlAdd, fd, flags);
      slots_[i] = to_slot(flags);
      ++size_;
      if (present_.insert_bit(i)) present_.mark(i, true);
      return;
    }
    if (flags.do_intersect(Flags::exclusive)) throw_exclusive_on_modify(fd, flags);
    // A MOD re-arms et and oneshot entries; for others it changes nothing.
    if (old == to_slot(flags) && !flags.do_intersect(Flags::et + Flags::oneshot)) return;
    kernel_change(detail::kCtlMod, fd, flags);
    slots_[i] = to_slot(flags);
  }

  // remove fd
  //
  // Stops watching `fd`; does nothing when it is not in the set. The entry
  // leaves the table, then EPOLL_CTL_DEL runs; if that fails (EBADF: the fd
  // was closed, and the kernel has already forgotten it) this throws
  // `std::system_error` and the entry stays removed. Throws
  // `std::out_of_range` for an fd outside the domain.
  LINUX_EXT_HOT void remove(int fd) {
    check_fd(fd, "remove");
    const unsigned i = static_cast<unsigned>(fd);
    if (slots_[i] == kAbsent) return;
    // The entry leaves the table first: if DEL fails the fd was closed, and
    // the kernel has already dropped it.
    slots_[i] = kAbsent;
    --size_;
    if (present_.erase_bit(i)) present_.mark(i, false);
    kernel_change(detail::kCtlDel, fd, Flags::none);
  }

  // Calls `f(fd, flags)` for every fd in the set, in ascending fd order.
  // Costs what the set holds, not the domain. `f` may change the table:
  // an fd is visited when the walk reaches it and it is in the set then.
  template <class F>
  void iter(F&& f) const {
    check_open("iter");
    for (int fd = present_.next(0); fd >= 0; fd = present_.next(fd + 1)) {
      f(fd, from_slot(slots_[static_cast<std::size_t>(fd)]));
    }
  }
  // `acc = f(fd, flags, acc)` over the set in ascending fd order, starting
  // from `init`; returns the final `acc`.
  template <class A, class F>
  A fold(A init, F&& f) const {
    iter([&](int fd, Flags flags) { init = f(fd, flags, std::move(init)); });
    return init;
  }
  // The number of fds in the set. Constant time; 0 when closed.
  std::size_t size() const noexcept { return size_; }
  // The size of the domain `[0, num_file_descrs)`.
  int num_file_descrs() const noexcept { return num_file_descrs_; }
  // The most events one `wait` returns.
  int max_ready_events() const noexcept { return max_ready_events_; }

  // wait timeout
  //
  // Blocks until at least one fd in the set is ready for an event it is
  // watched for (`ok`), or until `timeout` passes (`timeout`), and replaces
  // the ready set with what the kernel returned (at most
  // `max_ready_events`). A timed wait never returns `timeout` before its
  // span has passed. A signal (EINTR) does not end the wait: it goes on for
  // the time that is left, so `interrupted` is never returned. Any other
  // failure throws `std::system_error` with the ready set empty. One system
  // call when nothing interrupts it; the clock is read only for a timed
  // wait. No allocation.
  LINUX_EXT_HOT WaitResult wait(Timeout timeout) {
    // A poll or an unbounded wait is one system call, inline; the kind is
    // known at compile time where the Timeout is made at the call site.
    if (timeout.kind_ <= Timeout::Kind::immediately && !is_closed()) {
      const int n = detail::epoll_wait(epoll_fd_, events_.get(), max_ready_events_,
                                       timeout.kind_ == Timeout::Kind::never ? -1 : 0);
      if (n >= 0) {
        num_ready_ = n;
        return n == 0 ? WaitResult::timeout : WaitResult::ok;
      }
      return wait_failed(timeout);
    }
    return wait_with(timeout, nullptr);
  }
  // Same as `wait(Timeout::after(span))`.
  WaitResult wait_timeout_after(std::chrono::nanoseconds span) {
    return wait(Timeout::after(span));
  }
  // As `wait`, with the signal mask `mask` installed atomically for the
  // duration of the wait (epoll_pwait / epoll_pwait2), and a signal ends
  // the wait: the result is then `interrupted`, with the ready set empty.
  WaitResult pwait(Timeout timeout, const sigset_t& mask);

  // Calls `f(fd, flags)` for every event of the last `wait`, in the order
  // the kernel returned them; `flags` is what the kernel reported, which can
  // hold `err` and `hup` though they were not asked for. `f` may change the
  // table; the walk goes on over the events of that `wait`. No allocation.
  template <class F>
  void iter_ready(F&& f) const {
    const int n = num_ready_;
    // A closed set has no ready events, so only an empty walk must check.
    if (n == 0) check_open("iter_ready");
    const detail::KernelEvent* events = events_.get();
    for (int i = 0; i < n; ++i) f(events[i].data.fd, Flags::of_bits(events[i].events));
  }
  // `acc = f(acc, fd, flags)` over the ready set, in the order of
  // `iter_ready`, starting from `init`; returns the final `acc`.
  template <class A, class F>
  A fold_ready(A init, F&& f) const {
    iter_ready([&](int fd, Flags flags) { init = f(std::move(init), fd, flags); });
    return init;
  }
  // The number of events in the ready set; 0 when closed.
  int num_ready() const noexcept { return num_ready_; }
  // The ready set as a range of `ReadyEvent`, in the order of `iter_ready`.
  ReadyRange ready() const {
    if (num_ready_ == 0) check_open("ready");  // as in iter_ready
    return ReadyRange(events_.get(), num_ready_);
  }
  // Empties the ready set (Core's `Expert.clear_ready`); does nothing when
  // closed.
  void clear_ready() noexcept { num_ready_ = 0; }

  // The whole object as one line: `Closed`, or
  // `((epollfd 3) (flags_by_fd ((5 (in)) (6 (in out)))) (max_ready_events 256)
  //   (num_ready_events 1) (ready_events (((file_descr 5) (flags (in))))))`
  // with the table in ascending fd order. Allocates.
  std::string to_sexp() const;

 private:
  Epoll(int epoll_fd, int num_file_descrs, int max_ready_events) noexcept;

  static ReadyEvent to_ready(const detail::KernelEvent& event) noexcept {
    return ReadyEvent{event.data.fd, Flags::of_bits(event.events)};
  }
  // A table slot holds the complement of an fd's flags, so that the zero
  // pages `calloc` hands out read as absent. No entry can hold all 32 bits:
  // the kernel refuses `exclusive` with `oneshot`.
  static constexpr std::uint32_t kAbsent = 0;
  static constexpr std::uint32_t to_slot(Flags flags) noexcept { return ~flags.bits(); }
  static constexpr Flags from_slot(std::uint32_t slot) noexcept { return Flags::of_bits(~slot); }

  // Throws `std::logic_error` when closed; `operation` names the caller.
  void check_open(const char* operation) const {
    if (is_closed()) throw_closed(operation);
  }
  // Throws `std::logic_error` when closed, `std::out_of_range` when `fd` is
  // outside the domain. One comparison: a closed set's domain is empty.
  void check_fd(int fd, const char* operation) const {
    if (static_cast<unsigned>(fd) >= static_cast<unsigned>(present_.domain())) throw_bad_fd(fd, operation);
  }
  [[noreturn]] static void throw_closed(const char* operation);
  [[noreturn]] void throw_bad_fd(int fd, const char* operation) const;
  [[noreturn]] void throw_exclusive_on_modify(int fd, Flags flags) const;
  // epoll_ctl of `fd` with `flags` and `data.fd == fd`; throws the kernel's
  // errno.
  LINUX_EXT_HOT void kernel_change(detail::CtlOp op, int fd, Flags flags) const {
    detail::KernelEvent event;
    event.events = flags.bits();
    // data.fd == fd and the rest zero, in one store.
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    event.data.u64 = std::uint64_t{static_cast<std::uint32_t>(fd)} << 32;
#else
    event.data.u64 = static_cast<std::uint32_t>(fd);
#endif
    if (detail::epoll_ctl(epoll_fd_, op, fd, &event) != 0) throw_ctl_error(op, fd, flags);
  }
  // Throws the errno of a failed epoll_ctl.
  [[noreturn]] static void throw_ctl_error(detail::CtlOp op, int fd, Flags flags);
  // After the inline epoll_wait of `wait` failed: retries on EINTR, throws
  // otherwise.
  WaitResult wait_failed(Timeout timeout);
  // The whole wait loop behind `pwait` and timed `wait`s: deadlines,
  // epoll_pwait2 and its fallback, EINTR.
  WaitResult wait_with(Timeout timeout, const sigset_t* mask);
  // Releases everything; the object is then closed.
  void release() noexcept;

  int epoll_fd_ = -1;
  int num_file_descrs_ = 0;
  int max_ready_events_ = 0;
  int num_ready_ = 0;
  std::size_t size_ = 0;
  // slots_[fd]: `to_slot` of fd's flags, or kAbsent.
  std::unique_ptr<std::uint32_t[], detail::FreeDeleter> slots_;
  // The fds whose slot is not kAbsent, for walking the table in order.
  detail::FdBitmap present_;
  std::unique_ptr<detail::KernelEvent[], detail::FreeDeleter> events_;
};

inline constexpr Epoll::Flags Epoll::Flags::none = Epoll::Flags::of_bits(0);
inline constexpr Epoll::Flags Epoll::Flags::in = Epoll::Flags::of_bits(0x001U);
inline constexpr Epoll::Flags Epoll::Flags::out = Epoll::Flags::of_bits(0x004U);
inline constexpr Epoll::Flags Epoll::Flags::pri = Epoll::Flags::of_bits(0x002U);
inline constexpr Epoll::Flags Epoll::Flags::err = Epoll::Flags::of_bits(0x008U);
inline constexpr Epoll::Flags Epoll::Flags::hup = Epoll::Flags::of_bits(0x010U);
inline constexpr Epoll::Flags Epoll::Flags::et = Epoll::Flags::of_bits(1U << 31);
inline constexpr Epoll::Flags Epoll::Flags::oneshot = Epoll::Flags::of_bits(1U << 30);
inline constexpr Epoll::Flags Epoll::Flags::rdhup = Epoll::Flags::of_bits(0x2000U);
inline constexpr Epoll::Flags Epoll::Flags::wakeup = Epoll::Flags::of_bits(1U << 29);
inline constexpr Epoll::Flags Epoll::Flags::exclusive = Epoll::Flags::of_bits(1U << 28);

// Prints `flags.to_string()`.
std::ostream& operator<<(std::ostream& out, Epoll::Flags flags);
// Prints `epoll.to_sexp()`.
std::ostream& operator<<(std::ostream& out, const Epoll& epoll);

}  // namespace linux_ext

#undef LINUX_EXT_HOT

#endif  // LINUX_EXT_EPOLL_H_

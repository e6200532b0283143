// linux_ext/detail/epoll_inline.h — the bodies of Epoll's templates, and of
// set, remove and wait.
//
// Not API: included at the end of linux_ext/epoll.h. `set`, `remove` and
// `wait` are forced inline into their callers because a call frame (the
// call, and the registers saved across the system call) costs as much as
// the rest of their work: it is what keeps "instructions per set/remove"
// and "per wait" in `make bench` near raw epoll's. Their rare paths (errors,
// signals, precise timeouts, changes while the table is walked) are out of
// line in src/table.cc and src/wait.cc.
//
// A walk keeps no record on the `Epoll`: it compares an epoch after each
// callback, and a walk of the table counts itself in `table_walks_`, so that
// `remove` leaves the entries it walks in place until the last walk ends.

#ifndef LINUX_EXT_DETAIL_EPOLL_INLINE_H_
#define LINUX_EXT_DETAIL_EPOLL_INLINE_H_

#include <utility>

namespace linux_ext {

[[gnu::always_inline]] inline void Epoll::set(int fd, Flags flags) {
  check_change(fd, "set");
  Slot& slot = slots_[static_cast<std::uint32_t>(fd)];
  const std::int32_t entry = slot.entry;
  if (entry <= 0) {
    if (entry != 0) [[unlikely]] {
      add_reviving(fd, flags);
      return;
    }
    kernel_change("set", EPOLL_CTL_ADD, fd, flags);
    slot.events = flags.bits();
    // A new entry goes after every entry a walk in progress will visit.
    const std::uint32_t added = num_entries_;
    members_[added] = fd;
    slot.entry = static_cast<std::int32_t>(added + 1);
    num_entries_ = added + 1;
    return;
  }
  if (flags.do_intersect(Flags::exclusive)) throw_exclusive_on_modify(fd, flags);
  // A MOD re-arms et and oneshot entries; for others it would change nothing.
  if (slot.events == flags.bits() && !flags.do_intersect(Flags::et + Flags::oneshot)) return;
  kernel_change("set", EPOLL_CTL_MOD, fd, flags);
  slot.events = flags.bits();
}

[[gnu::always_inline]] inline void Epoll::remove(int fd) {
  check_change(fd, "remove");
  if (slots_[static_cast<std::uint32_t>(fd)].entry <= 0) return;
  // The entry leaves the table first: if DEL fails the fd was closed, and
  // the kernel has already dropped it.
  remove_entry(fd);
  kernel_change("remove", EPOLL_CTL_DEL, fd, Flags::none);
}

[[gnu::always_inline]] inline void Epoll::remove_entry(int fd) noexcept {
  if (table_walks_ != 0) [[unlikely]] {
    remove_entry_during_walks(fd);
    return;
  }
  // The last entry fills the gap.
  Slot& slot = slots_[static_cast<std::uint32_t>(fd)];
  const std::int32_t entry = slot.entry;
  const std::uint32_t last_entry = num_entries_ - 1;
  const int last = members_[last_entry];
  members_[static_cast<std::uint32_t>(entry) - 1] = last;
  slots_[static_cast<std::uint32_t>(last)].entry = entry;
  slot.entry = 0;
  num_entries_ = last_entry;
}

[[gnu::always_inline]] inline void Epoll::kernel_change(const char* operation, int op, int fd,
                                                        Flags flags) const {
  epoll_event event;
  event.events = flags.bits();
  event.data.u64 = static_cast<std::uint32_t>(fd);  // data.fd == fd, the rest zero
  if (detail::call(detail::Syscall::epoll_ctl, [&] { return ::epoll_ctl(epoll_fd_, op, fd, &event); }) != 0)
      [[unlikely]] {
    throw_ctl_error(operation, op, fd, flags);
  }
}

[[gnu::always_inline]] inline Epoll::WaitResult Epoll::wait(Timeout timeout) {
  return wait_inline("wait", timeout);
}

template <class Rep, class Period>
Epoll::WaitResult Epoll::wait_timeout_after(std::chrono::duration<Rep, Period> span) {
  return wait_inline("wait_timeout_after", Timeout::after(span));
}

[[gnu::always_inline]] inline Epoll::WaitResult Epoll::wait_inline(const char* operation, Timeout timeout) {
  // A poll, an unbounded wait or a wait of whole milliseconds: one
  // epoll_wait, and for a timed wait the clock read that lets a signal be
  // followed by a wait for the time that is left. Precise timeouts, a
  // closed set, one inherited through fork(2) (and one made for no fd: the
  // same comparison) take the whole loop.
  if (timeout.kind_ == Timeout::Kind::nanos || !may_change(0)) [[unlikely]] {
    return wait_with(operation, timeout, nullptr);
  }
  // The buffer is about to be rewritten: walks and ranges of it end.
  ++ready_epoch_;
  std::int64_t started_ns = 0;
  if (timeout.kind_ == Timeout::Kind::millis) {
    started_ns = detail::monotonic_now_ns();
    if (started_ns < 0) [[unlikely]] {
      set_ready(0);
      throw_wait_error(operation, "clock_gettime", errno);
    }
  }
  const int n = detail::call(detail::Syscall::epoll_wait, [&] {
    return ::epoll_wait(epoll_fd_, events_.get(), max_ready_events_, timeout.millis_);
  });
  if (n > 0) [[likely]] {
    set_ready(n);
    return WaitResult::ok;
  }
  set_ready(0);
  if (n == 0 && !timeout.is_cut()) return WaitResult::timeout;
  if (n < 0 && errno != EINTR) throw_wait_error(operation, "epoll_wait", errno);
  // A signal, or a cut span ran out: go on for the time that is left.
  return wait_with(operation, timeout, nullptr, started_ns);
}

template <class F>
void Epoll::walk_table(const char* operation, F&& f) const {
  check_open(operation);
  // Counts the walk while it runs, also when `f` throws; the last walk to
  // end tidies the table.
  struct Counted {
    const Epoll& epoll;
    explicit Counted(const Epoll& e) noexcept : epoll(e) { ++e.table_walks_; }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    ~Counted() {
      if (--epoll.table_walks_ == 0) epoll.tidy_table();
    }
  } counted(*this);
  const std::uint32_t began = walk_clock_++;
  const std::uint64_t epoch = table_epoch_;
  const std::uint32_t num_entries = num_entries_;
  for (std::uint32_t i = 0; i < num_entries; ++i) {
    const int fd = members_[i];
    const Slot& slot = slots_[static_cast<std::size_t>(fd)];
    // In the set, and not revived since the walk began.
    if (slot.entry <= 0 || since_[static_cast<std::size_t>(fd)] > began) continue;
    f(fd, Flags::of_bits(slot.events));
    if (table_epoch_ != epoch) return;  // closed, resized or moved
  }
}

template <class F>
void Epoll::iter(F&& f) const {
  walk_table("iter", f);
}

template <class A, class F>
A Epoll::fold(A init, F&& f) const {
  walk_table("fold", [&](int fd, Flags flags) { init = f(fd, flags, std::move(init)); });
  return init;
}

// Forced inline, with iter_ready: a call frame around the walk would weigh
// on "instructions per wait" in `make bench` as much as the walk itself.
template <class F>
[[gnu::always_inline]] inline void Epoll::walk_ready(const char* operation, F&& f) const {
  // A closed set has no ready events, so only an empty walk must check.
  if (num_ready_ == 0) {
    check_open(operation);
    return;
  }
  const std::uint64_t epoch = ready_epoch_;
  const epoll_event* event = events_.get() + (ready_end_ - num_ready_);
  const epoll_event* const end = events_.get() + ready_end_;
  do {
    f(event->data.fd, Flags::of_bits(event->events));
  } while (++event != end && ready_epoch_ == epoch);
}

template <class F>
[[gnu::always_inline]] inline void Epoll::iter_ready(F&& f) const {
  walk_ready("iter_ready", f);
}

template <class A, class F>
A Epoll::fold_ready(A init, F&& f) const {
  walk_ready("fold_ready", [&](int fd, Flags flags) { init = f(std::move(init), fd, flags); });
  return init;
}

inline Epoll::ReadyRange Epoll::ready() const {
  if (num_ready_ == 0) check_open("ready");
  return ReadyRange(*this);
}

}  // namespace linux_ext

#endif  // LINUX_EXT_DETAIL_EPOLL_INLINE_H_

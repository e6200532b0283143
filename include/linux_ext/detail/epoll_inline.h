// linux_ext/detail/epoll_inline.h — the bodies of Epoll's templates, and of
// set, remove and wait.
//
// Not API: included at the end of linux_ext/epoll.h. `set`, `remove` and
// `wait` are forced inline into their callers because a call frame (the
// call, and the registers saved across the system call) costs as much as
// the rest of their work: it is what keeps "instructions per set/remove"
// within raw + 15 in `make bench`. Their rare paths (errors, signals, walks
// in progress, precise timeouts) are out of line in src/table.cc and
// src/wait.cc.
//
// Each walk registers a record (detail/walks.h) and reads the `Epoll` afresh
// after each callback, so that the callback may change or close the set.

#ifndef LINUX_EXT_DETAIL_EPOLL_INLINE_H_
#define LINUX_EXT_DETAIL_EPOLL_INLINE_H_

#include <utility>

namespace linux_ext {

[[gnu::always_inline]] inline void Epoll::set(int fd, Flags flags) {
  check_change(fd, "set");
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.position == 0) {
    kernel_change("set", EPOLL_CTL_ADD, fd, flags);
    slot.events = flags.bits();
    members_[size_] = fd;
    slot.position = static_cast<std::uint32_t>(++size_);
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
  Slot& slot = slots_[static_cast<std::size_t>(fd)];
  if (slot.position == 0) return;
  // The entry leaves the table first: if DEL fails the fd was closed, and
  // the kernel has already dropped it. The last member fills its place.
  if (table_walks_ != nullptr) [[unlikely]] {
    remove_member_during_walks(fd);
  } else {
    const int last = members_[--size_];
    members_[slot.position - 1] = last;
    slots_[static_cast<std::size_t>(last)].position = slot.position;
    slot.position = 0;
  }
  kernel_change("remove", EPOLL_CTL_DEL, fd, Flags::none);
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

inline Epoll::WaitResult Epoll::wait_timeout_after(std::chrono::nanoseconds span) {
  return wait_inline("wait_timeout_after", Timeout::after(span));
}

[[gnu::always_inline]] inline Epoll::WaitResult Epoll::wait_inline(const char* operation, Timeout timeout) {
  // A poll, an unbounded wait or a wait of whole milliseconds: one
  // epoll_wait, and for a timed wait the clock read that lets a signal be
  // followed by a wait for the time that is left. Precise timeouts, an
  // empty domain (a closed set, one inherited through fork(2), or one made
  // for no fd) and walks to stop take the whole loop.
  if (timeout.kind_ == Timeout::Kind::nanos || domain_ == 0 || ready_walks_ != nullptr) [[unlikely]] {
    return wait_with(operation, timeout, nullptr);
  }
  std::int64_t started_ns = 0;
  if (timeout.kind_ == Timeout::Kind::millis) {
    started_ns = detail::monotonic_now_ns();
    if (started_ns < 0) [[unlikely]] {
      num_ready_ = 0;
      throw_wait_error(operation, "clock_gettime", errno);
    }
  }
  const int n = detail::call(detail::Syscall::epoll_wait, [&] {
    return ::epoll_wait(epoll_fd_, events_.get(), max_ready_events_, timeout.millis_);
  });
  if (n > 0) [[likely]] {
    num_ready_ = n;
    return WaitResult::ok;
  }
  num_ready_ = 0;
  if (n == 0 && !timeout.is_cut()) return WaitResult::timeout;
  if (n < 0 && errno != EINTR) throw_wait_error(operation, "epoll_wait", errno);
  // A signal, or a cut span ran out: go on for the time that is left.
  return wait_with(operation, timeout, nullptr, started_ns);
}

template <class F>
void Epoll::walk_table(const char* operation, F&& f) const {
  check_open(operation);
  TableWalk walk{size_, nullptr};
  detail::WalkGuard guard(table_walks_, walk);
  while (walk.unvisited > 0) {
    const int fd = members_[--walk.unvisited];
    f(fd, Flags::of_bits(slots_[static_cast<std::size_t>(fd)].events));
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
// on "instructions per wait" in `make bench` as much as the walk's own
// bookkeeping.
template <class F>
[[gnu::always_inline]] inline void Epoll::walk_ready(const char* operation, F&& f) const {
  // A closed set has no ready events, so only an empty walk must check.
  if (num_ready_ == 0) {
    check_open(operation);
    return;
  }
  const epoll_event* event = events_.get();
  ReadyWalk walk{event + num_ready_, nullptr};
  detail::WalkGuard guard(ready_walks_, walk);
  for (; event < walk.end; ++event) f(event->data.fd, Flags::of_bits(event->events));
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

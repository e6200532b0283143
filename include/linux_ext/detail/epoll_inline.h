// linux_ext/detail/epoll_inline.h — the bodies of Epoll's member templates.
//
// Not API: included at the end of linux_ext/epoll.h. Each walk registers a
// record (detail/walks.h) and reads the `Epoll` afresh after each callback,
// so that the callback may change or close the set under it.

#ifndef LINUX_EXT_DETAIL_EPOLL_INLINE_H_
#define LINUX_EXT_DETAIL_EPOLL_INLINE_H_

#include <utility>

namespace linux_ext {

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

template <class F>
void Epoll::walk_ready(const char* operation, F&& f) const {
  // A closed set has no ready events, so only an empty walk must check.
  if (num_ready_ == 0) {
    check_open(operation);
    return;
  }
  const epoll_event* event = events_.get();
  ReadyWalk walk{event, event + num_ready_, nullptr};
  detail::WalkGuard guard(ready_walks_, walk);
  for (; event < walk.end; ++event) f(event->data.fd, Flags::of_bits(event->events));
}

template <class F>
void Epoll::iter_ready(F&& f) const {
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

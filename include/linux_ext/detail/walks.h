// linux_ext/detail/walks.h — the records of walks in progress over an Epoll.
//
// Not API. A walk (`iter`, `fold`, `iter_ready`, `fold_ready`, a
// `ReadyRange`) registers a record on its `Epoll` for its duration, in a
// list from the innermost walk outwards. Whatever its callback then does to
// the `Epoll` (remove an fd, wait, close, move it away) updates the record,
// so the walk goes on over what it started with or stops, and never reads
// memory that was freed or rewritten under it.

#ifndef LINUX_EXT_DETAIL_WALKS_H_
#define LINUX_EXT_DETAIL_WALKS_H_

#include <sys/epoll.h>

#include <cstddef>
#include <cstdlib>

namespace linux_ext::detail {

// A walk of the table: the fds it has yet to visit are the first
// `unvisited` of the table's member array. It visits from the end down.
struct TableWalk {
  std::size_t unvisited;
  TableWalk* outer;
};

// A walk of the ready set: it goes on while its next event is before `end`.
// Every walk of the ready set starts at the start of the event buffer, so
// stopping one sets `end` there.
struct ReadyWalk {
  const epoll_event* end;
  ReadyWalk* outer;
};

// Makes `walk` the innermost of the list at `innermost`. The walk takes
// itself out before it ends, which GCC 12 cannot see once it inlines this.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
template <class Walk>
void register_walk(Walk*& innermost, Walk& walk) noexcept {
  walk.outer = innermost;
  innermost = &walk;
}
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#pragma GCC diagnostic pop
#endif

// Takes `walk` out of the list at `innermost`, where it is usually first
// (a ReadyRange kept outside a loop may end in any order). It may be gone
// already: stopping every walk empties the list.
template <class Walk>
void unregister_walk(Walk*& innermost, Walk& walk) noexcept {
  for (Walk** link = &innermost; *link != nullptr; link = &(*link)->outer) {
    if (*link == &walk) {
      *link = walk.outer;
      return;
    }
  }
}

// Registers a walk for the lifetime of the guard, also when the walk's
// callback throws. Walks made by a callback end before it returns, so the
// guard's walk is the innermost when it ends: it restores the list as it
// found it, without searching it. (A list emptied since, by stopping every
// walk, gets back only walks that are stopped and still in progress.)
template <class Walk>
class WalkGuard {
 public:
  WalkGuard(Walk*& innermost, Walk& walk) noexcept : innermost_(innermost), walk_(walk) {
    register_walk(innermost, walk);
  }
  WalkGuard(const WalkGuard&) = delete;
  WalkGuard& operator=(const WalkGuard&) = delete;
  ~WalkGuard() { innermost_ = walk_.outer; }

 private:
  Walk*& innermost_;
  Walk& walk_;
};

// Frees memory from `std::calloc` and `std::malloc`.
struct FreeDeleter {
  void operator()(void* p) const noexcept { std::free(p); }
};

}  // namespace linux_ext::detail

#endif  // LINUX_EXT_DETAIL_WALKS_H_

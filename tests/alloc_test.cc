// After create, no operation allocates: the global operator new is replaced
// by one that counts, and every operation but the documented exceptions is
// run between two readings of the count.

#include <atomic>
#include <cstdlib>
#include <new>

#include "test_util.h"

namespace {

std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void* counted_alloc(std::size_t size, std::size_t alignment = 0) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                : std::malloc(size);
  return p;
}

}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size); }
void* operator new(std::size_t size, std::align_val_t alignment) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(alignment))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  if (void* p = counted_alloc(size, static_cast<std::size_t>(alignment))) return p;
  throw std::bad_alloc();
}
// These are the allocation functions, so new and free do match; GCC cannot
// tell once it inlines them.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace linux_ext::test {
namespace {

// Counts the allocations `f()` makes.
template <class F>
long allocations_of(F&& f) {
  allocations.store(0);
  counting.store(true);
  f();
  counting.store(false);
  return allocations.load();
}

// Where allocations escape to, so that the optimizer cannot elide them.
int* volatile sink = nullptr;
volatile std::size_t printed_size = 0;

TEST(AllocTest, TheCounterSeesAllocations) {
  // Without this the zero below would prove nothing.
  EXPECT_EQ(allocations_of([] {
              sink = new int(1);
              delete sink;
            }),
            1);
  // A string too long for the small-string buffer, made inside the library.
  EXPECT_GE(allocations_of([] { printed_size = Flags::of_bits(0x40).to_string().size(); }), 1);
}

TEST(AllocTest, NoOperationAllocatesAfterCreate) {
  Epoll ep = make_epoll(4096, 8);
  Pipe p = make_pipe();
  Fd a = make_eventfd();
  Fd b = make_eventfd(1);
  auto [s1, s2] = make_socketpair();
  sigset_t mask;
  sigemptyset(&mask);

  // Results are kept in plain variables and checked after counting stops,
  // since a failing EXPECT allocates.
  WaitResult results[12] = {};
  std::optional<Flags> found;
  Flags found_exn;
  long iterated = 0;
  long walked = 0;
  std::size_t size = 0;
  int ready = 0;

  const long count = allocations_of([&] {
    ep.set(a.get(), Flags::in);
    ep.set(b.get(), Flags::in + Flags::out);
    ep.set(b.get(), Flags::in + Flags::out);  // unchanged: no system call
    ep.set(p.read.get(), Flags::in + Flags::et);
    ep.set(p.write.get(), Flags::out + Flags::oneshot);
    ep.set(s1.get(), Flags::in + Flags::rdhup);
    ep.set(s2.get(), Flags::in + Flags::exclusive);
    ep.set(a.get(), Flags::in + Flags::pri);  // MOD
    found = ep.find(a.get());
    found_exn = ep.find_exn(b.get());
    size = ep.size();
    ep.iter([&](int fd, Flags) { iterated += fd; });
    iterated += ep.fold(0L, [](int fd, Flags, long acc) { return acc + fd; });

    results[0] = ep.wait(Timeout::immediately());
    results[1] = ep.wait(Timeout::never());
    results[2] = ep.wait(Timeout::after(std::chrono::milliseconds(1)));
    results[3] = ep.wait(Timeout::after_precise(std::chrono::microseconds(100)));
    results[4] = ep.wait_timeout_after(std::chrono::milliseconds(1));
    results[5] = ep.pwait(Timeout::immediately(), mask);
    results[6] = ep.pwait(Timeout::after_precise(std::chrono::microseconds(100)), mask);
    ep.iter_ready([&](int fd, Flags) { walked += fd; });
    walked += ep.fold_ready(0L, [](long acc, int fd, Flags) { return acc + fd; });
    for (auto [fd, flags] : ep.ready()) walked += fd + static_cast<long>(flags.bits() & 1);
    ready = ep.num_ready();
    ep.clear_ready();
    ep.invariant();

    // Nothing ready: timed waits that run out.
    ep.remove(b.get());
    ep.remove(p.write.get());
    ep.remove(s1.get());  // writable socket, watched for in: not ready
    results[7] = ep.wait(Timeout::after(std::chrono::microseconds(10)));
    results[8] = ep.wait(Timeout::after_precise(std::chrono::microseconds(10)));
    results[9] = ep.wait(Timeout::immediately());
    ep.remove(a.get());
    ep.remove(a.get());  // absent
    ep.remove(p.read.get());
    ep.remove(s2.get());
    ep.invariant();
  });

  EXPECT_EQ(count, 0);
  EXPECT_EQ(found, Flags::in + Flags::pri);
  EXPECT_EQ(found_exn, Flags::in + Flags::out);
  EXPECT_EQ(size, 6U);
  EXPECT_GT(iterated, 0);
  for (int i = 0; i <= 6; ++i) EXPECT_EQ(results[i], WaitResult::ok) << i;
  for (int i = 7; i <= 9; ++i) EXPECT_EQ(results[i], WaitResult::timeout) << i;
  EXPECT_GT(walked, 0);
  EXPECT_GT(ready, 0);
  EXPECT_EQ(ep.size(), 0U);
  expect_consistent(ep);
}

TEST(AllocTest, CloseAndDestructionDoNotAllocate) {
  std::optional<Epoll> ep(make_epoll(1024, 8));
  Fd a = make_eventfd();
  ep->set(a.get(), Flags::in);
  EXPECT_EQ(allocations_of([&] {
              ep->close();
              ep->close();
              ep.reset();
            }),
            0);
}

}  // namespace
}  // namespace linux_ext::test

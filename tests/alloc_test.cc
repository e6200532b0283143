// After create, no operation allocates: every allocation of the process is
// counted (count_allocations.h), whichever entry point makes it, and every
// operation but the documented exceptions is run between two readings of the
// count.

#include <malloc.h>

#include <cstdlib>

#include "count_allocations.h"
#include "test_util.h"

namespace linux_ext::test {
namespace {

// Counts the allocations `f()` makes.
template <class F>
std::uint64_t allocations_of(F&& f) {
  const std::uint64_t before = allocation_count();
  f();
  return allocation_count() - before;
}

// Where allocations escape to, so that the optimizer cannot elide them.
void* volatile sink = nullptr;
volatile std::size_t printed_size = 0;

// Frees `p`, from the C allocator, once it has escaped.
void escape_and_free(void* p) {
  sink = p;
  std::free(p);
}

// Makes one allocation with an entry point and frees it.
struct Allocator {
  const char* name;
  void (*allocate_once)();
};

const Allocator kAllocators[] = {
    {"operator new",
     [] {
       int* p = new int(1);
       sink = p;
       delete p;
     }},
    {"aligned operator new",
     [] {
       struct alignas(64) Line {
         char bytes[64];
       };
       Line* p = new Line();
       sink = p;
       delete p;
     }},
    {"malloc", [] { escape_and_free(std::malloc(1)); }},
    {"calloc", [] { escape_and_free(std::calloc(1, 1)); }},
    {"realloc", [] { escape_and_free(std::realloc(nullptr, 1)); }},
    {"reallocarray", [] { escape_and_free(::reallocarray(nullptr, 2, 8)); }},
    {"aligned_alloc", [] { escape_and_free(std::aligned_alloc(64, 64)); }},
    {"posix_memalign",
     [] {
       void* p = nullptr;
       if (::posix_memalign(&p, 64, 64) == 0) escape_and_free(p);
     }},
    {"memalign", [] { escape_and_free(::memalign(64, 64)); }},
    {"valloc", [] { escape_and_free(::valloc(1)); }},
    {"pvalloc", [] { escape_and_free(::pvalloc(1)); }},
};

TEST(AllocTest, TheCounterSeesEveryWayToAllocate) {
  // Without these the zeros below would prove nothing.
  for (const Allocator& allocator : kAllocators) {
    EXPECT_EQ(allocations_of(allocator.allocate_once), 1U) << allocator.name;
  }
  // A string too long for the small-string buffer, made inside the library.
  EXPECT_GE(allocations_of([] { printed_size = Flags::of_bits(0x40).to_string().size(); }), 1U);
}

TEST(AllocTest, NoOperationAllocatesAfterCreate) {
  Epoll ep = make_epoll(4096, 8);
  Pipe p = make_pipe();
  Fd a = make_eventfd();
  Fd b = make_eventfd(1);
  // References, not a structured binding: clang before 16 cannot capture a
  // binding in a lambda.
  std::pair<Fd, Fd> sockets = make_socketpair();
  Fd& s1 = sockets.first;
  Fd& s2 = sockets.second;
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

  const std::uint64_t count = allocations_of([&] {
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

  EXPECT_EQ(count, 0U);
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
            0U);
}

}  // namespace
}  // namespace linux_ext::test

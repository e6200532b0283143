// Counts every allocation a program makes, whoever makes it: the library
// (which allocates with calloc), the C++ runtime, glibc itself. Natively, the
// C allocator's entry points are replaced for the whole process by ones that
// count and forward to glibc's own (__libc_malloc and its siblings); operator
// new and its aligned forms reach them through malloc and aligned_alloc.
// Under AddressSanitizer, which replaces those entry points itself, its
// allocation hook counts instead, and sees the same calls.
//
// It defines those entry points: include it in exactly one source file of a
// program.

#ifndef LINUX_EXT_TESTS_COUNT_ALLOCATIONS_H_
#define LINUX_EXT_TESTS_COUNT_ALLOCATIONS_H_

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#if defined(__SANITIZE_ADDRESS__)
#define LINUX_EXT_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LINUX_EXT_TEST_ASAN 1
#endif
#endif

namespace linux_ext::test {

// How many allocations the process has made, from any entry point.
inline std::atomic<std::uint64_t> allocations_made{0};

// How many allocations the process has made so far: the difference of two
// readings counts what ran between them.
inline std::uint64_t allocation_count() { return allocations_made.load(std::memory_order_relaxed); }

}  // namespace linux_ext::test

#ifdef LINUX_EXT_TEST_ASAN

// The sanitizers' hooks, called on each allocation and release of their own
// allocator (<sanitizer/allocator_interface.h>, which GCC does not ship).
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             std::size_t),
                                                         void (*free_hook)(const volatile void*));

namespace linux_ext::test {
namespace {

void count_allocation(const volatile void*, std::size_t) {
  allocations_made.fetch_add(1, std::memory_order_relaxed);
}

// The runtime takes a release hook only together with an allocation hook.
void ignore_release(const volatile void*) {}

// Installed when the program starts, before any test reads the count.
const bool hooks_installed = __sanitizer_install_malloc_and_free_hooks(count_allocation, ignore_release) != 0;

}  // namespace
}  // namespace linux_ext::test

#else

extern "C" {

// glibc's allocator under the names it keeps for those who replace the
// public ones. Memory from them is released by glibc's own free, which is
// left in place.
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);

void* malloc(std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}

void* calloc(std::size_t count, std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}

void* realloc(void* p, std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}

// glibc's reallocarray calls its realloc inside the library, unseen here.
void* reallocarray(void* p, std::size_t count, std::size_t size) noexcept {
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, bytes);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}

// What glibc 2.36's aligned_alloc is: memalign under another name.
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept { return memalign(alignment, size); }

// Checks what memalign does not, and leaves errno alone, as POSIX says.
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment == 0 || alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  const int saved_errno = errno;
  void* p = memalign(alignment, size);
  errno = saved_errno;
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_valloc(size);
}

void* pvalloc(std::size_t size) noexcept {
  linux_ext::test::allocations_made.fetch_add(1, std::memory_order_relaxed);
  return __libc_pvalloc(size);
}

}  // extern "C"

#endif  // LINUX_EXT_TEST_ASAN

#endif  // LINUX_EXT_TESTS_COUNT_ALLOCATIONS_H_

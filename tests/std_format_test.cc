// <linux_ext/format.h>: Flags and Epoll format through std::format with
// exactly the text of to_string() and to_sexp(), and take the specs a string
// takes. The cases are fmt_test.cc's (format_cases.h).
//
// Built against libc++ by tests/std_format/CMakeLists.txt, run by
// scripts/test-libcxx.sh: GCC 12's libstdc++ has no <format>. Hence no
// GoogleTest either (Debian's is built against libstdc++): each failed check
// is printed, then a last line "N passed, M failed", and the exit status is
// 1 when any failed.

#include "linux_ext/format.h"

#if !LINUX_EXT_HAS_STD_FORMAT
#error "this standard library has no usable <format> (libc++ 16 needs -fexperimental-library)"
#endif

#include <cstdio>
#include <exception>
#include <format>
#include <span>
#include <string>
#include <string_view>

#include "format_cases.h"

// libc++ 16 takes `?` and formats ranges only in C++23.
#define LINUX_EXT_TEST_CXX23 (__cplusplus > 202002L)

namespace linux_ext::format_cases {
namespace {

int passed = 0;
int failed = 0;

// Counts a check that `actual` is `expected`; prints `what` was checked on
// which line when it is not.
void check_eq(const std::string& actual, std::string_view expected, const std::string& what, int line) {
  if (actual == expected) {
    ++passed;
    return;
  }
  ++failed;
  std::printf("%s:%d: %s\n  is       \"%s\"\n  expected \"%s\"\n", __FILE__, line, what.c_str(),
              actual.c_str(), std::string(expected).c_str());
}

#define CHECK_EQ(actual, expected) check_eq((actual), (expected), #actual, __LINE__)

// Counts a check that `format()` throws std::format_error.
template <class Format>
void check_format_error(Format format, const std::string& what, int line) {
  try {
    const std::string actual = format();
    ++failed;
    std::printf("%s:%d: %s\n  is       \"%s\"\n  expected a std::format_error\n", __FILE__, line,
                what.c_str(), actual.c_str());
  } catch (const std::format_error&) {
    ++passed;
  }
}

// `std::vformat("FORMAT", ...)`, to say which case failed.
std::string vformat_call(std::string_view format, std::string_view args) {
  return "std::vformat(\"" + std::string(format) + "\", " + std::string(args) + ")";
}

// Each case's format string is known only at run time, hence std::vformat.
void check_flags_cases(std::span<const FlagsCase> cases, int line) {
  for (const FlagsCase& c : cases) {
    Flags flags = c.flags;
    int arg1 = c.arg1;
    int arg2 = c.arg2;
    check_eq(
        std::vformat(c.format, std::make_format_args(flags, arg1, arg2)), c.expected,
        vformat_call(c.format, flags.to_string() + ", " + std::to_string(arg1) + ", " + std::to_string(arg2)),
        line);
  }
}

void flags_format_as_to_string_with_string_specs() {
  check_flags_cases(kFlagsCases, __LINE__);
  // The same through std::format, whose format string is checked at compile
  // time (the inherited parse is usable in a constant expression).
  CHECK_EQ(std::format("[{:>8}]", Flags::in), "[    (in)]");
  CHECK_EQ(std::format("{:.{}}", Flags::oneshot, 3), "(on");
  const Flags all = Flags::none.complement();
  CHECK_EQ(std::format("{}", all), all.to_string());
}

void flags_take_the_debug_spec() {
#if LINUX_EXT_TEST_CXX23
  check_flags_cases(kDebugFlagsCases, __LINE__);
#endif
}

void flags_reject_other_specs() {
  Flags flags = Flags::in;
  for (std::string_view format : kRejectedFlagsFormats) {
    check_format_error([&] { return std::vformat(format, std::make_format_args(flags)); },
                       vformat_call(format, "(in)"), __LINE__);
  }
#if !LINUX_EXT_TEST_CXX23
  // Nor `?`, before C++23.
  check_format_error([&] { return std::vformat("{:?}", std::make_format_args(flags)); },
                     vformat_call("{:?}", "(in)"), __LINE__);
#endif
}

void epoll_formats_as_to_sexp() {
  const ReadyPipeSet set;
  const Epoll closed = closed_epoll();
  for (const EpollCase& c : epoll_cases(set.sexp())) {
    const Epoll& epoll = c.closed ? closed : set.epoll();
    check_eq(std::vformat(c.format, std::make_format_args(epoll)), c.expected,
             vformat_call(c.format, c.closed ? "closed set" : "ready set"), __LINE__);
  }
  CHECK_EQ(std::format("{}", set.epoll()), set.epoll().to_sexp());
  CHECK_EQ(std::format("{:>7}", closed), " Closed");
}

void works_in_ranges_of_flags() {
#if LINUX_EXT_TEST_CXX23
  CHECK_EQ(std::format("{}", kFlagsList), kFlagsListAsRange);
  CHECK_EQ(std::format("{:n:}", kFlagsList), kFlagsListJoined);
#endif
}

}  // namespace
}  // namespace linux_ext::format_cases

int main() {
  using namespace linux_ext::format_cases;
#if defined(_LIBCPP_VERSION)
  std::printf("std::format of libc++ %d, C++ %ld\n", _LIBCPP_VERSION, static_cast<long>(__cplusplus));
#endif
  try {
    flags_format_as_to_string_with_string_specs();
    flags_take_the_debug_spec();
    flags_reject_other_specs();
    epoll_formats_as_to_sexp();
    works_in_ranges_of_flags();
  } catch (const std::exception& e) {
    ++failed;
    std::printf("uncaught exception: %s\n", e.what());
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

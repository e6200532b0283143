// <linux_ext/fmt.h>: Flags and Epoll format through {fmt} with exactly the
// text of to_string() and to_sexp(), and take the specs a string takes. The
// cases (format_cases.h) are shared with std_format_test.cc, which checks
// <linux_ext/format.h> under libc++ (scripts/test-libcxx.sh).

#include "test_util.h"

#ifndef LINUX_EXT_TEST_NO_FMT
#include <fmt/ranges.h>

#include "format_cases.h"
#include "linux_ext/fmt.h"
#endif

namespace linux_ext::test {
namespace {

#ifndef LINUX_EXT_TEST_NO_FMT

namespace cases = linux_ext::format_cases;

// `c.format` applied to its Flags and arguments, the format string known only
// at run time (as every case has its own).
std::string format_case(const cases::FlagsCase& c) {
  Flags flags = c.flags;
  int arg1 = c.arg1;
  int arg2 = c.arg2;
  return fmt::vformat(c.format, fmt::make_format_args(flags, arg1, arg2));
}

TEST(Fmt, FlagsFormatAsToStringWithStringSpecs) {
  for (const cases::FlagsCase& c : cases::kFlagsCases) {
    EXPECT_EQ(format_case(c), c.expected) << c.format;
  }
  // The same through fmt::format, whose format string is checked at compile
  // time (the inherited parse is usable in a constant expression).
  EXPECT_EQ(fmt::format("[{:>8}]", Flags::in), "[    (in)]");
  EXPECT_EQ(fmt::format("{:.{}}", Flags::oneshot, 3), "(on");
  const Flags all = Flags::none.complement();
  EXPECT_EQ(fmt::format("{}", all), all.to_string());
}

TEST(Fmt, FlagsTakeTheDebugSpec) {
#if FMT_VERSION >= 90000
  for (const cases::FlagsCase& c : cases::kDebugFlagsCases) {
    EXPECT_EQ(format_case(c), c.expected) << c.format;
  }
#else
  GTEST_SKIP() << "{fmt} before 9 has no ? spec";
#endif
}

TEST(Fmt, FlagsRejectOtherSpecs) {
  for (std::string_view format : cases::kRejectedFlagsFormats) {
    Flags flags = Flags::in;
    EXPECT_THROW(fmt::vformat(format, fmt::make_format_args(flags)), fmt::format_error) << format;
  }
}

TEST(Fmt, EpollFormatsAsToSexp) {
  const cases::ReadyPipeSet set;
  const Epoll closed = cases::closed_epoll();
  for (const cases::EpollCase& c : cases::epoll_cases(set.sexp())) {
    const Epoll& epoll = c.closed ? closed : set.epoll();
    EXPECT_EQ(fmt::vformat(c.format, fmt::make_format_args(epoll)), c.expected)
        << c.format << (c.closed ? " of a closed set" : " of a ready set");
  }
  EXPECT_EQ(fmt::format("{}", set.epoll()), set.epoll().to_sexp());
  EXPECT_EQ(fmt::format("{:>7}", closed), " Closed");
}

TEST(Fmt, WorksInRangesOfFlags) {
  EXPECT_EQ(fmt::format("{}", cases::kFlagsList), cases::kFlagsListAsRange);
  EXPECT_EQ(fmt::format("{}", fmt::join(cases::kFlagsList, ", ")), cases::kFlagsListJoined);
}

#else
TEST(Fmt, NotBuilt) { GTEST_SKIP() << "{fmt} was not found (Debian: libfmt-dev)"; }
#endif

}  // namespace
}  // namespace linux_ext::test

// <linux_ext/fmt.h> and <linux_ext/format.h>: Flags and Epoll format with
// exactly the text of to_string() and to_sexp().

#include "test_util.h"

#ifndef LINUX_EXT_TEST_NO_FMT
#include "linux_ext/fmt.h"
#endif
#include "linux_ext/format.h"

namespace linux_ext::test {
namespace {

#ifndef LINUX_EXT_TEST_NO_FMT

TEST(Fmt, FlagsFormatAsToString) {
  EXPECT_EQ(fmt::format("{}", Flags::none), "()");
  EXPECT_EQ(fmt::format("{}", Flags::in + Flags::out), "(in out)");
  EXPECT_EQ(fmt::format("{}", Flags::in + Flags::of_bits(0x40)), "((in) (unrecognized_bits 0x40))");
  const Flags all = Flags::none.complement();
  EXPECT_EQ(fmt::format("{}", all), all.to_string());
}

TEST(Fmt, FlagsTakeStringSpecs) {
  EXPECT_EQ(fmt::format("[{:>8}]", Flags::in), "[    (in)]");
  EXPECT_EQ(fmt::format("[{:*<8}]", Flags::et), "[(et)****]");
  EXPECT_EQ(fmt::format("{:.3}", Flags::oneshot), "(on");
}

TEST(Fmt, EpollFormatsAsToSexp) {
  Epoll ep = make_epoll(64, 8);
  Pipe pipe = make_pipe();
  ep.set(pipe.read.get(), Flags::in);
  poke(pipe.write.get());
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const std::string expected = "((epollfd " + std::to_string(ep.fd()) + ") (flags_by_fd ((" +
                               std::to_string(pipe.read.get()) + " (in)))) (max_ready_events 8) " +
                               "(num_ready_events 1) (ready_events (((file_descr " +
                               std::to_string(pipe.read.get()) + ") (flags (in))))))";
  EXPECT_EQ(fmt::format("{}", ep), expected);
  EXPECT_EQ(fmt::format("{}", ep), ep.to_sexp());
  ep.close();
  EXPECT_EQ(fmt::format("{:>7}", ep), " Closed");
}

TEST(Fmt, WorksInRangesOfFlags) {
  const std::vector<Flags> flags{Flags::in, Flags::out + Flags::et};
  EXPECT_EQ(fmt::format("{}", fmt::join(flags, ", ")), "(in), (out et)");
}

#else
TEST(Fmt, NotBuilt) { GTEST_SKIP() << "{fmt} was not found (Debian: libfmt-dev)"; }
#endif

#if defined(__cpp_lib_format)
TEST(StdFormat, FlagsAndEpollFormatAsTheirSexp) {
  EXPECT_EQ(std::format("{}", Flags::in + Flags::out), "(in out)");
  EXPECT_EQ(std::format("[{:>8}]", Flags::in), "[    (in)]");
  Epoll ep = make_epoll(64, 8);
  EXPECT_EQ(std::format("{}", ep), ep.to_sexp());
}
#else
TEST(StdFormat, NotAvailable) { GTEST_SKIP() << "this standard library has no <format>"; }
#endif

}  // namespace
}  // namespace linux_ext::test

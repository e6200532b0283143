// The cases that <linux_ext/fmt.h> and <linux_ext/format.h> must both pass,
// with their exact expected text: fmt_test.cc runs them through {fmt},
// std_format_test.cc through std::format. Both formatters are the string
// formatter applied to to_string() and to_sexp(), so the cases are mostly
// about the string specs.
//
// Free of GoogleTest: std_format_test.cc is built against libc++, which the
// Debian GoogleTest is not.

#ifndef LINUX_EXT_TESTS_FORMAT_CASES_H_
#define LINUX_EXT_TESTS_FORMAT_CASES_H_

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "linux_ext/epoll.h"

namespace linux_ext::format_cases {

using Flags = Epoll::Flags;

// `format` applied to `flags` must give `expected`. The format string
// takes `flags` and then `arg1` and `arg2`, which supply the width and
// precision of `{:{}}`, `{:.{}}` (arguments the string does not use are
// ignored).
struct FlagsCase {
  std::string_view format;
  Flags flags;
  std::string_view expected;
  int arg1 = 0;
  int arg2 = 0;
};

inline constexpr FlagsCase kFlagsCases[] = {
    // The text of to_string().
    {"{}", Flags::none, "()"},
    {"{}", Flags::in + Flags::out, "(in out)"},
    {"{}", Flags::in + Flags::of_bits(0x40), "((in) (unrecognized_bits 0x40))"},
    {"{}", Flags::none.complement(), "(in out pri err hup et oneshot rdhup wakeup exclusive)"},
    {"{:s}", Flags::in, "(in)"},
    // Width pads, to the left by default as for any string, and never cuts.
    {"[{:8}]", Flags::in, "[(in)    ]"},
    {"[{:>8}]", Flags::in, "[    (in)]"},
    {"[{:^9}]", Flags::in, "[  (in)   ]"},
    {"[{:*<8}]", Flags::et, "[(et)****]"},
    {"[{:2}]", Flags::in + Flags::out, "[(in out)]"},
    // Precision keeps that many characters, cutting the S-expression.
    {"{:.3}", Flags::oneshot, "(on"},
    {"[{:.0}]", Flags::in, "[]"},
    {"[{:-^8.3}]", Flags::in + Flags::out, "[--(in---]"},
    // Width and precision from the arguments.
    {"[{:{}}]", Flags::in, "[(in)  ]", 6},
    {"[{:.{}}]", Flags::in + Flags::out, "[(in o]", 5},
    {"[{:>{}.{}}]", Flags::hup, "[    (h]", 6, 2},
};

// The `?` spec (quoted and escaped, as for a string), where the formatting
// library has it for strings: {fmt} 9 and later, std::format in C++23.
inline constexpr FlagsCase kDebugFlagsCases[] = {
    {"{:?}", Flags::in + Flags::out, "\"(in out)\""},
    {"[{:>8?}]", Flags::in, "[  \"(in)\"]"},
};

// A list of Flags, formatted as a range (`{}`): quoted as strings are in a
// range, where the formatting library formats ranges ({fmt} 9 and later with
// <fmt/ranges.h>, std::format in C++23); and its elements formatted with `{}`
// and joined by ", " (fmt::join, or the `n` and empty element specs of
// std::format in C++23: `{:n:}`).
inline constexpr std::array<Flags, 2> kFlagsList{Flags::in, Flags::out + Flags::et};
inline constexpr std::string_view kFlagsListAsRange = "[\"(in)\", \"(out et)\"]";
inline constexpr std::string_view kFlagsListJoined = "(in), (out et)";

// Specs a string does not take: formatting Flags with them is an error
// (a format_error when the format string is only known at run time).
inline constexpr std::string_view kRejectedFlagsFormats[] = {
    "{:d}", "{:x}", "{:c}", "{:+}", "{: }", "{:#}", "{:05}", "{:L}",
};

// An epoll set (64 fds, 8 ready events) watching the read end of a pipe for
// input, after a wait that found it ready: its text has every part, the
// table and the ready events. Throws std::system_error when a system call
// fails.
class ReadyPipeSet {
 public:
  ReadyPipeSet() : epoll_(Epoll::create(64, 8).value()) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "pipe2");
    }
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    epoll_.set(read_fd_, Flags::in);
    const std::uint64_t one = 1;
    if (::write(write_fd_, &one, sizeof one) != sizeof one) {
      throw std::system_error(errno, std::generic_category(), "write");
    }
    if (epoll_.wait(Epoll::Timeout::immediately()) != Epoll::WaitResult::ok) {
      throw std::system_error(EAGAIN, std::generic_category(), "a ready pipe was not reported");
    }
  }
  ReadyPipeSet(const ReadyPipeSet&) = delete;
  ReadyPipeSet& operator=(const ReadyPipeSet&) = delete;
  ~ReadyPipeSet() {
    ::close(read_fd_);
    ::close(write_fd_);
  }

  const Epoll& epoll() const { return epoll_; }

  // What the set must format as, spelled out rather than taken from
  // to_sexp(), so that the cases check the text itself.
  std::string sexp() const {
    const std::string fd = std::to_string(read_fd_);
    return "((epollfd " + std::to_string(epoll_.fd()) + ") (flags_by_fd ((" + fd +
           " (in)))) (max_ready_events 8) (num_ready_events 1) (ready_events (((file_descr " + fd +
           ") (flags (in))))))";
  }

 private:
  Epoll epoll_;
  int read_fd_ = -1;
  int write_fd_ = -1;
};

// A set closed after it was created: its text is `Closed`.
inline Epoll closed_epoll() {
  Epoll epoll = Epoll::create(1, 1).value();
  epoll.close();
  return epoll;
}

// `format` applied to the set of a ReadyPipeSet (or to a closed set when
// `closed`) must give `expected`.
struct EpollCase {
  std::string_view format;
  bool closed;
  std::string expected;
};

// The cases for the set of a ReadyPipeSet whose text is `sexp`, and for a
// closed set, whose text is `Closed`.
inline std::vector<EpollCase> epoll_cases(const std::string& sexp) {
  return {
      {"{}", false, sexp},
      {"{:.9}", false, sexp.substr(0, 9)},
      {"{:>7}", true, " Closed"},
      {"[{:*^10}]", true, "[**Closed**]"},
  };
}

}  // namespace linux_ext::format_cases

#endif  // LINUX_EXT_TESTS_FORMAT_CASES_H_

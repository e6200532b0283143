// linux_ext/fmt.h — {fmt} support for `Epoll::Flags` and `Epoll`.
//
// Include it where {fmt} is available (Debian: libfmt-dev); the library itself
// does not depend on {fmt}, this header is all there is to it. The text is
// the S-expression of `Flags::to_string()` and `Epoll::to_sexp()`, formatted
// as a `std::string_view` would be: it takes exactly the specs a string
// takes (fill and alignment, width, precision, `s`, `?` from {fmt} 9, width
// and precision from arguments), and a range of them is printed with each
// element quoted, as a range of strings is (with <fmt/ranges.h>; fmt::join
// does not quote):
//
//   #include <linux_ext/fmt.h>
//   fmt::print("{} watches {}\n", ep, Epoll::Flags::in + Epoll::Flags::et);
//   // ((epollfd 3) (flags_by_fd ...) ...) watches (in et)
//   fmt::print("[{:>10}]\n", Epoll::Flags::in);   // [      (in)]

#ifndef LINUX_EXT_FMT_H_
#define LINUX_EXT_FMT_H_

#include <fmt/format.h>

#include <string_view>

#include "linux_ext/epoll.h"

// fmt::formatter<Epoll::Flags>
//
// Formats `flags.to_string()` as a string would be; allocates.
template <>
struct fmt::formatter<linux_ext::Epoll::Flags> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(linux_ext::Epoll::Flags flags, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(flags.to_string(), ctx);
  }
};

// fmt::formatter<Epoll>
//
// Formats `epoll.to_sexp()` (`Closed` for a closed set) as a string would be;
// allocates.
template <>
struct fmt::formatter<linux_ext::Epoll> : fmt::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const linux_ext::Epoll& epoll, FormatContext& ctx) const {
    return fmt::formatter<std::string_view>::format(epoll.to_sexp(), ctx);
  }
};

#endif  // LINUX_EXT_FMT_H_

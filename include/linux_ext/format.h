// linux_ext/format.h — std::format support for `Epoll::Flags` and `Epoll`.
//
// Where the standard library has `<format>` (`__cpp_lib_format`: GCC 13,
// Clang 17 with libc++, MSVC), this gives `std::formatter` specializations
// with the same text as `Flags::to_string()` and `Epoll::to_sexp()`, and the
// standard string specs (fill, alignment, width). Elsewhere the header is
// empty, so it can be included unconditionally; {fmt} users have
// <linux_ext/fmt.h>.
//
//   #include <linux_ext/format.h>
//   std::string line = std::format("{}: {}", fd, ep.find_exn(fd));  // "5: (in)"

#ifndef LINUX_EXT_FORMAT_H_
#define LINUX_EXT_FORMAT_H_

#include "linux_ext/epoll.h"

#if __has_include(<format>)
#include <format>
#endif

#if defined(__cpp_lib_format)

#include <string_view>

// std::formatter<Epoll::Flags>
//
// Formats `flags.to_string()` as a string would be; allocates.
template <>
struct std::formatter<linux_ext::Epoll::Flags> : std::formatter<std::string_view> {
  template <class FormatContext>
  auto format(linux_ext::Epoll::Flags flags, FormatContext& ctx) const {
    return std::formatter<std::string_view>::format(flags.to_string(), ctx);
  }
};

// std::formatter<Epoll>
//
// Formats `epoll.to_sexp()` (`Closed` for a closed set) as a string would be;
// allocates.
template <>
struct std::formatter<linux_ext::Epoll> : std::formatter<std::string_view> {
  template <class FormatContext>
  auto format(const linux_ext::Epoll& epoll, FormatContext& ctx) const {
    return std::formatter<std::string_view>::format(epoll.to_sexp(), ctx);
  }
};

#endif  // __cpp_lib_format

#endif  // LINUX_EXT_FORMAT_H_

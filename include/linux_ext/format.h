// linux_ext/format.h — std::format support for `Epoll::Flags` and `Epoll`.
//
// Where the standard library's `<format>` is usable, this gives
// `std::formatter` specializations that print exactly `Flags::to_string()`
// and `Epoll::to_sexp()`, formatted as a `std::string_view` would be. So they
// take exactly the specs a string takes: fill and alignment, width,
// precision (which keeps that many characters and so cuts the S-expression:
// `{:.3}` of `(in out)` is `(in`), the type `s`, and width and precision from
// arguments (`{:{}}`, `{:.{}}`); where the library has it for strings (C++23),
// also the type `?` (quoted and escaped). Any other spec (`{:d}`, `{:+}`,
// `{:#}`, `{:05}`) is an error: at compile time in `std::format`, a
// `std::format_error` from `std::vformat`. As for strings, a range of them
// formats (C++23) with each element quoted, `["(in)", "(out et)"]`, and
// `{:n:}` gives the plain `(in), (out et)`.
//
// `<format>` is usable where the library defines `__cpp_lib_format` (GCC 13,
// MSVC), and in libc++ from 16 on, which has it before defining that macro:
// libc++ 16 only under `-fexperimental-library`. Elsewhere (GCC 12, Clang
// with libstdc++ 12, libc++ 16 without that flag) the header declares
// nothing, so it can be included unconditionally; `LINUX_EXT_HAS_STD_FORMAT`
// says which. {fmt} users have <linux_ext/fmt.h>.
//
//   #include <linux_ext/format.h>
//   std::string line = std::format("{}: {}", fd, ep.find_exn(fd));  // "5: (in)"
//   std::string cell = std::format("[{:>8}]", Epoll::Flags::in);       // "[    (in)]"

#ifndef LINUX_EXT_FORMAT_H_
#define LINUX_EXT_FORMAT_H_

#include "linux_ext/epoll.h"

#if __has_include(<format>)
#include <format>
#endif

// LINUX_EXT_HAS_STD_FORMAT
//
// 1 when this header declares the formatters, 0 when the standard library
// has no usable `<format>`. libc++ 16 hides `<format>`'s contents unless
// experimental features are on, and says so with
// `_LIBCPP_HAS_NO_INCOMPLETE_FORMAT`.
#if defined(__cpp_lib_format) || \
    (defined(_LIBCPP_VERSION) && _LIBCPP_VERSION >= 160000 && !defined(_LIBCPP_HAS_NO_INCOMPLETE_FORMAT))
#define LINUX_EXT_HAS_STD_FORMAT 1
#else
#define LINUX_EXT_HAS_STD_FORMAT 0
#endif

#if LINUX_EXT_HAS_STD_FORMAT

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

#endif  // LINUX_EXT_HAS_STD_FORMAT

#endif  // LINUX_EXT_FORMAT_H_

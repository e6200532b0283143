// Small helpers the examples share, so each example shows only its pattern.

#ifndef LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_
#define LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace example {

// Returns `result`, or prints `what` with errno's text and exits when it is
// -1: the examples stop at the first failed system call rather than hide it.
inline long check(long result, const char* what) {
  if (result == -1) {
    std::fprintf(stderr, "%s: %s\n", what, std::strerror(errno));
    std::exit(1);
  }
  return result;
}

// The integer after `--name` on the command line, or `fallback`. A value
// that is not a positive number is a usage error.
inline int int_option(int argc, char** argv, std::string_view name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (name != argv[i]) continue;
    char* end = nullptr;
    const long value = std::strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || value <= 0 || value > 1'000'000) {
      std::fprintf(stderr, "%s wants a positive number, not \"%s\"\n", argv[i], argv[i + 1]);
      std::exit(2);
    }
    return static_cast<int>(value);
  }
  return fallback;
}

// True when `--name` is on the command line.
inline bool has_flag(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    if (name == argv[i]) return true;
  }
  return false;
}

}  // namespace example

#endif  // LINUX_EXT_EXAMPLES_EXAMPLE_UTIL_H_

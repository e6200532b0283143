// Fuzz target: the walk driver of tests/walk_driver.h, its choices decoded
// from the input, one byte each (which action, which set, file and kept
// range, how many actions a callback runs...). Nested walks, kept ranges,
// moves and waits of every span run against the model of the contract's
// re-entrancy rules; any violation aborts with the steps that led to it.
// An input runs until its bytes (at most 512) run out; tests/walk_test.cc
// writes a failed seed's choices as such an input (WALK_RECORD).
// WALK_WITHOUT and WALK_WITHOUT_NESTED leave actions out, as for
// tests/walk_test.cc: to fuzz past a known finding.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "walk_driver.h"

namespace {

using linux_ext::walks::Options;

// The bytes of an input that are read, which bounds its steps: longer runs
// would slow the replay of the kept corpus (under valgrind too) more than
// they add.
constexpr std::size_t kMaxBytes = 512;

Options options_of_environment() {
  Options options;
  options.origin = "fuzz input";
  const char* without = std::getenv("WALK_WITHOUT");
  const char* without_nested = std::getenv("WALK_WITHOUT_NESTED");
  options.without = linux_ext::walks::parse_actions(without != nullptr ? without : "");
  options.without_nested = linux_ext::walks::parse_actions(without_nested != nullptr ? without_nested : "");
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace linux_ext::walks;
  static const Options options = options_of_environment();
  // Every step takes at least one byte: the input bounds the run.
  Driver driver(Choices::of_bytes(data, std::min(size, kMaxBytes)), options);
  const std::string failure = driver.run(static_cast<long>(size) + 1);
  if (!failure.empty()) {
    std::fprintf(stderr, "%s", failure.c_str());
    std::abort();
  }
  return 0;
}

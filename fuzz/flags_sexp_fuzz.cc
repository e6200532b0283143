// Fuzz target: Flags::of_sexp on any text.
//
// Whatever the input, parsing returns (never crashes, never reads past the
// text) and either fails with std::errc::invalid_argument and a message that
// quotes the input, or succeeds with flags whose printed form parses back to
// the same flags and prints the same again (to_string is canonical).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

#include "linux_ext/epoll.h"

namespace {

[[noreturn]] void fail(const char* what, std::string_view input, const std::string& detail) {
  std::fprintf(stderr, "flags_sexp_fuzz: %s\n  input: \"%.*s\"\n  %s\n", what, static_cast<int>(input.size()),
               input.data(), detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using linux_ext::Epoll;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const linux_ext::OrError<Epoll::Flags> parsed = Epoll::Flags::of_sexp(input);
  if (!parsed) {
    if (parsed.error().code() != std::make_error_code(std::errc::invalid_argument)) {
      fail("an error that is not invalid_argument", input, parsed.error().message());
    }
    if (parsed.error().message().find("Flags::of_sexp: ") != 0)
      fail("an error not naming of_sexp", input, parsed.error().message());
    return 0;
  }
  const std::string printed = parsed->to_string();
  const linux_ext::OrError<Epoll::Flags> again = Epoll::Flags::of_sexp(printed);
  if (!again) fail("the printed form does not parse", input, printed + ": " + again.error().message());
  if (*again != *parsed)
    fail("the printed form parses to other flags", input, printed + " -> " + again->to_string());
  if (again->to_string() != printed)
    fail("printing is not canonical", input, printed + " -> " + again->to_string());
  return 0;
}

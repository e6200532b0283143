// Error and OrError (include/linux_ext/error.h).

#include "linux_ext/error.h"

#include <stdexcept>

#include "linux_ext/detail/syscall.h"

namespace linux_ext {

Error::Error(std::error_code code, std::string context) : code_(code), context_(std::move(context)) {}

std::string Error::message() const { return context_ + ": " + code_.message(); }

void detail::throw_errno(int error, const std::string& context) {
  throw std::system_error(std::error_code(error, std::generic_category()), context);
}

void detail::throw_no_error_held() {
  throw std::logic_error("OrError::error: a value is held, not an error");
}

}  // namespace linux_ext

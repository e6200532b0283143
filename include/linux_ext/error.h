// linux_ext/error.h — Error and OrError<T>, how linux_ext reports failures
// that it returns rather than throws.
//
//   linux_ext::OrError<Epoll> created = Epoll::create(1024, 64);
//   if (!created) std::cerr << created.error().message() << "\n";
//   Epoll ep = std::move(created).value();  // or throws std::system_error

#ifndef LINUX_EXT_ERROR_H_
#define LINUX_EXT_ERROR_H_

#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace linux_ext {

// Error
//
// What went wrong, for a human (`message()`) and for code (`code()`).
// `code()` holds the errno of a failed system call, or
// `std::errc::invalid_argument` for input that broke a rule of this library.
// `message()` names the operation and the input, then the code's own text,
// e.g. "epoll_create1: Too many open files".
class Error {
 public:
  // `context` says what was attempted with which input; `message()` appends
  // the text of `code`.
  Error(std::error_code code, std::string context);

  // The whole human-readable text: context, then the code's message.
  std::string message() const;

  // The machine-readable cause.
  std::error_code code() const { return code_; }

  // The context alone, without the code's text (what `std::system_error`
  // takes as its `what_arg`, since it appends the code's text itself).
  const std::string& context() const { return context_; }

 private:
  std::error_code code_;
  std::string context_;
};

// OrError<T>
//
// A `T` or an `Error`, with the surface of `std::expected<T, Error>`: test it
// with `has_value()` or `operator bool`, take the value with `value()` (which
// throws the error as a `std::system_error`) or `*`/`->` (which assume a
// value is there).
template <class T>
class OrError {
 public:
  // Holds a value.
  OrError(T value)
      : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT(google-explicit-constructor)
  // Holds an error.
  OrError(Error error)
      : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  // True when a value is held.
  bool has_value() const noexcept { return state_.index() == 0; }
  // Same as `has_value()`.
  explicit operator bool() const noexcept { return has_value(); }

  // The value; throws `std::system_error(error().code(), error().context())`
  // when an error is held.
  T& value() & {
    throw_if_error();
    return std::get<0>(state_);
  }
  const T& value() const& {
    throw_if_error();
    return std::get<0>(state_);
  }
  T&& value() && {
    throw_if_error();
    return std::get<0>(std::move(state_));
  }

  // The value, which must be held.
  T& operator*() & { return *std::get_if<0>(&state_); }
  const T& operator*() const& { return *std::get_if<0>(&state_); }
  T&& operator*() && { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() { return std::get_if<0>(&state_); }
  const T* operator->() const { return std::get_if<0>(&state_); }

  // The error; throws `std::logic_error` when a value is held.
  const Error& error() const;

 private:
  void throw_if_error() const {
    if (const Error* e = std::get_if<1>(&state_)) {
      throw std::system_error(e->code(), e->context());
    }
  }

  std::variant<T, Error> state_;
};

namespace detail {
// Throws the `std::logic_error` of `OrError::error()` on a value.
[[noreturn]] void throw_no_error_held();
}  // namespace detail

template <class T>
const Error& OrError<T>::error() const {
  const Error* e = std::get_if<1>(&state_);
  if (e == nullptr) detail::throw_no_error_held();
  return *e;
}

}  // namespace linux_ext

#endif  // LINUX_EXT_ERROR_H_

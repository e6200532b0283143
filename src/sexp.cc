// S-expressions: Flags::to_string and of_sexp, Epoll::to_sexp and the
// stream operators.

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "linux_ext/epoll.h"

namespace linux_ext {

using Flags = Epoll::Flags;

namespace {

// Every named flag, in printing order. Printing and parsing both read it.
struct FlagName {
  Flags flag;
  std::string_view name;
};
constexpr FlagName kFlagNames[] = {
    {Flags::in, "in"},           {Flags::out, "out"},
    {Flags::pri, "pri"},         {Flags::err, "err"},
    {Flags::hup, "hup"},         {Flags::et, "et"},
    {Flags::oneshot, "oneshot"}, {Flags::rdhup, "rdhup"},
    {Flags::wakeup, "wakeup"},   {Flags::exclusive, "exclusive"},
};

constexpr Flags all_named_flags() {
  Flags all;
  for (const FlagName& f : kFlagNames) all |= f.flag;
  return all;
}
constexpr Flags kNamed = all_named_flags();
static_assert(kNamed.complement().is_empty() && Flags::none.complement() == kNamed,
              "the name table and Flags::complement must know the same flags");

constexpr std::string_view kUnrecognizedBits = "unrecognized_bits";

void append_names(std::string& out, Flags flags) {
  out += '(';
  bool first = true;
  for (const FlagName& f : kFlagNames) {
    if (!f.flag.is_subset(flags)) continue;
    if (!first) out += ' ';
    out += f.name;
    first = false;
  }
  out += ')';
}

void append_hex(std::string& out, std::uint32_t value) {
  char digits[8];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value, 16);
  out += "0x";
  out.append(digits, end);
}

// Reads the tokens of an S-expression: "(", ")" and atoms, with their offsets.
class Lexer {
 public:
  struct Token {
    enum Kind { open, close, atom, end } kind;
    std::string_view text;
    std::size_t offset;
  };

  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    const std::size_t start = pos_;
    if (pos_ == text_.size()) return {Token::end, {}, start};
    if (text_[pos_] == '(' || text_[pos_] == ')') {
      ++pos_;
      return {text_[start] == '(' ? Token::open : Token::close, text_.substr(start, 1), start};
    }
    while (pos_ < text_.size() && text_[pos_] != '(' && text_[pos_] != ')' &&
           !std::isspace(static_cast<unsigned char>(text_[pos_]))) {
      ++pos_;
    }
    return {Token::atom, text_.substr(start, pos_ - start), start};
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

// Parses the S-expression of a Flags value; see Flags::of_sexp.
class FlagsParser {
 public:
  explicit FlagsParser(std::string_view text) : text_(text), lexer_(text) {}

  OrError<Flags> parse() {
    Flags flags;
    Lexer::Token token = lexer_.next();
    if (token.kind != Lexer::Token::open) return error(token, "expected '('");
    token = lexer_.next();
    if (token.kind == Lexer::Token::open) {
      // ((names...) (unrecognized_bits 0x...))
      if (!parse_names(lexer_.next(), flags)) return error_;
      if (!expect(Lexer::Token::open, "expected '(' before unrecognized_bits")) return error_;
      token = lexer_.next();
      if (token.kind != Lexer::Token::atom || token.text != kUnrecognizedBits) {
        return error(token, "expected unrecognized_bits");
      }
      token = lexer_.next();
      std::uint32_t bits = 0;
      if (!parse_hex(token, bits)) return error_;
      flags |= Flags::of_bits(bits);
      if (!expect(Lexer::Token::close, "expected ')' after the unrecognized bits")) return error_;
      if (!expect(Lexer::Token::close, "expected ')' to close the flags")) return error_;
    } else {
      // (names...): the first token is already read.
      if (!parse_names(token, flags)) return error_;
    }
    token = lexer_.next();
    if (token.kind != Lexer::Token::end) return error(token, "trailing text after the flags");
    return flags;
  }

 private:
  // Names starting at `token`, up to and including ")".
  bool parse_names(Lexer::Token token, Flags& flags) {
    for (;; token = lexer_.next()) {
      if (token.kind == Lexer::Token::close) return true;
      if (token.kind != Lexer::Token::atom) {
        set_error(token, "expected a flag name or ')'");
        return false;
      }
      const FlagName* found = nullptr;
      for (const FlagName& f : kFlagNames) {
        if (f.name == token.text) found = &f;
      }
      if (found == nullptr) {
        set_error(token, "unknown flag name (known: in out pri err hup et oneshot rdhup wakeup exclusive)");
        return false;
      }
      flags |= found->flag;
    }
  }

  bool parse_hex(const Lexer::Token& token, std::uint32_t& bits) {
    const std::string_view text = token.text;
    if (token.kind != Lexer::Token::atom || text.size() < 3 || text.substr(0, 2) != "0x") {
      set_error(token, "expected a hexadecimal number like 0x40");
      return false;
    }
    const auto [end, ec] = std::from_chars(text.data() + 2, text.data() + text.size(), bits, 16);
    if (ec != std::errc() || end != text.data() + text.size()) {
      set_error(token, "expected a hexadecimal number of at most 32 bits like 0x40");
      return false;
    }
    if (Flags::of_bits(bits).do_intersect(kNamed)) {
      set_error(token, "unrecognized bits must not hold the bits of named flags");
      return false;
    }
    return true;
  }

  bool expect(Lexer::Token::Kind kind, const char* what) {
    const Lexer::Token token = lexer_.next();
    if (token.kind == kind) return true;
    set_error(token, what);
    return false;
  }

  void set_error(const Lexer::Token& token, const char* what) {
    const std::string found = token.kind == Lexer::Token::end ? std::string("end of input")
                                                              : std::string("\"").append(token.text) + "\"";
    error_ = Error(std::make_error_code(std::errc::invalid_argument),
                   "Flags::of_sexp: " + std::string(what) + ", found " + found + " at offset " +
                       std::to_string(token.offset) + " in \"" + std::string(text_) + "\"");
  }

  Error error(const Lexer::Token& token, const char* what) {
    set_error(token, what);
    return error_;
  }

  std::string_view text_;
  Lexer lexer_;
  Error error_{std::error_code(), ""};
};

}  // namespace

std::string Flags::to_string() const {
  std::string text;
  const Flags unrecognized = *this - kNamed;
  if (unrecognized.is_empty()) {
    append_names(text, *this);
    return text;
  }
  text += '(';
  append_names(text, *this & kNamed);
  text += " (";
  text += kUnrecognizedBits;
  text += ' ';
  append_hex(text, unrecognized.bits());
  text += "))";
  return text;
}

OrError<Flags> Flags::of_sexp(std::string_view text) { return FlagsParser(text).parse(); }

std::string Epoll::to_sexp() const {
  if (is_closed()) return "Closed";
  std::string out = "((epollfd " + std::to_string(epoll_fd_) + ") (flags_by_fd (";
  // The table's own order is left open; the printed one is ascending.
  std::vector<int> fds;
  fds.reserve(size());
  iter([&](int fd, Flags) { fds.push_back(fd); });
  std::sort(fds.begin(), fds.end());
  bool first = true;
  for (const int fd : fds) {
    if (!first) out += ' ';
    first = false;
    out += '(' + std::to_string(fd) + ' ' +
           Flags::of_bits(slots_[static_cast<std::size_t>(fd)].events).to_string() + ')';
  }
  out += ")) (max_ready_events " + std::to_string(max_ready_events_) + ") (num_ready_events " +
         std::to_string(num_ready_) + ") (ready_events (";
  first = true;
  for (const auto [fd, flags] : ready()) {
    if (!first) out += ' ';
    first = false;
    out += "((file_descr " + std::to_string(fd) + ") (flags " + flags.to_string() + "))";
  }
  out += ")))";
  return out;
}

std::ostream& operator<<(std::ostream& out, Flags flags) { return out << flags.to_string(); }

std::ostream& operator<<(std::ostream& out, const Epoll& epoll) { return out << epoll.to_sexp(); }

}  // namespace linux_ext

// Epoll::Flags: bit values, set operations, printing and parsing.

#include <sys/epoll.h>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// Every named flag with its kernel constant and its printed name, in the
// printing order the contract fixes.
struct Named {
  Flags flag;
  std::uint32_t kernel_bits;
  std::string_view name;
};
constexpr Named kNamed[] = {
    {Flags::in, EPOLLIN, "in"},
    {Flags::out, EPOLLOUT, "out"},
    {Flags::pri, EPOLLPRI, "pri"},
    {Flags::err, EPOLLERR, "err"},
    {Flags::hup, EPOLLHUP, "hup"},
    {Flags::et, EPOLLET, "et"},
    {Flags::oneshot, EPOLLONESHOT, "oneshot"},
    {Flags::rdhup, EPOLLRDHUP, "rdhup"},
    {Flags::wakeup, EPOLLWAKEUP, "wakeup"},
    {Flags::exclusive, EPOLLEXCLUSIVE, "exclusive"},
};

constexpr std::uint32_t kAllKnownBits = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLET |
                                        EPOLLONESHOT | EPOLLRDHUP | EPOLLWAKEUP | EPOLLEXCLUSIVE;

// The bit values are the kernel's, and usable at compile time.
static_assert(Flags::none.bits() == 0);
static_assert(Flags::in.bits() == EPOLLIN);
static_assert(Flags::out.bits() == EPOLLOUT);
static_assert(Flags::pri.bits() == EPOLLPRI);
static_assert(Flags::err.bits() == EPOLLERR);
static_assert(Flags::hup.bits() == EPOLLHUP);
static_assert(Flags::et.bits() == EPOLLET);
static_assert(Flags::oneshot.bits() == EPOLLONESHOT);
static_assert(Flags::rdhup.bits() == EPOLLRDHUP);
static_assert(Flags::wakeup.bits() == EPOLLWAKEUP);
static_assert(Flags::exclusive.bits() == EPOLLEXCLUSIVE);

// Every set operation is constexpr.
constexpr Flags kInOut = Flags::in + Flags::out;
static_assert((Flags::in | Flags::out) == kInOut);
static_assert(kInOut - Flags::out == Flags::in);
static_assert((kInOut & (Flags::out + Flags::pri)) == Flags::out);
static_assert(Flags::none.complement().bits() == kAllKnownBits);
static_assert(Flags::none.is_empty() && !Flags::in.is_empty());
static_assert(kInOut.do_intersect(Flags::in) && !kInOut.do_intersect(Flags::pri));
static_assert(kInOut.are_disjoint(Flags::et) && !kInOut.are_disjoint(Flags::out));
static_assert(Flags::in.is_subset(kInOut) && !kInOut.is_subset(Flags::in));
static_assert(Flags::in != Flags::out && !(Flags::in == Flags::out));
static_assert(Flags::of_bits(0x40).bits() == 0x40);
static_assert(Flags() == Flags::none);

TEST(FlagsTest, BitsAreTheKernelsAndDistinct) {
  std::uint32_t seen = 0;
  for (const Named& n : kNamed) {
    EXPECT_EQ(n.flag.bits(), n.kernel_bits) << n.name;
    EXPECT_EQ(__builtin_popcount(n.flag.bits()), 1) << n.name;
    EXPECT_EQ(seen & n.flag.bits(), 0U) << n.name << " shares a bit with another flag";
    seen |= n.flag.bits();
  }
  EXPECT_EQ(seen, kAllKnownBits);
}

TEST(FlagsTest, OfBitsKeepsUnknownBits) {
  for (std::uint32_t bits : {0U, 0x40U, 0x800U, 0xffffffffU, EPOLLIN | 0x100U}) {
    EXPECT_EQ(Flags::of_bits(bits).bits(), bits);
  }
}

// Checks every set operation on a pair of values against the same
// operation on their bits.
void check_set_operations(std::uint32_t a_bits, std::uint32_t b_bits) {
  const Flags a = Flags::of_bits(a_bits);
  const Flags b = Flags::of_bits(b_bits);
  SCOPED_TRACE(a.to_string() + " and " + b.to_string());
  EXPECT_EQ((a + b).bits(), a_bits | b_bits);
  EXPECT_EQ((a | b).bits(), a_bits | b_bits);
  EXPECT_EQ((a - b).bits(), a_bits & ~b_bits);
  EXPECT_EQ((a & b).bits(), a_bits & b_bits);
  EXPECT_EQ(a.complement().bits(), kAllKnownBits & ~a_bits);
  EXPECT_EQ(a.is_empty(), a_bits == 0);
  EXPECT_EQ(a.do_intersect(b), (a_bits & b_bits) != 0);
  EXPECT_EQ(a.are_disjoint(b), (a_bits & b_bits) == 0);
  EXPECT_EQ(a.is_subset(b), (a_bits & ~b_bits) == 0);
  EXPECT_EQ(a == b, a_bits == b_bits);
  EXPECT_EQ(a != b, a_bits != b_bits);
}

TEST(FlagsTest, SetOperationsOnEveryPairOfNamedFlags) {
  for (const Named& x : kNamed) {
    for (const Named& y : kNamed) check_set_operations(x.kernel_bits, y.kernel_bits);
    check_set_operations(x.kernel_bits, 0);
    check_set_operations(0, x.kernel_bits);
  }
}

TEST(FlagsTest, SetOperationsOnRandomValues) {
  std::mt19937 rng(20240601);
  for (int i = 0; i < 2000; ++i) {
    // Mostly known bits, so that subsets and overlaps actually occur.
    const std::uint32_t mask = i % 4 == 0 ? 0xffffffffU : kAllKnownBits;
    const auto random = [&] { return static_cast<std::uint32_t>(rng() & rng()) & mask; };
    check_set_operations(random(), random());
  }
}

TEST(FlagsTest, SetAlgebraLaws) {
  const Flags a = Flags::in + Flags::et + Flags::of_bits(0x40);
  const Flags b = Flags::in + Flags::out;
  EXPECT_TRUE(Flags::none.is_subset(a));
  EXPECT_TRUE(a.is_subset(a));
  EXPECT_TRUE((a - b).are_disjoint(b));
  EXPECT_EQ((a - b) + (a & b), a);
  EXPECT_EQ(a.complement().complement(), a - Flags::of_bits(0x40));  // unknown bits are dropped
  EXPECT_TRUE(a.complement().are_disjoint(a));
  EXPECT_EQ(Flags::none.complement().complement(), Flags::none);
  Flags c = Flags::in;
  c |= Flags::out;
  EXPECT_EQ(c, b);
  c -= Flags::in;
  EXPECT_EQ(c, Flags::out);
  c &= Flags::in;
  EXPECT_EQ(c, Flags::none);
}

TEST(FlagsTest, ToStringOfEachFlag) {
  EXPECT_EQ(Flags::none.to_string(), "()");
  for (const Named& n : kNamed) EXPECT_EQ(n.flag.to_string(), std::string("(").append(n.name) + ")");
}

TEST(FlagsTest, ToStringOrdersNamesAsTheContractSays) {
  EXPECT_EQ((Flags::out + Flags::in).to_string(), "(in out)");
  EXPECT_EQ((Flags::exclusive + Flags::in).to_string(), "(in exclusive)");
  EXPECT_EQ((Flags::oneshot + Flags::et + Flags::hup).to_string(), "(hup et oneshot)");
  EXPECT_EQ(Flags::none.complement().to_string(), "(in out pri err hup et oneshot rdhup wakeup exclusive)");
}

TEST(FlagsTest, ToStringOfUnrecognizedBits) {
  EXPECT_EQ((Flags::in + Flags::of_bits(0x40)).to_string(), "((in) (unrecognized_bits 0x40))");
  EXPECT_EQ(Flags::of_bits(0x800).to_string(), "(() (unrecognized_bits 0x800))");
  EXPECT_EQ((Flags::in + Flags::out + Flags::of_bits(0x840)).to_string(),
            "((in out) (unrecognized_bits 0x840))");
  // Lowercase hex, no padding.
  EXPECT_EQ(Flags::of_bits(0xa00c0).to_string(), "(() (unrecognized_bits 0xa00c0))");
  EXPECT_EQ(Flags::of_bits(0xffffffffU).to_string(),
            "((in out pri err hup et oneshot rdhup wakeup exclusive) (unrecognized_bits 0xfffdfe0))");
}

TEST(FlagsTest, StreamOperatorPrintsToString) {
  for (const Flags f :
       {Flags::none, Flags::in + Flags::out, Flags::of_bits(0x840), Flags::in + Flags::of_bits(0x40)}) {
    std::ostringstream out;
    out << f;
    EXPECT_EQ(out.str(), f.to_string());
  }
}

void expect_parses(std::string_view text, Flags expected) {
  const OrError<Flags> parsed = Flags::of_sexp(text);
  ASSERT_TRUE(parsed.has_value()) << text << ": " << parsed.error().message();
  EXPECT_EQ(*parsed, expected) << text;
}

TEST(FlagsTest, OfSexpRoundTripsNamedSets) {
  // Every subset of the named flags.
  for (std::uint32_t mask = 0; mask < (1U << std::size(kNamed)); ++mask) {
    Flags f;
    for (std::size_t i = 0; i < std::size(kNamed); ++i) {
      if (mask & (1U << i)) f |= kNamed[i].flag;
    }
    expect_parses(f.to_string(), f);
  }
}

TEST(FlagsTest, OfSexpRoundTripsRandomBitPatterns) {
  std::mt19937 rng(7);
  for (int i = 0; i < 5000; ++i) {
    const Flags f = Flags::of_bits(static_cast<std::uint32_t>(rng()));
    expect_parses(f.to_string(), f);
  }
  expect_parses(Flags::of_bits(0xffffffffU).to_string(), Flags::of_bits(0xffffffffU));
}

TEST(FlagsTest, OfSexpTakesAnyWhitespaceOrderAndRepetition) {
  expect_parses("()", Flags::none);
  expect_parses("  ( )  ", Flags::none);
  expect_parses("(out in)", Flags::in + Flags::out);
  expect_parses("(in in in)", Flags::in);
  expect_parses("\t(\n in\r\n  out   et\t)\n", Flags::in + Flags::out + Flags::et);
  expect_parses("(exclusive wakeup rdhup oneshot et hup err pri out in)", Flags::none.complement());
  expect_parses("((in)(unrecognized_bits 0x40))", Flags::in + Flags::of_bits(0x40));
  expect_parses(" ( ( out in out ) ( unrecognized_bits   0x40 ) ) ",
                Flags::in + Flags::out + Flags::of_bits(0x40));
  expect_parses("(() (unrecognized_bits 0x800))", Flags::of_bits(0x800));
  expect_parses("(()(unrecognized_bits 0x800))", Flags::of_bits(0x800));
}

// A malformed input, the token the error must point at (quoted), and its
// offset; an empty token means the end of the input.
struct Malformed {
  std::string_view text;
  std::string_view token;
  std::size_t offset;
};

TEST(FlagsTest, OfSexpRejectsMalformedInputPointingAtTheToken) {
  const Malformed cases[] = {
      // Unknown names.
      {"(foo)", "foo", 1},
      {"(in bogus out)", "bogus", 4},
      {"(IN)", "IN", 1},
      {"(in_)", "in_", 1},
      {"in", "in", 0},
      // Unbalanced parentheses.
      {"", "", 0},
      {"(", "", 1},
      {"(in", "", 3},
      {"(in out", "", 7},
      {")", ")", 0},
      {"(in (out))", "(", 4},
      {"((in)", "", 5},
      {"((in))", ")", 5},
      {"((in) (unrecognized_bits 0x40)", "", 30},
      {"((in) (unrecognized_bits 0x40)))", ")", 31},
      // Trailing text.
      {"(in))", ")", 4},
      {"(in) out", "out", 5},
      {"()()", "(", 2},
      {"(() (unrecognized_bits 0x800)) x", "x", 31},
      // The unrecognized-bits clause.
      {"((in) (bits 0x40))", "bits", 7},
      {"((in) 0x40)", "0x40", 6},
      {"((in) (unrecognized_bits))", ")", 24},
      {"((in) (unrecognized_bits 0x40 0x80))", "0x80", 30},
      // Bad hex.
      {"((in) (unrecognized_bits 40))", "40", 25},
      {"((in) (unrecognized_bits 0x))", "0x", 25},
      {"((in) (unrecognized_bits 0xZZ))", "0xZZ", 25},
      {"((in) (unrecognized_bits 0x4g))", "0x4g", 25},
      {"((in) (unrecognized_bits -0x40))", "-0x40", 25},
      {"((in) (unrecognized_bits 0x100000000))", "0x100000000", 25},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(std::string("input: ") + std::string(c.text));
    const OrError<Flags> parsed = Flags::of_sexp(c.text);
    ASSERT_FALSE(parsed.has_value()) << "parsed as " << *parsed;
    EXPECT_FALSE(static_cast<bool>(parsed));
    EXPECT_EQ(parsed.error().code(), std::make_error_code(std::errc::invalid_argument));
    const std::string message = parsed.error().message();
    if (!c.token.empty()) {
      EXPECT_NE(message.find("\"" + std::string(c.token) + "\""), std::string::npos) << message;
    }
    EXPECT_NE(message.find("offset " + std::to_string(c.offset)), std::string::npos) << message;
    EXPECT_THROW((void)Flags::of_sexp(c.text).value(), std::system_error);
  }
}

}  // namespace
}  // namespace linux_ext::test

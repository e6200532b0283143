// The table: set (ADD vs MOD), find, find_exn, remove, iter, fold, size, and
// every bad input, with the kernel's own view of the set as the witness.

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <climits>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace linux_ext::test {
namespace {

using Table = std::vector<std::pair<int, Flags>>;

// The kernel adds err and hup to every entry it holds.
Flags as_kernel_holds(Flags flags) { return flags + Flags::err + Flags::hup; }

TEST(TableTest, SetAddsThenModifiesWhatTheKernelHolds) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  EXPECT_EQ(kernel_flags(ep.fd(), efd.get()), as_kernel_holds(Flags::in));
  EXPECT_EQ(ep.find(efd.get()), Flags::in);
  EXPECT_EQ(ep.size(), 1U);

  ep.set(efd.get(), Flags::out + Flags::et);
  EXPECT_EQ(kernel_flags(ep.fd(), efd.get()), as_kernel_holds(Flags::out + Flags::et));
  EXPECT_EQ(ep.find(efd.get()), Flags::out + Flags::et);
  EXPECT_EQ(ep.size(), 1U);
  EXPECT_EQ(kernel_entries(ep.fd()).size(), 1U);

  // data.fd is the fd.
  const std::vector<KernelEntry> entries = kernel_entries(ep.fd());
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(entries[0].fd, efd.get());
  EXPECT_EQ(static_cast<int>(entries[0].data & 0xffffffffU), efd.get());
  expect_consistent(ep);
}

TEST(TableTest, SetUsesAddForANewFdAndModForAKnownOne) {
  // The kernel tells ADD from MOD by its refusals: ADD of an fd it already
  // holds is EEXIST, MOD of one it does not is ENOENT. Entries changed
  // behind the table's back make the library's choice visible.
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  Fd b = make_eventfd();

  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = a.get();
  ASSERT_EQ(::epoll_ctl(ep.fd(), EPOLL_CTL_ADD, a.get(), &event), 0);
  EXPECT_EQ(errno_thrown([&] { ep.set(a.get(), Flags::out); }), EEXIST);  // it used ADD
  EXPECT_EQ(ep.find(a.get()), std::nullopt);

  ep.set(b.get(), Flags::in);
  ASSERT_EQ(::epoll_ctl(ep.fd(), EPOLL_CTL_DEL, b.get(), nullptr), 0);
  EXPECT_EQ(errno_thrown([&] { ep.set(b.get(), Flags::out); }), ENOENT);  // it used MOD
  EXPECT_EQ(ep.find(b.get()), Flags::in);  // unchanged after the refusal
}

TEST(TableTest, FindReportsPresenceAndFindExnThrowsForAbsent) {
  Epoll ep = make_epoll(64);
  Fd efd = make_eventfd();
  EXPECT_EQ(ep.find(efd.get()), std::nullopt);
  const std::string what = what_thrown<std::out_of_range>([&] { (void)ep.find_exn(efd.get()); });
  EXPECT_EQ(what, "fd " + std::to_string(efd.get()) + " is not in the epoll set");
  ep.set(efd.get(), Flags::in + Flags::pri);
  EXPECT_EQ(ep.find(efd.get()), Flags::in + Flags::pri);
  EXPECT_EQ(ep.find_exn(efd.get()), Flags::in + Flags::pri);
  // Every other fd of the domain is absent.
  for (int fd = 0; fd < 64; ++fd) {
    if (fd != efd.get()) {
      EXPECT_EQ(ep.find(fd), std::nullopt) << fd;
    }
  }
}

TEST(TableTest, IterAndFoldWalkInAscendingFdOrder) {
  Epoll ep = make_epoll();
  std::vector<Fd> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(make_eventfd());
  // Added in a scrambled order, with distinct flags.
  const Flags choices[] = {Flags::in, Flags::out, Flags::in + Flags::out, Flags::in + Flags::et};
  Table expected;
  for (int i : {5, 2, 7, 0, 3, 6, 1, 4}) {
    const Flags flags = choices[i % 4];
    ep.set(fds[i].get(), flags);
    expected.emplace_back(fds[i].get(), flags);
  }
  std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  EXPECT_EQ(table_of(ep), expected);
  EXPECT_EQ(ep.size(), expected.size());

  const Table folded = ep.fold(Table{}, [](int fd, Flags flags, Table acc) {
    acc.emplace_back(fd, flags);
    return acc;
  });
  EXPECT_EQ(folded, expected);
  // fold passes (fd, flags, acc) and threads acc through.
  // Unsigned, so that a long table wraps instead of overflowing (UB).
  EXPECT_EQ(ep.fold(0UL, [](int fd, Flags, unsigned long acc) { return acc * 1000 + static_cast<unsigned long>(fd); }),
            [&] {
              unsigned long acc = 0;
              for (const auto& [fd, flags] : expected) acc = acc * 1000 + static_cast<unsigned long>(fd);
              return acc;
            }());
}

TEST(TableTest, IterOnAWideDomainSeesFdsAtBothEnds) {
  // The table is dense over [0, num_file_descrs): entries near the top of a
  // wide domain are found and walked like those near 0.
  // The domain is as wide as the open-file limit lets an fd number be.
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  const int domain = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 1 << 20));
  Epoll ep = make_epoll(domain);
  Fd low = make_eventfd();
  Fd high_source = make_eventfd();
  const int high = domain - 1;
  ASSERT_EQ(::dup2(high_source.get(), high), high) << std::strerror(errno);
  Fd high_fd(high);
  ep.set(high, Flags::in);
  ep.set(low.get(), Flags::out);
  EXPECT_EQ(table_of(ep), (Table{{low.get(), Flags::out}, {high, Flags::in}}));
  EXPECT_EQ(ep.find(high), Flags::in);
  ep.remove(high);
  EXPECT_EQ(table_of(ep), (Table{{low.get(), Flags::out}}));
  expect_consistent(ep);
}

TEST(TableTest, IterMatchesASortedSetAcrossTheWholeDomain) {
  // fds scattered over the domain (dups of one eventfd at chosen numbers),
  // clustered and sparse, added and removed at random: iter, fold, size and
  // find must agree with a std::set after every change.
  rlimit limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &limit), 0);
  const int domain = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, 20000));
  Epoll ep = make_epoll(domain);
  Fd source = make_eventfd();
  std::mt19937 rng(99);
  std::set<int> numbers;
  // Neighbours of word and block boundaries, then random numbers.
  for (const int base : {64, 128, 4096, domain - 1}) {
    for (const int delta : {-1, 0, 1}) {
      if (base + delta > source.get() + 20 && base + delta < domain) numbers.insert(base + delta);
    }
  }
  while (numbers.size() < 200) {
    numbers.insert(std::uniform_int_distribution<int>(source.get() + 20, domain - 1)(rng));
  }
  std::vector<Fd> dups;
  std::vector<int> free_numbers;
  for (const int n : numbers) {
    if (::fcntl(n, F_GETFD) >= 0) continue;  // taken by something else
    ASSERT_EQ(::dup2(source.get(), n), n) << std::strerror(errno);
    dups.emplace_back(n);
    free_numbers.push_back(n);
  }
  std::set<int> expected;
  auto check = [&] {
    std::vector<int> walked;
    ep.iter([&](int fd, Flags) { walked.push_back(fd); });
    ASSERT_EQ(walked, std::vector<int>(expected.begin(), expected.end()));
    ASSERT_EQ(ep.size(), expected.size());
    ASSERT_EQ(ep.fold(std::size_t{0}, [](int, Flags, std::size_t n) { return n + 1; }), expected.size());
    ASSERT_NO_THROW(ep.invariant());
  };
  for (int step = 0; step < 1500; ++step) {
    const int fd = free_numbers[std::uniform_int_distribution<std::size_t>(0, free_numbers.size() - 1)(rng)];
    if (expected.count(fd) != 0 && rng() % 2 == 0) {
      ep.remove(fd);
      expected.erase(fd);
    } else {
      ep.set(fd, Flags::in);
      expected.insert(fd);
    }
    ASSERT_EQ(ep.find(fd).has_value(), expected.count(fd) != 0);
    check();
    if (HasFatalFailure()) return;
  }
  // Empty it again, in random order.
  std::vector<int> left(expected.begin(), expected.end());
  std::shuffle(left.begin(), left.end(), rng);
  for (const int fd : left) {
    ep.remove(fd);
    expected.erase(fd);
    check();
    if (HasFatalFailure()) return;
  }
  expect_consistent(ep);
}

TEST(TableTest, FdOutsideTheDomainIsRejectedBeforeAnySystemCall) {
  Epoll ep = make_epoll(16);
  for (const int fd : {-1, INT_MIN, 16, 17, INT_MAX}) {
    SCOPED_TRACE(fd);
    for (const auto& op : std::vector<std::function<void()>>{
             [&] { ep.set(fd, Flags::in); }, [&] { ep.remove(fd); }, [&] { (void)ep.find(fd); },
             [&] { (void)ep.find_exn(fd); }}) {
      const std::string what = what_thrown<std::out_of_range>(op);
      EXPECT_NE(what.find("fd " + std::to_string(fd)), std::string::npos) << what;
      EXPECT_NE(what.find("[0, 16)"), std::string::npos) << what;
    }
  }
  EXPECT_EQ(ep.size(), 0U);
  EXPECT_TRUE(kernel_entries(ep.fd()).empty());
}

TEST(TableTest, FdEqualToTheDomainIsOutsideIt) {
  // An open fd whose number is the domain's size is still refused.
  Fd efd = make_eventfd();
  Epoll ep = make_epoll(efd.get());
  EXPECT_THROW(ep.set(efd.get(), Flags::in), std::out_of_range);
  EXPECT_TRUE(kernel_entries(ep.fd()).empty());
  Epoll wider = make_epoll(efd.get() + 1);
  EXPECT_NO_THROW(wider.set(efd.get(), Flags::in));
}

// Expects `op` to throw std::system_error with `error`, and the table and
// the kernel's set to be exactly as before.
template <class Op>
void expect_refused_and_unchanged(Epoll& ep, int error, Op&& op) {
  const Table table_before = table_of(ep);
  const std::vector<KernelEntry> kernel_before = kernel_entries(ep.fd());
  EXPECT_EQ(errno_thrown(op), error);
  EXPECT_EQ(table_of(ep), table_before);
  const std::vector<KernelEntry> kernel_after = kernel_entries(ep.fd());
  ASSERT_EQ(kernel_after.size(), kernel_before.size());
  for (std::size_t i = 0; i < kernel_after.size(); ++i) {
    EXPECT_EQ(kernel_after[i].fd, kernel_before[i].fd);
    EXPECT_EQ(kernel_after[i].events, kernel_before[i].events);
  }
  expect_consistent(ep);
}

TEST(TableTest, SetOfAClosedFdThrowsEbadf) {
  Epoll ep = make_epoll();
  Fd other = make_eventfd();
  ep.set(other.get(), Flags::in);
  Fd gone = make_eventfd();
  const int number = gone.get();
  gone.reset();
  expect_refused_and_unchanged(ep, EBADF, [&] { ep.set(number, Flags::in); });
}

TEST(TableTest, SetOfARegularFileThrowsEperm) {
  Epoll ep = make_epoll();
  Fd file(check_sys(::memfd_create("regular", MFD_CLOEXEC), "memfd_create"));
  expect_refused_and_unchanged(ep, EPERM, [&] { ep.set(file.get(), Flags::in); });
}

TEST(TableTest, SetOfTheEpollFdItselfThrowsEinval) {
  Epoll ep = make_epoll();
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(ep.fd(), Flags::in); });
}

TEST(TableTest, ExclusiveIsValidOnlyWhenAdding) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  ep.set(a.get(), Flags::in + Flags::exclusive);
  EXPECT_EQ(kernel_flags(ep.fd(), a.get()), as_kernel_holds(Flags::in + Flags::exclusive));
  // Same flags, other flags with exclusive: refused, nothing changes.
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(a.get(), Flags::in + Flags::exclusive); });
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(a.get(), Flags::out + Flags::exclusive); });

  Fd b = make_eventfd();
  ep.set(b.get(), Flags::in);
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(b.get(), Flags::in + Flags::exclusive); });
  EXPECT_EQ(ep.find(b.get()), Flags::in);
}

TEST(TableTest, KernelRefusesToModifyAnExclusiveEntry) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  ep.set(a.get(), Flags::in + Flags::exclusive);
  // The new flags lack exclusive, so the library asks; the kernel says no.
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(a.get(), Flags::in); });
  EXPECT_EQ(ep.find(a.get()), Flags::in + Flags::exclusive);
  // Removing and adding again is the way to change it.
  ep.remove(a.get());
  ep.set(a.get(), Flags::out);
  EXPECT_EQ(kernel_flags(ep.fd(), a.get()), as_kernel_holds(Flags::out));
}

TEST(TableTest, KernelRefusingAnAddLeavesTheFdAbsent) {
  // exclusive does not combine with oneshot: the kernel refuses the ADD.
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  expect_refused_and_unchanged(ep, EINVAL, [&] { ep.set(a.get(), Flags::in + Flags::exclusive + Flags::oneshot); });
  EXPECT_EQ(ep.find(a.get()), std::nullopt);
  EXPECT_EQ(ep.size(), 0U);
}

TEST(TableTest, RemoveDeletesFromTheKernelAndIgnoresAbsentFds) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  EXPECT_NO_THROW(ep.remove(a.get()));  // absent: a no-op
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::out);
  ep.remove(a.get());
  EXPECT_EQ(ep.find(a.get()), std::nullopt);
  EXPECT_EQ(kernel_flags(ep.fd(), a.get()), std::nullopt);
  EXPECT_EQ(ep.size(), 1U);
  EXPECT_NO_THROW(ep.remove(a.get()));
  EXPECT_EQ(ep.size(), 1U);
  EXPECT_EQ(table_of(ep), (Table{{b.get(), Flags::out}}));
  expect_consistent(ep);
}

TEST(TableTest, RemoveOfAClosedFdThrowsEbadfAndTheEntryStaysRemoved) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  const int number = a.get();
  ep.set(number, Flags::in);
  a.reset();  // the kernel drops the entry by itself
  EXPECT_EQ(errno_thrown([&] { ep.remove(number); }), EBADF);
  EXPECT_EQ(ep.find(number), std::nullopt);
  EXPECT_EQ(ep.size(), 0U);
  expect_consistent(ep);
  EXPECT_NO_THROW(ep.remove(number));  // now absent
}

TEST(TableTest, SetWithUnchangedFlagsKeepsTheEntry) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd();
  for (const Flags flags : {Flags::in, Flags::in + Flags::et, Flags::in + Flags::oneshot, Flags::none}) {
    ep.set(a.get(), flags);
    ep.set(a.get(), flags);
    EXPECT_EQ(ep.find(a.get()), flags);
    EXPECT_EQ(kernel_flags(ep.fd(), a.get()), as_kernel_holds(flags));
    EXPECT_EQ(ep.size(), 1U);
  }
}

TEST(TableTest, SetWorksForEachKindOfPollableFd) {
  Epoll ep = make_epoll();
  Pipe p = make_pipe();
  auto [s1, s2] = make_socketpair();
  Fd e = make_eventfd();
  ep.set(p.read.get(), Flags::in);
  ep.set(p.write.get(), Flags::out);
  ep.set(s1.get(), Flags::in + Flags::out + Flags::rdhup);
  ep.set(e.get(), Flags::in + Flags::pri);
  ep.set(s2.get(), Flags::none);
  EXPECT_EQ(ep.size(), 5U);
  EXPECT_EQ(kernel_entries(ep.fd()).size(), 5U);
  expect_consistent(ep);
}

// Every operation a closed Epoll refuses, each by name.
TEST(ClosedTest, EveryOperationThrowsLogicErrorSayingClosed) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ep.close();
  sigset_t mask;
  sigemptyset(&mask);
  const std::pair<const char*, std::function<void()>> ops[] = {
      {"fd", [&] { (void)ep.fd(); }},
      {"find", [&] { (void)ep.find(a.get()); }},
      {"find_exn", [&] { (void)ep.find_exn(a.get()); }},
      {"set", [&] { ep.set(a.get(), Flags::in); }},
      {"set out of domain", [&] { ep.set(-1, Flags::in); }},
      {"remove", [&] { ep.remove(a.get()); }},
      {"iter", [&] { ep.iter([](int, Flags) {}); }},
      {"fold", [&] { (void)ep.fold(0, [](int, Flags, int acc) { return acc; }); }},
      {"wait", [&] { (void)ep.wait(Timeout::immediately()); }},
      {"wait never", [&] { (void)ep.wait(Timeout::never()); }},
      {"wait_timeout_after", [&] { (void)ep.wait_timeout_after(1ms); }},
      {"pwait", [&] { (void)ep.pwait(Timeout::immediately(), mask); }},
      {"iter_ready", [&] { ep.iter_ready([](int, Flags) {}); }},
      {"fold_ready", [&] { (void)ep.fold_ready(0, [](int acc, int, Flags) { return acc; }); }},
      {"ready", [&] { (void)ep.ready(); }},
      {"check_against_kernel", [&] { ep.check_against_kernel(); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    const std::string what = what_thrown<std::logic_error>(op);
    EXPECT_NE(what.find("closed"), std::string::npos) << what;
  }
  // What a closed Epoll still answers.
  EXPECT_TRUE(ep.is_closed());
  EXPECT_EQ(ep.size(), 0U);
  EXPECT_EQ(ep.num_ready(), 0);
  ep.clear_ready();
  EXPECT_EQ(ep.num_ready(), 0);
  EXPECT_NO_THROW(ep.invariant());
  EXPECT_NO_THROW(ep.close());
  EXPECT_EQ(ep.to_sexp(), "Closed");
}

TEST(ClosedTest, OutOfDomainAndClosedAreToldApart) {
  // std::out_of_range derives from std::logic_error: a closed set must say
  // "closed", and an open one must say which fd is out of the domain.
  Epoll ep = make_epoll(4);
  const std::string open_what = what_thrown<std::out_of_range>([&] { ep.set(4, Flags::in); });
  EXPECT_EQ(open_what.find("closed"), std::string::npos) << open_what;
  ep.close();
  const std::string closed_what = what_thrown<std::logic_error>([&] { ep.set(4, Flags::in); });
  EXPECT_NE(closed_what.find("closed"), std::string::npos) << closed_what;
}

}  // namespace
}  // namespace linux_ext::test

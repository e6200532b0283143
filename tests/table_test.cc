// The table: set (ADD vs MOD), find, find_exn, remove, iter, fold, size,
// resize, and every bad input, with the kernel's own view of the set as the
// witness; and what a closed Epoll refuses.

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <climits>
#include <cstring>
#include <functional>
#include <map>
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
  EXPECT_EQ(ep.find(b.get()), Flags::in);                                 // unchanged after the refusal
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

TEST(TableTest, IterAndFoldVisitEachFdOnce) {
  // The order of the walk is left open: what is promised is that each fd
  // of the set is visited once, with its flags. Removes and a MOD in
  // between, so that the table is not simply in the order of the adds.
  Epoll ep = make_epoll();
  std::vector<Fd> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(make_eventfd());
  const Flags choices[] = {Flags::in, Flags::out, Flags::in + Flags::out, Flags::in + Flags::et};
  std::map<int, Flags> expected;
  for (int i : {5, 2, 7, 0, 3, 6, 1, 4}) {
    ep.set(fds[i].get(), choices[i % 4]);
    expected[fds[i].get()] = choices[i % 4];
  }
  for (int i : {2, 5}) {
    ep.remove(fds[i].get());
    expected.erase(fds[i].get());
  }
  ep.set(fds[7].get(), Flags::pri);
  expected[fds[7].get()] = Flags::pri;

  EXPECT_EQ(table_of(ep), Table(expected.begin(), expected.end()));  // table_of fails on an fd seen twice
  EXPECT_EQ(ep.size(), expected.size());
  // fold hands each call the accumulator the one before returned.
  Table folded = ep.fold(Table{}, [](int fd, Flags flags, Table acc) {
    acc.emplace_back(fd, flags);
    return acc;
  });
  std::sort(folded.begin(), folded.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  EXPECT_EQ(folded, Table(expected.begin(), expected.end()));
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

// An operation of the API, by the name its errors give it.
struct NamedOp {
  const char* name;
  std::function<void()> run;
};

TEST(TableTest, FdOutsideTheDomainIsRejectedNamingTheOperation) {
  Epoll ep = make_epoll(16);
  for (const int fd : {-1, INT_MIN, 16, 17, INT_MAX}) {
    SCOPED_TRACE(fd);
    const NamedOp ops[] = {
        {"set", [&] { ep.set(fd, Flags::in); }},
        {"remove", [&] { ep.remove(fd); }},
        {"find", [&] { (void)ep.find(fd); }},
        {"find_exn", [&] { (void)ep.find_exn(fd); }},
    };
    for (const auto& [name, op] : ops) {
      const std::string what = what_thrown<std::out_of_range>(op);
      EXPECT_EQ(what.rfind("Epoll::" + std::string(name) + ": ", 0), 0U) << what;
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
  expect_refused_and_unchanged(ep, EINVAL,
                               [&] { ep.set(a.get(), Flags::in + Flags::exclusive + Flags::oneshot); });
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

// A second number, at least `at_least`, for the file of `fd`.
Fd dup_at_or_above(const Fd& fd, int at_least) {
  return Fd(check_sys(::fcntl(fd.get(), F_DUPFD_CLOEXEC, at_least), "fcntl(F_DUPFD_CLOEXEC)"));
}

TEST(ResizeTest, GrowAndShrinkKeepTheSetAndEmptyTheReadySet) {
  Epoll ep = make_epoll(64, 8);
  Fd a = make_eventfd(1);
  Fd b = make_eventfd();
  Pipe p = make_pipe();
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::out);
  ep.set(p.read.get(), Flags::in + Flags::et);
  const Fd high = dup_at_or_above(a, 100);  // another entry for a's file, once the domain takes it
  EXPECT_THROW(ep.set(high.get(), Flags::in), std::out_of_range);
  const int epoll_fd = ep.fd();

  // Each resize starts from a full ready set (a, b and, once added, high
  // are ready), and must leave it empty, the table and the instance as they
  // were, and the new sizes in force.
  auto resize = [&](int num_file_descrs, int max_ready_events) {
    SCOPED_TRACE("resize(" + std::to_string(num_file_descrs) + ", " + std::to_string(max_ready_events) + ")");
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    const Table table = table_of(ep);
    ep.resize(num_file_descrs, max_ready_events);
    EXPECT_EQ(ep.fd(), epoll_fd);
    EXPECT_EQ(ep.num_file_descrs(), num_file_descrs);
    EXPECT_EQ(ep.max_ready_events(), max_ready_events);
    EXPECT_EQ(table_of(ep), table);
    EXPECT_EQ(ep.size(), table.size());
    for (const auto& [fd, flags] : table) EXPECT_EQ(ep.find(fd), flags) << fd;
    EXPECT_EQ(ep.num_ready(), 0);
    EXPECT_TRUE(ep.ready().empty());
    expect_consistent(ep);
    // The next wait returns what the new buffer holds.
    ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
    EXPECT_EQ(ep.num_ready(),
              std::min(max_ready_events, static_cast<int>(table.size()) - 1));  // all but the pipe
  };

  resize(4096, 2);  // grow the domain, shrink the buffer
  ep.set(high.get(), Flags::in);
  expect_consistent(ep);
  resize(high.get() + 1, 1);  // shrink to just above the highest fd
  EXPECT_THROW(ep.set(high.get() + 1, Flags::in), std::out_of_range);
  ep.remove(high.get());
  resize(64, 16);  // shrink the domain, grow the buffer
  const std::string what = what_thrown<std::out_of_range>([&] { ep.set(high.get(), Flags::in); });
  EXPECT_NE(what.find("[0, 64)"), std::string::npos) << what;
}

TEST(ResizeTest, AShrinkThatWouldDropAnFdIsRefusedAndChangesNothing) {
  Epoll ep = make_epoll(1024, 8);
  Fd a = make_eventfd(1);
  Fd b = make_eventfd(1);
  const Fd high = dup_at_or_above(a, 200);
  ep.set(a.get(), Flags::in);
  ep.set(b.get(), Flags::in + Flags::out);
  ep.set(high.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ASSERT_EQ(ep.num_ready(), 3);
  const Snapshot before(ep);
  // Down to exactly the highest fd, which the domain would then exclude.
  for (const int num_file_descrs : {high.get(), high.get() - 1, 100}) {
    SCOPED_TRACE(num_file_descrs);
    const std::string what = what_thrown<std::invalid_argument>([&] { ep.resize(num_file_descrs, 8); });
    EXPECT_EQ(what.rfind("Epoll::resize: ", 0), 0U) << what;
    EXPECT_NE(what.find("fd " + std::to_string(high.get())), std::string::npos) << what;
    EXPECT_EQ(Snapshot(ep), before);
    expect_consistent(ep);
  }
  // Down to nothing: every fd would be dropped, and the error names one.
  const std::string what = what_thrown<std::invalid_argument>([&] { ep.resize(0, 8); });
  const bool names_one = what.find("fd " + std::to_string(a.get())) != std::string::npos ||
                         what.find("fd " + std::to_string(b.get())) != std::string::npos ||
                         what.find("fd " + std::to_string(high.get())) != std::string::npos;
  EXPECT_TRUE(names_one) << what;
  EXPECT_EQ(Snapshot(ep), before);
  // With the high fd gone, the same shrink goes through.
  ep.remove(high.get());
  ep.resize(100, 8);
  EXPECT_EQ(ep.num_file_descrs(), 100);
}

TEST(ResizeTest, SizesThatCreateRefusesAreRefused) {
  Epoll ep = make_epoll(64, 8);
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const Snapshot before(ep);
  const struct {
    int num_file_descrs;
    int max_ready_events;
    const char* argument;
    int value;
  } cases[] = {
      {-1, 8, "num_file_descrs", -1},
      {INT_MIN, 8, "num_file_descrs", INT_MIN},
      {64, 0, "max_ready_events", 0},
      {64, -1, "max_ready_events", -1},
      {64, kMaxReadyEvents + 1, "max_ready_events", kMaxReadyEvents + 1},
      {64, INT_MAX, "max_ready_events", INT_MAX},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("resize(" + std::to_string(c.num_file_descrs) + ", " + std::to_string(c.max_ready_events) +
                 ")");
    const std::string what =
        what_thrown<std::invalid_argument>([&] { ep.resize(c.num_file_descrs, c.max_ready_events); });
    EXPECT_EQ(what.rfind("Epoll::resize: ", 0), 0U) << what;
    EXPECT_NE(what.find(c.argument), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(c.value)), std::string::npos) << what;
    EXPECT_EQ(Snapshot(ep), before);
  }
  // The edges of the valid ranges are taken.
  ep.remove(a.get());
  ep.resize(0, 1);
  EXPECT_EQ(ep.num_file_descrs(), 0);
  EXPECT_EQ(ep.max_ready_events(), 1);
  expect_consistent(ep);
}

// Every operation a closed Epoll refuses, each naming itself.
TEST(ClosedTest, EveryOperationThrowsLogicErrorSayingClosed) {
  Epoll ep = make_epoll();
  Fd a = make_eventfd(1);
  ep.set(a.get(), Flags::in);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ep.close();
  sigset_t mask;
  sigemptyset(&mask);
  const NamedOp ops[] = {
      {"fd", [&] { (void)ep.fd(); }},
      {"find", [&] { (void)ep.find(a.get()); }},
      {"find_exn", [&] { (void)ep.find_exn(a.get()); }},
      {"set", [&] { ep.set(a.get(), Flags::in); }},
      {"set", [&] { ep.set(-1, Flags::in); }},  // closed, not out of the domain
      {"remove", [&] { ep.remove(a.get()); }},
      {"iter", [&] { ep.iter([](int, Flags) {}); }},
      {"fold", [&] { (void)ep.fold(0, [](int, Flags, int acc) { return acc; }); }},
      {"resize", [&] { ep.resize(64, 8); }},
      {"wait", [&] { (void)ep.wait(Timeout::immediately()); }},
      {"wait", [&] { (void)ep.wait(Timeout::never()); }},
      {"wait_timeout_after", [&] { (void)ep.wait_timeout_after(1ms); }},
      {"pwait", [&] { (void)ep.pwait(Timeout::immediately(), mask); }},
      {"iter_ready", [&] { ep.iter_ready([](int, Flags) {}); }},
      {"fold_ready", [&] { (void)ep.fold_ready(0, [](int acc, int, Flags) { return acc; }); }},
      {"ready", [&] { (void)ep.ready(); }},
      {"check_against_kernel", [&] { ep.check_against_kernel(); }},
      {"after_fork", [&] { ep.after_fork(); }},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    EXPECT_EQ(what_thrown<std::logic_error>(op), "Epoll::" + std::string(name) + ": the epoll set is closed");
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

// Epoll::to_sexp and operator<<: the whole object on one line.

#include <algorithm>
#include <map>
#include <sstream>
#include <string>

#include "test_util.h"

namespace linux_ext::test {
namespace {

std::string printed(const Epoll& ep) {
  std::ostringstream out;
  out << ep;
  return out.str();
}

TEST(SexpTest, EmptySet) {
  Epoll ep = make_epoll(1024, 256);
  const std::string expected =
      "((epollfd " + std::to_string(ep.fd()) +
      ") (flags_by_fd ()) (max_ready_events 256) (num_ready_events 0) (ready_events ()))";
  EXPECT_EQ(ep.to_sexp(), expected);
  EXPECT_EQ(printed(ep), expected);
}

TEST(SexpTest, TheContractsExampleShape) {
  Epoll ep = make_epoll(1024, 256);
  Fd x = make_eventfd();
  Fd y = make_eventfd();
  const int low = std::min(x.get(), y.get());
  const int high = std::max(x.get(), y.get());
  // Added high first: printing is in ascending fd order all the same.
  ep.set(high, Flags::in + Flags::out);
  ep.set(low, Flags::in);
  poke(low);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  // high is writable but not readable, and watched for both: it is ready too.
  const std::string expected =
      "((epollfd " + std::to_string(ep.fd()) + ") (flags_by_fd ((" + std::to_string(low) + " (in)) (" +
      std::to_string(high) + " (in out)))) (max_ready_events 256) (num_ready_events 2) (ready_events (" +
      [&] {
        // The ready events in the kernel's order, each as the contract shows.
        std::string events;
        for (auto [fd, flags] : ep.ready()) {
          if (!events.empty()) events += ' ';
          events +=
              "((file_descr " + std::to_string(fd) + ") (flags " + (fd == low ? "(in)" : "(out)") + "))";
        }
        return events;
      }() +
      ")))";
  EXPECT_EQ(ep.to_sexp(), expected);
  EXPECT_EQ(printed(ep), expected);
}

TEST(SexpTest, TheTableIsInAscendingFdOrderWhateverOrderIterWalks) {
  // Added in a scrambled order, then two removed and one changed: iter's
  // order is its own, to_sexp's is ascending.
  Epoll ep = make_epoll(1024, 4);
  std::vector<Fd> fds;
  for (int i = 0; i < 8; ++i) fds.push_back(make_eventfd());
  std::map<int, Flags> table;
  for (const int i : {5, 2, 7, 0, 3, 6, 1, 4}) {
    const Flags flags = i % 2 == 0 ? Flags::in : Flags::in + Flags::out;
    ep.set(fds[i].get(), flags);
    table[fds[i].get()] = flags;
  }
  for (const int i : {0, 6}) {
    ep.remove(fds[i].get());
    table.erase(fds[i].get());
  }
  ep.set(fds[4].get(), Flags::out);
  table[fds[4].get()] = Flags::out;
  std::string flags_by_fd;
  for (const auto& [fd, flags] : table) {
    flags_by_fd += (flags_by_fd.empty() ? "(" : " (") + std::to_string(fd) + " " + flags.to_string() + ")";
  }
  EXPECT_EQ(ep.to_sexp(), "((epollfd " + std::to_string(ep.fd()) + ") (flags_by_fd (" + flags_by_fd +
                              ")) (max_ready_events 4) (num_ready_events 0) (ready_events ()))");
}

TEST(SexpTest, ExactlyTheContractsExample) {
  // One watched fd ready for in, another watched for in and out.
  Epoll ep = make_epoll(1024, 256);
  Fd readable = make_eventfd();
  Pipe p = make_pipe();  // the read end: never writable
  const int a = readable.get();
  const int b = p.read.get();
  ep.set(a, Flags::in);
  ep.set(b, Flags::in + Flags::out);
  poke(a);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const std::string table = a < b ? "((" + std::to_string(a) + " (in)) (" + std::to_string(b) + " (in out)))"
                                  : "((" + std::to_string(b) + " (in out)) (" + std::to_string(a) + " (in)))";
  EXPECT_EQ(ep.to_sexp(), "((epollfd " + std::to_string(ep.fd()) + ") (flags_by_fd " + table +
                              ") (max_ready_events 256) (num_ready_events 1) (ready_events (((file_descr " +
                              std::to_string(a) + ") (flags (in))))))");
}

TEST(SexpTest, UnrecognizedBitsAndClearedReadySet) {
  Epoll ep = make_epoll(64, 3);
  Fd e = make_eventfd(1);
  ep.set(e.get(), Flags::in + Flags::et);
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  ep.clear_ready();
  EXPECT_EQ(ep.to_sexp(), "((epollfd " + std::to_string(ep.fd()) + ") (flags_by_fd ((" +
                              std::to_string(e.get()) +
                              " (in et)))) (max_ready_events 3) (num_ready_events 0) (ready_events ()))");
}

TEST(SexpTest, ClosedPrintsClosed) {
  Epoll ep = make_epoll();
  ep.close();
  EXPECT_EQ(ep.to_sexp(), "Closed");
  EXPECT_EQ(printed(ep), "Closed");
  Epoll moved_to = make_epoll();
  Epoll moved_from = make_epoll();
  moved_to = std::move(moved_from);
  EXPECT_EQ(printed(moved_from), "Closed");  // NOLINT(bugprone-use-after-move)
}

TEST(SexpTest, IsOneLine) {
  Epoll ep = make_epoll();
  std::vector<Fd> fds;
  for (int i = 0; i < 5; ++i) {
    fds.push_back(make_eventfd(1));
    ep.set(fds.back().get(), Flags::in + Flags::of_bits(0x40));
  }
  ASSERT_EQ(ep.wait(Timeout::immediately()), WaitResult::ok);
  const std::string text = ep.to_sexp();
  EXPECT_EQ(text.find('\n'), std::string::npos) << text;
  EXPECT_NE(text.find("((in) (unrecognized_bits 0x40))"), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '('), std::count(text.begin(), text.end(), ')'));
}

}  // namespace
}  // namespace linux_ext::test

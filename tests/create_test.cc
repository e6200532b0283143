// Epoll::create, the OrError surface, and an Epoll's lifetime: close, move.

#include <sys/epoll.h>
#include <sys/resource.h>

#include <climits>
#include <string>

#include "test_util.h"

namespace linux_ext::test {
namespace {

// Expects `create` to return invalid_argument naming `argument` and `value`.
void expect_invalid(int num_file_descrs, int max_ready_events, const std::string& argument, int value) {
  SCOPED_TRACE("create(" + std::to_string(num_file_descrs) + ", " + std::to_string(max_ready_events) + ")");
  OrError<Epoll> created = Epoll::create(num_file_descrs, max_ready_events);
  ASSERT_FALSE(created.has_value());
  EXPECT_FALSE(static_cast<bool>(created));
  EXPECT_EQ(created.error().code(), std::make_error_code(std::errc::invalid_argument));
  const std::string message = created.error().message();
  EXPECT_NE(message.find(argument), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(value)), std::string::npos) << message;
  // value() throws the error as a std::system_error with the same code.
  try {
    (void)created.value();
    ADD_FAILURE() << "value() did not throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), created.error().code());
    EXPECT_NE(std::string(e.what()).find(argument), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)std::move(created).value(), std::system_error);
}

TEST(CreateTest, RejectsANegativeDomain) {
  expect_invalid(-1, 16, "num_file_descrs", -1);
  expect_invalid(INT_MIN, 16, "num_file_descrs", INT_MIN);
}

TEST(CreateTest, RejectsANonPositiveMaxReadyEvents) {
  expect_invalid(16, 0, "max_ready_events", 0);
  expect_invalid(16, -1, "max_ready_events", -1);
  expect_invalid(16, INT_MIN, "max_ready_events", INT_MIN);
}

TEST(CreateTest, RejectsAMaxReadyEventsTooLargeForEpollWait) {
  expect_invalid(16, kMaxReadyEvents + 1, "max_ready_events", kMaxReadyEvents + 1);
  expect_invalid(16, INT_MAX, "max_ready_events", INT_MAX);
}

TEST(CreateTest, AcceptsTheEdgesOfTheValidRanges) {
  for (const auto& [domain, max_events] : {std::pair{0, 1}, std::pair{1, 1}, std::pair{100000, 1}}) {
    OrError<Epoll> created = Epoll::create(domain, max_events);
    ASSERT_TRUE(created.has_value()) << created.error().message();
    EXPECT_TRUE(static_cast<bool>(created));
    EXPECT_EQ(created->num_file_descrs(), domain);
    EXPECT_EQ((*created).max_ready_events(), max_events);
    EXPECT_EQ(created->size(), 0U);
    EXPECT_EQ(created->num_ready(), 0);
    EXPECT_FALSE(created->is_closed());
    expect_consistent(*created);
  }
}

TEST(CreateTest, ErrorOnAValueThrowsLogicError) {
  OrError<Epoll> created = Epoll::create(8, 8);
  ASSERT_TRUE(created.has_value());
  EXPECT_THROW((void)created.error(), std::logic_error);
}

TEST(CreateTest, EpollFdIsCloseOnExec) {
  Epoll ep = make_epoll();
  const int fd_flags = ::fcntl(ep.fd(), F_GETFD);
  ASSERT_GE(fd_flags, 0);
  EXPECT_TRUE(fd_flags & FD_CLOEXEC);
  // And it really is an epoll instance: the kernel takes EPOLL_CTL_ADD on it.
  Fd efd = make_eventfd();
  epoll_event event{};
  event.events = EPOLLIN;
  EXPECT_EQ(::epoll_ctl(ep.fd(), EPOLL_CTL_ADD, efd.get(), &event), 0);
}

TEST(CreateTest, ReturnsTheErrnoOfEpollCreate1) {
  // With no fd left to give, epoll_create1 fails with EMFILE; a child
  // process lowers its own limit so that this one keeps its fds.
  const int code = exit_code_in_child([] {
    const rlimit none{0, 0};
    if (::setrlimit(RLIMIT_NOFILE, &none) != 0) return 10;
    OrError<Epoll> created = Epoll::create(16, 16);
    if (created.has_value()) return 11;
    if (created.error().code() != std::error_code(EMFILE, std::generic_category())) return 12;
    if (created.error().message() != "epoll_create1: Too many open files") return 13;
    try {
      (void)created.value();
      return 14;
    } catch (const std::system_error& e) {
      return e.code().value() == EMFILE ? 0 : 15;
    }
  });
  EXPECT_EQ(code, 0)
      << "10: setrlimit failed, 11: create succeeded, 12: wrong code, "
         "13: message is not \"epoll_create1: Too many open files\", 14/15: value() did not throw EMFILE";
}

TEST(CreateTest, ErrorMessageIsContextThenCodeText) {
  const Error error(std::error_code(EMFILE, std::generic_category()), "epoll_create1");
  EXPECT_EQ(error.message(), "epoll_create1: " + std::error_code(EMFILE, std::generic_category()).message());
  EXPECT_EQ(error.code().value(), EMFILE);
}

// Whether `fd` is an open file descriptor.
bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

TEST(LifetimeTest, CloseReleasesTheFdAndIsIdempotent) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  const int epoll_fd = ep.fd();
  ep.close();
  EXPECT_TRUE(ep.is_closed());
  EXPECT_FALSE(is_open(epoll_fd));
  EXPECT_EQ(ep.size(), 0U);
  EXPECT_NO_THROW(ep.close());
  EXPECT_TRUE(ep.is_closed());
  expect_consistent(ep);
}

TEST(LifetimeTest, DestructorClosesTheFd) {
  int epoll_fd = -1;
  {
    Epoll ep = make_epoll();
    epoll_fd = ep.fd();
    ASSERT_TRUE(is_open(epoll_fd));
  }
  EXPECT_FALSE(is_open(epoll_fd));
}

TEST(LifetimeTest, MoveConstructionTakesEverythingAndClosesTheSource) {
  Epoll source = make_epoll(64, 8);
  Fd efd = make_eventfd(1);
  source.set(efd.get(), Flags::in);
  ASSERT_EQ(source.wait(Timeout::immediately()), WaitResult::ok);
  const int epoll_fd = source.fd();

  Epoll target(std::move(source));
  EXPECT_TRUE(source.is_closed());  // NOLINT(bugprone-use-after-move): the contract says so
  EXPECT_EQ(source.size(), 0U);
  EXPECT_EQ(source.num_ready(), 0);
  EXPECT_EQ(source.to_sexp(), "Closed");
  EXPECT_THROW((void)source.fd(), std::logic_error);
  EXPECT_NO_THROW(source.invariant());

  EXPECT_EQ(target.fd(), epoll_fd);
  EXPECT_TRUE(is_open(epoll_fd));
  EXPECT_EQ(target.num_file_descrs(), 64);
  EXPECT_EQ(target.max_ready_events(), 8);
  EXPECT_EQ(target.find(efd.get()), Flags::in);
  expect_ready(target, {{efd.get(), Flags::in}});
  expect_consistent(target);
}

TEST(LifetimeTest, MoveAssignmentClosesTheTargetsOwnInstance) {
  Epoll source = make_epoll(64, 8);
  Epoll target = make_epoll(32, 4);
  Fd a = make_eventfd();
  Fd b = make_eventfd();
  source.set(a.get(), Flags::in);
  target.set(b.get(), Flags::out);
  const int source_fd = source.fd();
  const int old_target_fd = target.fd();

  target = std::move(source);
  EXPECT_TRUE(source.is_closed());  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(is_open(old_target_fd));
  EXPECT_EQ(target.fd(), source_fd);
  EXPECT_EQ(target.num_file_descrs(), 64);
  EXPECT_EQ(target.max_ready_events(), 8);
  EXPECT_EQ(table_of(target), (std::vector<std::pair<int, Flags>>{{a.get(), Flags::in}}));
  expect_consistent(target);

  // Assigning into a closed Epoll, and from a closed one.
  Epoll closed = make_epoll();
  closed.close();
  closed = std::move(target);
  EXPECT_EQ(closed.fd(), source_fd);
  target = std::move(source);
  EXPECT_TRUE(target.is_closed());
}

TEST(LifetimeTest, SelfMoveAssignmentKeepsTheSet) {
  Epoll ep = make_epoll();
  Fd efd = make_eventfd();
  ep.set(efd.get(), Flags::in);
  Epoll& alias = ep;
  ep = std::move(alias);
  EXPECT_FALSE(ep.is_closed());
  EXPECT_EQ(ep.find(efd.get()), Flags::in);
  expect_consistent(ep);
}

}  // namespace
}  // namespace linux_ext::test

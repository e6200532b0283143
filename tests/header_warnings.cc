// Compiled (not run) with strict warnings as errors, so that the public
// headers stay clean in user code built with -Wconversion -Werror: every
// inline function and template of the API is instantiated here.

#include <linux_ext/epoll.h>

#include <chrono>
#include <sstream>

namespace {

using linux_ext::Epoll;
using Flags = Epoll::Flags;

[[maybe_unused]] int use_every_inline_member(Epoll& ep, const sigset_t& mask) {
  constexpr Flags flags = (Flags::in | Flags::out) - Flags::pri + Flags::et;
  static_assert(flags.is_subset(Flags::none.complement()) && !flags.is_empty());
  ep.set(3, flags);
  ep.remove(3);
  int sum = 0;
  if (ep.find(4)) sum += static_cast<int>(ep.find_exn(4).bits());
  ep.iter([&](int fd, Flags f) { sum += fd + static_cast<int>(f.bits()); });
  sum += ep.fold(0, [](int fd, Flags, int acc) { return acc + fd; });
  ep.wait(Epoll::Timeout::never());
  ep.wait(Epoll::Timeout::immediately());
  ep.wait_timeout_after(std::chrono::milliseconds(1));
  ep.pwait(Epoll::Timeout::after_precise(std::chrono::microseconds(1)), mask);
  ep.iter_ready([&](int fd, Flags) { sum += fd; });
  sum += ep.fold_ready(0, [](int acc, int fd, Flags) { return acc + fd; });
  for (auto [fd, f] : ep.ready()) sum += fd + static_cast<int>(f.bits());
  const Epoll::ReadyRange ready = ep.ready();
  if (!ready.empty()) sum += ready.begin()->fd + ready[0].fd + static_cast<int>(ready.size());
  ep.clear_ready();
  std::ostringstream out;
  out << ep << flags;
  const linux_ext::OrError<Flags> parsed = Flags::of_sexp(out.str());
  if (!parsed) sum += parsed.error().code().value();
  return sum + ep.num_ready() + static_cast<int>(ep.size());
}

}  // namespace

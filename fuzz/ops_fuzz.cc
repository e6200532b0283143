// Fuzz target: an operation-sequence interpreter over one Epoll.
//
// The input's bytes choose the operations (four bytes each: the kind, the
// fd, the flags, and the timeout of a wait, the sizes of a resize or what a
// walk of the ready set changes) on the harness of tests/epoll_model.h, which
// runs each on a real Epoll and on the exact model of its table and of the
// kernel's set, and compares after every step (check_against_kernel every
// step too; the table compared as a set, since iter's order is left open).
// Any disagreement aborts with the decoded sequence. Waits are polls only,
// so that each input runs in microseconds.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "epoll_model.h"

namespace {

using linux_ext::model::Op;
using linux_ext::model::OpKind;

// The fd of an operation: mostly 0..39 (the fds the harness opens start
// low and run past the domain of 32), the rest far outside it.
int decode_fd(std::uint8_t byte) {
  if (byte < 240) return byte % 40;
  const int far[] = {-1, -2, INT_MIN, INT_MAX, 32, 33, 1 << 20, 1000};
  return far[byte % 8];
}

// A byte of flags: each bit one flag, so that every combination is reachable.
std::uint32_t decode_flags(std::uint8_t byte) {
  using Flags = linux_ext::Epoll::Flags;
  const Flags bits[] = {Flags::in, Flags::out,     Flags::pri,       Flags::rdhup,
                        Flags::et, Flags::oneshot, Flags::exclusive, Flags::wakeup};
  Flags f;
  for (int i = 0; i < 8; ++i) {
    if ((byte >> i) & 1U) f |= bits[i];
  }
  return f.bits();
}

std::vector<Op> decode(const std::uint8_t* data, std::size_t size) {
  std::vector<Op> ops;
  for (std::size_t i = 0; i + 4 <= size && ops.size() < 512; i += 4) {
    Op op{static_cast<OpKind>(data[i] % linux_ext::model::kNumOpKinds)};
    op.fd = decode_fd(data[i + 1]);
    op.flags = decode_flags(data[i + 2]);
    // A wait is a poll, as wait or as pwait (see model::wait_timeout:
    // kind >= 2); other kinds take the byte as it is (model::resize_sizes,
    // the walk's choice at each event).
    op.arg = op.kind == OpKind::wait ? (data[i + 3] & 1U) | (2U << 1) : data[i + 3];
    ops.push_back(op);
  }
  return ops;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::vector<Op> ops = decode(data, size);
  linux_ext::model::Harness harness;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const std::string failure = harness.step(ops[i]);
    if (failure.empty()) continue;
    std::vector<Op> done(ops.begin(), ops.begin() + static_cast<long>(i) + 1);
    std::fprintf(stderr, "ops_fuzz: step %zu disagrees: %s\nThe sequence:\n%s", i + 1, failure.c_str(),
                 linux_ext::model::to_string(done).c_str());
    std::abort();
  }
  return 0;
}

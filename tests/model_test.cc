// Model-based test: random operations on an Epoll and on a model of its
// table and of the kernel's set (tests/epoll_model.h), over pipes,
// socketpairs, eventfds, regular files and dups, compared after every step:
// the outcome of each operation (returned, or which exception with which
// errno), the whole table as a set (iter visits each fd once), find over
// the whole domain, size(), the sizes a resize left, invariant() and
// check_against_kernel() against what the model says about agreement; and
// after every wait, the events it reported (exactly, for eventfds, whose
// counts the model knows). Walks of the ready set that change the table,
// clear_ready and resize are among the operations.
//
// Each shard runs a range of seeds; every seed is printed. A failing run is
// shrunk to a short sequence, which is printed with its seed.
//   MODEL_SEED=n      run only seed n (the shard that owns it)
//   MODEL_SEEDS=n     seeds per shard (default 125)
//   MODEL_OPS=n       operations per seed (default 1000)
//   MODEL_CHECK_EVERY=n  compare with the kernel's /proc view every n steps

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "epoll_model.h"
#include "test_util.h"

namespace linux_ext::model {
namespace {

using test::env_or;

constexpr int kShards = 8;

// Runs one seed; on a disagreement, shrinks the sequence and fails the test
// with the seed and the short sequence.
void run_seed(std::uint64_t seed, long num_ops, const Config& config, long& ops_done, long& kernel_checks,
              std::map<std::string, long>& outcomes) {
  std::mt19937_64 rng(seed);
  std::vector<Op> ops;
  std::string failure;
  {
    Harness harness(config);
    for (long i = 0; i < num_ops && failure.empty(); ++i) {
      ops.push_back(random_op(rng, harness));
      failure = harness.step(ops.back());
    }
    ops_done += static_cast<long>(ops.size());
    kernel_checks += harness.kernel_checks();
    for (const auto& [name, n] : harness.outcomes()) outcomes[name] += n;
  }
  if (failure.empty()) return;
  const std::vector<Op> shrunk = shrink(ops, config);
  ADD_FAILURE() << "seed " << seed << " failed after " << ops.size() << " operations: " << failure
                << "\nShrunk to " << shrunk.size() << " operations:\n"
                << to_string(shrunk) << "which fail with: " << replay(shrunk, config)
                << "\nReproduce with MODEL_SEED=" << seed << " MODEL_OPS=" << num_ops;
}

class ModelTest : public ::testing::TestWithParam<int> {};

TEST_P(ModelTest, EpollAgreesWithModelAndKernel) {
  const int shard = GetParam();
  const long seeds = env_or("MODEL_SEEDS", 125);
  const long num_ops = env_or("MODEL_OPS", 1000);
  Config config;
  config.kernel_check_every = static_cast<int>(env_or("MODEL_CHECK_EVERY", 1));
  const long only = env_or("MODEL_SEED", -1);

  long ops_done = 0;
  long kernel_checks = 0;
  long seeds_done = 0;
  std::map<std::string, long> outcomes;
  for (long i = 0; i < seeds; ++i) {
    const std::uint64_t seed = static_cast<std::uint64_t>(shard) * 1'000'000 + static_cast<std::uint64_t>(i);
    if (only >= 0 && seed != static_cast<std::uint64_t>(only)) continue;
    run_seed(seed, num_ops, config, ops_done, kernel_checks, outcomes);
    ++seeds_done;
    if (HasFailure()) break;
  }
  // One line per shard, summed by docs/reliability.md's command.
  std::printf("model shard %d: %ld seeds (from %d000000), %ld operations, %ld kernel checks\n", shard,
              seeds_done, shard, ops_done, kernel_checks);
  for (const auto& [name, n] : outcomes)
    std::printf("model shard %d outcome: %s %ld\n", shard, name.c_str(), n);
  if (only < 0) {
    EXPECT_EQ(ops_done, seeds * num_ops) << "every seed runs its operations";
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, ModelTest, ::testing::Range(0, kShards));

// The shrinker: a sequence that "fails" only when it holds both the
// operation on fd 7 and the one on fd 31 comes down to exactly those two.
TEST(ModelShrink, KeepsOnlyTheOperationsThatMatter) {
  std::vector<Op> ops;
  for (int i = 0; i < 40; ++i) ops.push_back({OpKind::read, i});
  auto fails = [](const std::vector<Op>& candidate) {
    bool has7 = false, has31 = false;
    for (const Op& op : candidate) {
      has7 |= op.fd == 7;
      has31 |= op.fd == 31;
    }
    return has7 && has31;
  };
  const std::vector<Op> shrunk = shrink_with(ops, fails);
  ASSERT_EQ(shrunk.size(), 2U);
  EXPECT_EQ(shrunk[0].fd, 7);
  EXPECT_EQ(shrunk[1].fd, 31);
}

}  // namespace
}  // namespace linux_ext::model

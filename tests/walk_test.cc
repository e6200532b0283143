// Re-entrancy, generatively: seeded runs of the walk driver
// (tests/walk_driver.h), which nests walks of every kind over two Epoll
// objects, calls every member from their callbacks, keeps, copies and
// destroys ReadyRanges across steps, forks now and then, and checks each
// step against a model of the contract's rules for walks, ranges and waits.
//
// Each shard runs a range of seeds; a failure names its seed and step and
// shows the last actions.
//   WALK_SEED=n      run only seed n (in the shard that owns it)
//   WALK_SEEDS=n     seeds per shard (default 5)
//   WALK_STEPS=n     steps per seed (default 5000: 100 000 in all)
//   WALK_WITHOUT=a,b never choose these actions (names in walk_driver.h)
//   WALK_WITHOUT_NESTED=a,b  never choose these inside callbacks
//   WALK_VERBOSE=1   print every action as it runs
//   WALK_RECORD=dir  write the choices of a failed seed to dir/seed-N, a
//                    fuzz input that replays it (fuzz/walks_fuzz.cc)

#include <cstdio>
#include <fstream>
#include <string>

#include "test_util.h"
#include "walk_driver.h"

namespace linux_ext::walks {
namespace {

using test::env_or;

constexpr int kShards = 4;

class WalkTest : public ::testing::TestWithParam<int> {};

TEST_P(WalkTest, EveryWalkRangeAndWaitFollowsTheContract) {
  const int shard = GetParam();
  const long seeds = env_or("WALK_SEEDS", 5);
  const long steps = env_or("WALK_STEPS", 5000);
  const long only = env_or("WALK_SEED", -1);
  const char* without = std::getenv("WALK_WITHOUT");
  const char* without_nested = std::getenv("WALK_WITHOUT_NESTED");
  const char* record = std::getenv("WALK_RECORD");

  long steps_done = 0;
  long seeds_done = 0;
  std::array<long, kNumActions> counts{};
  std::array<long, kNumActions> nested{};
  for (long i = 0; i < seeds; ++i) {
    const long long seed = shard * 1'000'000LL + i;
    if (only >= 0 && seed != only) continue;
    Options options;
    options.origin = "seed " + std::to_string(seed);
    options.seed = seed;
    options.without = parse_actions(without != nullptr ? without : "");
    options.without_nested = parse_actions(without_nested != nullptr ? without_nested : "");
    options.verbose = env_or("WALK_VERBOSE", 0) != 0;
    // A sanitizer that ends the process names no seed: this line does.
    std::printf("walk: seed %lld\n", seed);
    std::fflush(stdout);
    Driver driver(Choices::seeded(static_cast<std::uint64_t>(seed)), options);
    driver.report_crashes();
    const std::string failure = driver.run(steps);
    steps_done += driver.steps();
    ++seeds_done;
    for (std::size_t a = 0; a < kNumActions; ++a) {
      counts[a] += driver.counts()[a];
      nested[a] += driver.nested_counts()[a];
    }
    if (!failure.empty() && record != nullptr) {
      const std::string path = std::string(record) + "/seed-" + std::to_string(seed);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(driver.choices_made().data()),
                 static_cast<std::streamsize>(driver.choices_made().size()));
      std::printf("walk: the choices of seed %lld are in %s\n", seed, path.c_str());
    }
    ASSERT_TRUE(failure.empty()) << failure;
  }
  std::printf("walk shard %d: %ld seeds (from %d000000), %ld steps\n", shard, seeds_done, shard, steps_done);
  for (std::size_t a = 0; a < kNumActions; ++a) {
    std::printf("walk shard %d action: %s %ld (%ld in callbacks)\n", shard, kActions[a].name, counts[a],
                nested[a]);
  }
  if (only < 0) {
    EXPECT_EQ(steps_done, seeds * steps) << "every seed runs its steps";
  }
}

INSTANTIATE_TEST_SUITE_P(Shards, WalkTest, ::testing::Range(0, kShards));

}  // namespace
}  // namespace linux_ext::walks

// A random driver of nested walks over Epoll objects, checked against a model
// of the contract's rules for walks, ready ranges and waits (the comments of
// include/linux_ext/epoll.h: walks, `ready()`, `wait`, `Timeout`).
//
// The driver takes a stream of choices (a seeded generator, or a fuzzer's
// bytes) and runs steps on two Epoll objects over real files: three eventfds,
// a pipe, a socketpair and a timerfd, whose readiness the model knows
// exactly (it counts what was written and drained). A step is one action:
// changing a file, `set`, `remove`, a wait of any kind of span, `clear_ready`,
// `close`, `resize`, a move into or out of a set, `after_fork` (in a forked
// child too), making, copying and destroying `ReadyRange`s kept in a pool
// across steps, or a walk of any kind: `iter`, `fold`, `iter_ready`,
// `fold_ready`, a range-for over `ready()`, a loop over a kept range or a
// copy of one, and `for (auto it = ep.ready().begin(); it != ep.ready().end();
// ++it)`. Each callback of a walk runs more actions, walks included, up to a
// depth, and may throw to leave some of the walks it is nested in.
//
// The model checks, as it goes: a table walk visits each fd at most once,
// never an fd removed before its visit nor one added during the walk, with
// the flags the table holds at the visit; it visits every other fd unless a
// call stopped it (`close`, `resize`, a move), or a `remove` in a nested table
// walk let it stop. A ready walk reports exactly the events its wait returned
// (snapshotted right after the wait, before any callback, and checked against
// which files were ready), in order, and stops exactly when a call stops it
// (`wait`, `pwait`, `close`, `resize`, `after_fork` in a child, a move). A
// kept range reads as empty exactly once such a call came, and otherwise as
// the events of its wait. Waits: `ok` exactly when some watched file was
// ready; a timed wait never ends in `timeout` before its span; a span too
// long for nanoseconds (seconds::max(), hours::max(), infinity) waits, and
// the timerfd, armed a few ms ahead, ends it with `ok`; NaN and spans of
// zero or less poll. After every action: `size()`, `num_ready()` and
// `is_closed()`; after every step: `invariant()`, `find` over every file,
// the table, the ready set, every kept range, and now and then
// `check_against_kernel()`.
//
// A failure is a message with the seed (or "fuzz input"), the step, the last
// actions and how to replay it. Used by tests/walk_test.cc and
// fuzz/walks_fuzz.cc.
//
// Built with -DWALK_DRIVER_OLD_API against a header whose `Timeout::after`
// takes only std::chrono::nanoseconds: the floating-point spans are then
// left out (the integer ones still compile, converted by the caller).

#ifndef LINUX_EXT_TESTS_WALK_DRIVER_H_
#define LINUX_EXT_TESTS_WALK_DRIVER_H_

#include <signal.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "fds.h"
#include "linux_ext/epoll.h"

#if defined(__SANITIZE_ADDRESS__)
#define LINUX_EXT_WALK_DRIVER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LINUX_EXT_WALK_DRIVER_ASAN 1
#endif
#endif
#if defined(LINUX_EXT_WALK_DRIVER_ASAN)
#include <sanitizer/common_interface_defs.h>
#endif

namespace linux_ext::walks {

using Flags = Epoll::Flags;
using Timeout = Epoll::Timeout;
using WaitResult = Epoll::WaitResult;
using ReadyRange = Epoll::ReadyRange;
using ReadyIterator = decltype(std::declval<const Epoll&>().ready().begin());
using std::chrono::nanoseconds;

// Where the driver's decisions come from: a seeded generator, which never
// runs out, or a fuzzer's input, one byte per decision, which does (every
// decision is then 0, which ends callbacks without nested actions).
class Choices {
 public:
  static Choices seeded(std::uint64_t seed) {
    Choices choices;
    choices.rng_.seed(seed);
    return choices;
  }
  static Choices of_bytes(const std::uint8_t* data, std::size_t size) {
    Choices choices;
    choices.bytes_ = data;
    choices.size_ = size;
    choices.from_bytes_ = true;
    return choices;
  }

  // A number in [0, n), for n in [1, 256].
  unsigned below(unsigned n) {
    if (!from_bytes_) {
      const auto value = static_cast<unsigned>(rng_() % n);
      made_.push_back(static_cast<std::uint8_t>(value));
      return value;
    }
    if (used_ == size_) {
      exhausted_ = true;
      return 0;
    }
    return bytes_[used_++] % n;
  }
  // Whether a fuzzer's input ran out.
  bool exhausted() const { return exhausted_; }
  // The generator's choices so far, as the bytes of a fuzz input that makes
  // the same ones: a seeded run that failed becomes a fuzz input to keep.
  const std::vector<std::uint8_t>& made() const { return made_; }

 private:
  Choices() = default;

  std::mt19937_64 rng_;
  const std::uint8_t* bytes_ = nullptr;
  std::size_t size_ = 0;
  std::size_t used_ = 0;
  bool from_bytes_ = false;
  bool exhausted_ = false;
  std::vector<std::uint8_t> made_;
};

// What one action does. Walks are the actions from `iter` to
// `temporaries_loop`.
enum class Action : std::uint8_t {
  poke,                // make a file readable: an eventfd's count up, bytes into a pipe or socket
  drain,               // read a file empty
  set,                 // ep.set(fd, flags)
  remove,              // ep.remove(fd)
  wait_poll,           // a wait that polls: immediately, a span of zero or less
  wait_timed,          // a wait of a short span, which a timeout must outlast
  wait_extreme,        // a span too long for nanoseconds, ended by the timerfd; or NaN, -inf, seconds::min()
  clear_ready,         // ep.clear_ready()
  close,               // ep.close()
  resize,              // ep.resize(...), sometimes with sizes it refuses
  create,              // ep = Epoll::create(...).value()
  move_between,        // one set move-assigned into the other
  move_away_and_back,  // Epoll other = std::move(ep); then back, into the other set, or dropped
  after_fork,          // ep.after_fork(): in the parent nothing, in a forked child a set of its own
  fork,                // fork(2); the child runs the rest of the step, with its own checks
  range_make,          // a kept range = ep.ready()
  range_copy,          // a kept range = another (copy-constructed or copy-assigned)
  range_destroy,       // a kept range destroyed
  range_check,         // a kept range read against the model
  default_iterators,   // two default-constructed iterators compared
  iter,                // ep.iter(f)
  fold,                // ep.fold(init, f)
  iter_ready,          // ep.iter_ready(f)
  fold_ready,          // ep.fold_ready(init, f)
  range_for,           // for (auto [fd, flags] : ep.ready())
  kept_range_loop,     // for (auto [fd, flags] : kept)
  range_copy_loop,     // for (auto [fd, flags] : copy), a copy of a kept range or of ep.ready()
  temporaries_loop,    // for (auto it = ep.ready().begin(); it != ep.ready().end(); ++it)
  throw_out,           // throw from a callback, to the site of one of the walks in progress
};

// How often an action is chosen at the top of a step and inside a callback
// (each out of the sum of its column, both below 256 for one fuzzer byte).
struct ActionInfo {
  Action action;
  const char* name;
  unsigned top;
  unsigned nested;
};
inline constexpr ActionInfo kActions[] = {
    {Action::poke, "poke", 10, 4},
    {Action::drain, "drain", 5, 3},
    {Action::set, "set", 24, 6},
    {Action::remove, "remove", 3, 4},
    {Action::wait_poll, "wait_poll", 24, 5},
    {Action::wait_timed, "wait_timed", 1, 1},
    {Action::wait_extreme, "wait_extreme", 1, 1},
    {Action::clear_ready, "clear_ready", 1, 4},
    {Action::close, "close", 1, 2},
    {Action::resize, "resize", 2, 2},
    {Action::create, "create", 1, 2},
    {Action::move_between, "move_between", 1, 2},
    {Action::move_away_and_back, "move_away_and_back", 1, 2},
    {Action::after_fork, "after_fork", 1, 1},
    {Action::fork, "fork", 1, 1},
    {Action::range_make, "range_make", 6, 5},
    {Action::range_copy, "range_copy", 3, 4},
    {Action::range_destroy, "range_destroy", 2, 4},
    {Action::range_check, "range_check", 2, 3},
    {Action::default_iterators, "default_iterators", 1, 1},
    {Action::iter, "iter", 5, 3},
    {Action::fold, "fold", 2, 2},
    {Action::iter_ready, "iter_ready", 8, 4},
    {Action::fold_ready, "fold_ready", 4, 2},
    {Action::range_for, "range_for", 6, 3},
    {Action::kept_range_loop, "kept_range_loop", 5, 2},
    {Action::range_copy_loop, "range_copy_loop", 3, 2},
    {Action::temporaries_loop, "temporaries_loop", 4, 2},
    {Action::throw_out, "throw_out", 0, 1},
};
inline constexpr std::size_t kNumActions = std::size(kActions);

// kActions lists the actions in their order, so that an action indexes it.
constexpr bool actions_in_order() {
  for (std::size_t i = 0; i < kNumActions; ++i) {
    if (static_cast<std::size_t>(kActions[i].action) != i) return false;
  }
  return true;
}
static_assert(actions_in_order());

inline const char* name_of(Action action) { return kActions[static_cast<std::size_t>(action)].name; }

inline bool is_walk(Action action) { return action >= Action::iter && action <= Action::temporaries_loop; }

inline bool is_table_walk(Action action) { return action == Action::iter || action == Action::fold; }

// The actions named in `list` ("iter,fork"), for WALK_WITHOUT and
// WALK_WITHOUT_NESTED; throws
// std::invalid_argument naming an unknown one.
inline std::set<Action> parse_actions(const std::string& list) {
  std::set<Action> actions;
  std::size_t start = 0;
  while (start < list.size()) {
    std::size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    const std::string name = list.substr(start, end - start);
    const auto found = std::find_if(std::begin(kActions), std::end(kActions),
                                    [&](const ActionInfo& a) { return name == a.name; });
    if (found == std::end(kActions)) throw std::invalid_argument("no action named '" + name + "'");
    actions.insert(found->action);
    start = end + 1;
  }
  return actions;
}

// How a run is set up.
struct Options {
  // Names the run in messages: "seed 3000002", "fuzz input".
  std::string origin;
  // The seed, for the replay line of a message; negative for a fuzz input.
  long long seed = -1;
  // Actions never chosen, and actions never chosen inside callbacks (to
  // look past one finding at the others).
  std::set<Action> without;
  std::set<Action> without_nested;
  // check_against_kernel after every step whose number is a multiple of this.
  long kernel_check_every = 32;
  // Print every action to stderr as it runs.
  bool verbose = false;
};

// Driver
//
// The two Epoll objects, the files, the pool of kept ranges and the model of
// it all. `run` returns "" or the first violation.
class Driver {
 public:
  explicit Driver(Choices choices, Options options)
      : choices_(std::move(choices)), options_(std::move(options)) {
    for (int i = 0; i < 3; ++i) files_.push_back({Kind::eventfd, test::make_eventfd(), 0});
    test::Pipe pipe = test::make_pipe();
    files_.push_back({Kind::pipe_read, std::move(pipe.read), files_.size() + 1});
    files_.push_back({Kind::pipe_write, std::move(pipe.write), files_.size() - 1});
    auto [a, b] = test::make_socketpair();
    files_.push_back({Kind::socket, std::move(a), files_.size() + 1});
    files_.push_back({Kind::socket, std::move(b), files_.size() - 1});
    timer_ = files_.size();
    files_.push_back({Kind::timer,
                      test::Fd(test::check_sys(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC),
                                               "timerfd_create")),
                      0});
    for (const File& file : files_) min_domain_ = std::max(min_domain_, file.fd.get() + 1);
    sigemptyset(&empty_mask_);
    for (int k = 0; k < kSets; ++k) {
      const int max_ready_events = k == 0 ? 4 : 2;
      sets_.push_back(Epoll::create(min_domain_ + 8 * k, max_ready_events).value());
      models_[static_cast<std::size_t>(k)] = open_model(min_domain_ + 8 * k, max_ready_events);
    }
    pool_.resize(kPool);
    range_models_.resize(kPool);
  }
  ~Driver() {
    if (dying() == this) dying() = nullptr;
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Runs up to `steps` steps (fewer when a fuzzer's input runs out); returns
  // "" or what broke the contract.
  std::string run(long steps) {
    try {
      while (step_ < steps && !choices_.exhausted()) {
        ++step_;
        act(pick(false));
        check_all();
        if (child_) ::_exit(0);
      }
    } catch (const Violation& v) {
      return leave(v.text);
    } catch (const std::exception& e) {
      return leave(failure_text(std::string("the driver's own call threw: ") + e.what()));
    }
    return {};
  }

  // The steps run so far.
  long steps() const { return step_; }
  // The choices made so far (see Choices::made).
  const std::vector<std::uint8_t>& choices_made() const { return choices_.made(); }
  // How many times each action ran, by kActions' index: in all, and inside
  // callbacks.
  const std::array<long, kNumActions>& counts() const { return counts_; }
  const std::array<long, kNumActions>& nested_counts() const { return nested_counts_; }

  // On a crash (a sanitizer's report, a fatal signal), print where the run
  // was and how to replay it. For one driver at a time; not for libFuzzer,
  // which reports its own input.
  void report_crashes() {
    dying() = this;
    // A sanitizer's report ends in its death callback, and then (with
    // abort_on_error) in SIGABRT; GCC's UBSan runtime calls only the
    // latter. Natively, the fatal signals. Whichever comes first prints.
#if defined(LINUX_EXT_WALK_DRIVER_ASAN)
    __sanitizer_set_death_callback(print_dying);
    const int signals[] = {SIGABRT};
#else
    const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#endif
    struct sigaction action {};
    action.sa_handler = [](int) { print_dying(); };
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (int signal : signals) ::sigaction(signal, &action, nullptr);
  }

 private:
  static constexpr int kSets = 2;
  static constexpr std::size_t kPool = 4;
  static constexpr std::size_t kMaxDepth = 3;
  static constexpr std::size_t kTraceLines = 60;

  // What the files are; their readiness follows from it and `pending`.
  enum class Kind { eventfd, pipe_read, pipe_write, socket, timer };
  struct File {
    Kind kind;
    test::Fd fd;
    // The other end: a pipe's, a socket's peer.
    std::size_t peer;
    // An eventfd's count, or the bytes readable at this end.
    std::uint64_t pending = 0;
  };

  // One event, as the kernel returned it.
  struct Event {
    int fd;
    std::uint32_t bits;
    bool operator==(const Event&) const = default;
  };

  // One Epoll object as the model sees it. The epochs are unique across the
  // run: a call that stops walks gives the object a new one, so a walk or a
  // range that kept the old one knows it was stopped or invalidated.
  struct SetModel {
    bool open = false;
    // In a forked child, a set made before the fork and not yet after_fork'ed.
    bool inherited = false;
    int num_file_descrs = 0;
    int max_ready_events = 0;
    std::map<int, Flags> table;
    std::vector<Event> ready;
    // Changed by what stops ready walks and invalidates ranges: wait, pwait,
    // close, resize, after_fork in the child, moves.
    std::uint64_t ready_epoch = 0;
    // Changed by what stops table walks: close, resize, moves.
    std::uint64_t table_epoch = 0;
  };

  // A kept range: the object it was made on, that object's epoch then, and
  // the events it read then.
  struct RangeModel {
    int set;
    std::uint64_t epoch;
    std::vector<Event> events;
    // A wait refused in a forked child may have invalidated it (see
    // run_wait): it then reads its events or nothing.
    bool may_be_empty = false;
  };

  // A walk in progress.
  struct WalkModel {
    static WalkModel of(Action kind, int set, std::uint64_t epoch) {
      WalkModel walk;
      walk.kind = kind;
      walk.set = set;
      walk.epoch = epoch;
      return walk;
    }
    Action kind = Action::iter;
    int set = 0;
    // The object's table_epoch (table walks) or ready_epoch (ready walks)
    // when the walk began.
    std::uint64_t epoch = 0;
    // A remove in a nested table walk, clear_ready under a loop over
    // temporaries, or a wait a child refused, may have stopped it.
    bool may_stop = false;
    long callbacks = 0;
    // Ready walks: the events to report, and the index of the next.
    std::vector<Event> events;
    std::size_t next = 0;
    // Table walks: the fds of the table when it began, split into those
    // still to visit, those visited and those removed before their visit.
    std::set<int> unvisited;
    std::set<int> visited;
    std::set<int> removed;
  };

  // What a call should do.
  enum class Outcome { returns, logic_error, out_of_range, invalid_argument, logic_error_or_out_of_range };

  // One way to wait, and what its span promises.
  struct WaitCall {
    std::string text;
    std::function<WaitResult(Epoll&)> call;
    enum Span { poll, timed, huge } span;
    // A timed wait that ends in `timeout` takes at least this.
    nanoseconds least{0};
    // When positive, the timerfd is armed this far ahead: it ends a huge
    // wait, and unmasks a poll that blocks.
    nanoseconds timer{0};
  };

  // A broken rule; not a std::exception, so that nothing the driver expects
  // from the library catches it.
  struct Violation {
    std::string text;
  };
  // Thrown by `throw_out` to the site of the walk at `depth`.
  struct Unwind {
    std::size_t depth;
  };

  // Pops the model's walks down to `depth` when a walk ends, however it ends.
  class WalkScope {
   public:
    WalkScope(std::vector<WalkModel>& walks, WalkModel walk) : walks_(walks), depth_(walks.size()) {
      walks_.push_back(std::move(walk));
    }
    ~WalkScope() { walks_.erase(walks_.begin() + static_cast<std::ptrdiff_t>(depth_), walks_.end()); }
    WalkScope(const WalkScope&) = delete;
    WalkScope& operator=(const WalkScope&) = delete;
    std::size_t depth() const { return depth_; }

   private:
    std::vector<WalkModel>& walks_;
    std::size_t depth_;
  };

  // The driver that report_crashes() named, until it printed.
  static Driver*& dying() {
    static Driver* driver = nullptr;
    return driver;
  }
  // Prints the named driver's position once, from a death callback or a
  // signal handler (a crash's last words; the trace is read as it is).
  static void print_dying() {
    if (Driver* driver = std::exchange(dying(), nullptr)) driver->print_position();
  }

  // ---------------------------------------------------------------------
  // Choosing

  // The next action, weighted by kActions, for the top of a step or a
  // callback; leaves out what the options, the depth or a child forbid.
  Action pick(bool nested) {
    std::array<unsigned, kNumActions> weights{};
    unsigned total = 0;
    for (std::size_t i = 0; i < kNumActions; ++i) {
      const Action a = kActions[i].action;
      unsigned w = nested ? kActions[i].nested : kActions[i].top;
      // A closed set is soon made anew, so that most steps have sets to walk.
      if (a == Action::create && !nested && (!models_[0].open || !models_[1].open)) w += 40;
      if (options_.without.count(a) != 0 || (nested && options_.without_nested.count(a) != 0)) w = 0;
      if (is_walk(a) && walks_.size() >= kMaxDepth) w = 0;
      // A child must not touch the files it shares with the parent, nor
      // fork again.
      if (child_ &&
          (a == Action::poke || a == Action::drain || a == Action::fork || a == Action::wait_extreme))
        w = 0;
      weights[i] = w;
      total += w;
    }
    unsigned roll = choices_.below(total);
    for (std::size_t i = 0; i < kNumActions; ++i) {
      if (roll < weights[i]) return kActions[i].action;
      roll -= weights[i];
    }
    return Action::poke;
  }

  // A set, inside a callback mostly the one walked.
  int pick_set() {
    if (!walks_.empty() && choices_.below(4) != 0) return walks_.back().set;
    return static_cast<int>(choices_.below(kSets));
  }
  // A file, by its index in files_.
  std::size_t pick_file() { return choices_.below(static_cast<unsigned>(files_.size())); }
  // A slot of the pool of kept ranges.
  std::size_t pick_slot() { return choices_.below(kPool); }
  // Flags to watch `file` for: level-triggered only, so that the model
  // knows what each wait returns; the timer only for reading.
  Flags pick_flags(std::size_t file) {
    if (files_[file].kind == Kind::timer) return Flags::in;
    const Flags choices[] = {Flags::in, Flags::out, Flags::in + Flags::out, Flags::in + Flags::rdhup,
                             Flags::out + Flags::pri};
    return choices[choices_.below(5)];
  }

  // An epoch no walk or range has seen.
  std::uint64_t fresh_epoch() { return ++epochs_; }
  // Stops every walk of `m` and invalidates its ranges, its content kept
  // (a move, resize).
  void renew(SetModel& m) {
    m.ready_epoch = fresh_epoch();
    m.table_epoch = fresh_epoch();
  }
  // A closed set, and a set just made.
  SetModel closed_model() {
    SetModel m;
    renew(m);
    return m;
  }
  SetModel open_model(int num_file_descrs, int max_ready_events) {
    SetModel m = closed_model();
    m.open = true;
    m.num_file_descrs = num_file_descrs;
    m.max_ready_events = max_ready_events;
    return m;
  }
  // Set `k` (0 or 1), in the model and as the object itself.
  SetModel& model(int k) { return models_[static_cast<std::size_t>(k)]; }
  Epoll& set_object(int k) { return sets_[static_cast<std::size_t>(k)]; }

  // ---------------------------------------------------------------------
  // Running one action

  // Runs `action`, choosing its arguments.
  void act(Action action) {
    ++counts_[static_cast<std::size_t>(action)];
    switch (action) {
      case Action::poke:
        return poke(pick_file());
      case Action::drain:
        return drain(pick_file());
      case Action::set: {
        const int k = pick_set();
        const std::size_t file = pick_file();
        return set_fd(k, file, pick_flags(file));
      }
      case Action::remove: {
        const int k = pick_set();
        return remove_fd(k, pick_file());
      }
      case Action::wait_poll:
      case Action::wait_timed:
      case Action::wait_extreme: {
        const int k = pick_set();
        return run_wait(k, wait_call(action, k));
      }
      case Action::clear_ready:
        return clear_ready(pick_set());
      case Action::close:
        return close(pick_set());
      case Action::resize:
        return resize(pick_set());
      case Action::create:
        return create(pick_set());
      case Action::move_between:
        return move_between(pick_set());
      case Action::move_away_and_back:
        return move_away_and_back(pick_set());
      case Action::after_fork:
        return after_fork(pick_set());
      case Action::fork:
        return fork();
      case Action::range_make: {
        const int k = pick_set();
        return range_make(k, pick_slot());
      }
      case Action::range_copy: {
        const std::size_t from = pick_slot();
        return range_copy(from, pick_slot());
      }
      case Action::range_destroy: {
        const std::size_t slot = pick_slot();
        note("destroy kept range " + std::to_string(slot));
        pool_[slot].reset();
        range_models_[slot].reset();
        return;
      }
      case Action::range_check: {
        const std::size_t slot = pick_slot();
        note("check kept range " + std::to_string(slot));
        return check_range(slot);
      }
      case Action::default_iterators:
        return default_iterators();
      case Action::iter:
      case Action::fold:
        return table_walk(action, pick_set());
      case Action::iter_ready:
      case Action::fold_ready:
      case Action::range_for:
      case Action::temporaries_loop:
        return ready_walk(action, pick_set());
      case Action::kept_range_loop:
      case Action::range_copy_loop:
        return range_loop(action, pick_slot());
      case Action::throw_out: {
        const std::size_t depth = choices_.below(static_cast<unsigned>(walks_.size()));
        note("throw to the site of walk " + std::to_string(depth));
        throw Unwind{depth};
      }
    }
  }

  // After a callback's action: what every member reads in O(1) agrees.
  void light_check() {
    for (int k = 0; k < kSets; ++k) {
      const SetModel& m = model(k);
      const Epoll& ep = set_object(k);
      if (ep.is_closed() != !m.open) fail(who(k) + ": is_closed() is " + yes(ep.is_closed()));
      if (ep.size() != m.table.size()) {
        fail(who(k) + ": size() is " + std::to_string(ep.size()) + ", the model has " +
             std::to_string(m.table.size()));
      }
      if (ep.num_ready() != static_cast<int>(m.ready.size())) {
        fail(who(k) + ": num_ready() is " + std::to_string(ep.num_ready()) + ", the model has " +
             std::to_string(m.ready.size()));
      }
    }
  }

  // The actions a callback runs: none, one or two.
  void callback_actions() {
    const unsigned roll = choices_.below(10);
    const int n = roll < 4 ? 0 : roll < 8 ? 1 : 2;
    for (int i = 0; i < n; ++i) {
      const Action action = pick(true);
      ++nested_counts_[static_cast<std::size_t>(action)];
      act(action);
      light_check();
    }
  }

  // ---------------------------------------------------------------------
  // Files

  // Makes file `i` readable (its other end, for a pipe's write end or a
  // socket), up to a bound that keeps every buffer far from full: a unix
  // socket stops being writable once its unread buffers (about 1 KiB per
  // 8-byte write) pass a quarter of its send buffer, and the model has
  // every socket and pipe write end always writable.
  void poke(std::size_t i) {
    File& file = files_[i];
    // Bytes written at one end are read at the other.
    std::size_t written_at = i;
    std::size_t read_at = i;
    if (file.kind == Kind::pipe_read) written_at = file.peer;
    if (file.kind == Kind::pipe_write || file.kind == Kind::socket) read_at = file.peer;
    if (file.kind == Kind::timer || files_[read_at].pending >= 256) return;
    note("poke fd " + std::to_string(file.fd.get()));
    test::poke(files_[written_at].fd.get());
    files_[read_at].pending += file.kind == Kind::eventfd ? 1 : 8;
  }

  // Reads file `i` (a pipe's read end, for its write end) empty.
  void drain(std::size_t i) {
    const std::size_t at = files_[i].kind == Kind::pipe_write ? files_[i].peer : i;
    note("drain fd " + std::to_string(files_[at].fd.get()));
    test::drain(files_[at].fd.get());
    files_[at].pending = 0;
  }

  // What `file` is ready for now (the timer only while armed, and then
  // only maybe).
  Flags readiness(const File& file) const {
    const Flags readable = file.pending > 0 ? Flags::in : Flags::none;
    switch (file.kind) {
      case Kind::eventfd:
      case Kind::socket:
        return readable + Flags::out;
      case Kind::pipe_read:
        return readable;
      case Kind::pipe_write:
        return Flags::out;
      case Kind::timer:
        return Flags::none;
    }
    return Flags::none;
  }

  // The timer fires once, `ahead` from now (0: disarmed).
  void arm_timer(nanoseconds ahead) {
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(ahead.count() / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(ahead.count() % 1'000'000'000);
    test::check_sys(::timerfd_settime(files_[timer_].fd.get(), 0, &spec, nullptr), "timerfd_settime");
  }
  // Disarmed and read: not ready again until armed.
  void disarm_timer() {
    arm_timer(nanoseconds(0));
    test::drain(files_[timer_].fd.get());
  }

  // ---------------------------------------------------------------------
  // The table

  // What a call that changes the kernel's set should do on `k` with `fd`.
  Outcome change_outcome(int k, int fd) {
    const SetModel& m = model(k);
    const bool in_domain = fd >= 0 && fd < m.num_file_descrs;
    if (!m.open) return Outcome::logic_error;
    // Which of the two a child's inherited set checks first is left open.
    if (m.inherited) return in_domain ? Outcome::logic_error : Outcome::logic_error_or_out_of_range;
    return in_domain ? Outcome::returns : Outcome::out_of_range;
  }

  // set on both; an fd the set's table walks did not see when they began
  // stays unseen by them.
  void set_fd(int k, std::size_t file, Flags flags) {
    const int fd = files_[file].fd.get();
    const std::string call = who(k) + ".set(" + std::to_string(fd) + ", " + flags.to_string() + ")";
    note(call);
    const Outcome want = change_outcome(k, fd);
    expect(want, call, [&] { set_object(k).set(fd, flags); });
    if (want == Outcome::returns) model(k).table[fd] = flags;
  }

  // remove on both.
  void remove_fd(int k, std::size_t file) {
    const int fd = files_[file].fd.get();
    const std::string call = who(k) + ".remove(" + std::to_string(fd) + ")";
    note(call);
    const Outcome want = change_outcome(k, fd);
    expect(want, call, [&] { set_object(k).remove(fd); });
    if (want != Outcome::returns || model(k).table.erase(fd) == 0) return;
    // Each table walk of the set: not to visit it, if it has not yet. All
    // but the innermost may stop.
    std::vector<std::size_t> table_walks;
    for (std::size_t d = 0; d < walks_.size(); ++d) {
      WalkModel& w = walks_[d];
      if (!is_table_walk(w.kind) || w.set != k) continue;
      if (w.unvisited.erase(fd) != 0) w.removed.insert(fd);
      table_walks.push_back(d);
    }
    for (std::size_t i = 0; i + 1 < table_walks.size(); ++i) walks_[table_walks[i]].may_stop = true;
  }

  // clear_ready: ranges and ready walks go on over their events.
  void clear_ready(int k) {
    note(who(k) + ".clear_ready()");
    set_object(k).clear_ready();
    model(k).ready.clear();
    // Whether a loop over temporaries then goes on is left open: its end
    // is that of a new, empty range.
    for (WalkModel& w : walks_) {
      if (w.kind == Action::temporaries_loop && w.set == k) w.may_stop = true;
    }
  }

  // close: idempotent; the first one stops every walk.
  void close(int k) {
    note(who(k) + ".close()");
    expect(Outcome::returns, who(k) + ".close()", [&] { set_object(k).close(); });
    if (model(k).open) model(k) = closed_model();
  }

  // resize to sizes around the files' fds, some refused: a domain that
  // would drop an fd of the table, no ready events. Refused, it changes
  // nothing; else it stops every walk and empties the ready set.
  void resize(int k) {
    const SetModel& m = model(k);
    // Whether a child may resize a set it has not after_fork'ed is left open.
    if (m.inherited) return;
    const int domains[] = {min_domain_, min_domain_ + 8, 256, min_domain_, min_domain_ + 1, 2};
    const int maxes[] = {1, 2, 3, 8, 0};
    const int num_file_descrs = domains[choices_.below(6)];
    const int max_ready_events = maxes[choices_.below(5)];
    const std::string call =
        who(k) + ".resize(" + std::to_string(num_file_descrs) + ", " + std::to_string(max_ready_events) + ")";
    note(call);
    Outcome want = Outcome::returns;
    if (!m.open) {
      want = Outcome::logic_error;
    } else if (max_ready_events <= 0 || (!m.table.empty() && m.table.rbegin()->first >= num_file_descrs)) {
      want = Outcome::invalid_argument;
    }
    expect(want, call, [&] { set_object(k).resize(num_file_descrs, max_ready_events); });
    if (want != Outcome::returns) return;
    SetModel& changed = model(k);
    changed.num_file_descrs = num_file_descrs;
    changed.max_ready_events = max_ready_events;
    changed.ready.clear();
    renew(changed);
  }

  // ---------------------------------------------------------------------
  // Waiting

  // One of the ways to wait of `action`'s kind, on set `k`.
  WaitCall wait_call(Action action, int k) {
    using namespace std::chrono;
    const sigset_t* mask = &empty_mask_;
    // The timer ends or unmasks a wait only where the driver may arm it:
    // the parent, and a set that can watch it.
    const bool timer_ok =
        !child_ && model(k).open && !model(k).inherited && files_[timer_].fd.get() < model(k).num_file_descrs;
    std::vector<WaitCall> calls;
    if (action == Action::wait_poll) {
      calls.push_back(
          {"wait(immediately)", [](Epoll& ep) { return ep.wait(Timeout::immediately()); }, WaitCall::poll});
      calls.push_back({"pwait(immediately, {})",
                       [mask](Epoll& ep) { return ep.pwait(Timeout::immediately(), *mask); },
                       WaitCall::poll});
      calls.push_back({"wait(after(0ns))", [](Epoll& ep) { return ep.wait(Timeout::after(nanoseconds(0))); },
                       WaitCall::poll});
      calls.push_back({"wait_timeout_after(-5ms)",
                       [](Epoll& ep) { return ep.wait_timeout_after(milliseconds(-5)); }, WaitCall::poll});
    } else if (action == Action::wait_timed) {
      calls.push_back({"wait(after(1us))", [](Epoll& ep) { return ep.wait(Timeout::after(microseconds(1))); },
                       WaitCall::timed, milliseconds(1)});
      calls.push_back({"wait(after(1500us))",
                       [](Epoll& ep) { return ep.wait(Timeout::after(microseconds(1500))); }, WaitCall::timed,
                       milliseconds(2)});
      calls.push_back({"pwait(after(1ms), {})",
                       [mask](Epoll& ep) { return ep.pwait(Timeout::after(milliseconds(1)), *mask); },
                       WaitCall::timed, milliseconds(1)});
      calls.push_back({"wait(after_precise(300us))",
                       [](Epoll& ep) { return ep.wait(Timeout::after_precise(microseconds(300))); },
                       WaitCall::timed, microseconds(300)});
      calls.push_back({"wait_timeout_after(2ms)",
                       [](Epoll& ep) { return ep.wait_timeout_after(milliseconds(2)); }, WaitCall::timed,
                       milliseconds(2)});
#if !defined(WALK_DRIVER_OLD_API)
      calls.push_back({"wait(after(duration<double, milli>(1.2)))",
                       [](Epoll& ep) { return ep.wait(Timeout::after(duration<double, std::milli>(1.2))); },
                       WaitCall::timed, milliseconds(2)});
      calls.push_back({"wait_timeout_after(duration<float, micro>(700.5))",
                       [](Epoll& ep) { return ep.wait_timeout_after(duration<float, std::micro>(700.5F)); },
                       WaitCall::timed, milliseconds(1)});
      calls.push_back(
          {"wait(after_precise(duration<double, micro>(250)))",
           [](Epoll& ep) { return ep.wait(Timeout::after_precise(duration<double, std::micro>(250))); },
           WaitCall::timed, microseconds(250)});
#endif
    } else if (timer_ok) {
      // Polls that would block if taken for long spans; the timer, 2 s
      // ahead (far past any stall of a loaded machine), ends such a wait
      // and shows it.
      const nanoseconds safety = seconds(2);
      calls.push_back({"wait(after(seconds::min()))",
                       [](Epoll& ep) { return ep.wait(Timeout::after(seconds::min())); }, WaitCall::poll,
                       nanoseconds(0), safety});
#if !defined(WALK_DRIVER_OLD_API)
      const double nan = std::numeric_limits<double>::quiet_NaN();
      const double inf = std::numeric_limits<double>::infinity();
      calls.push_back({"wait(after(duration<double>(NaN)))",
                       [nan](Epoll& ep) { return ep.wait(Timeout::after(duration<double>(nan))); },
                       WaitCall::poll, nanoseconds(0), safety});
      calls.push_back({"wait(after_precise(duration<double>(NaN)))",
                       [nan](Epoll& ep) { return ep.wait(Timeout::after_precise(duration<double>(nan))); },
                       WaitCall::poll, nanoseconds(0), safety});
      calls.push_back({"wait(after(duration<double>(-inf)))",
                       [inf](Epoll& ep) { return ep.wait(Timeout::after(duration<double>(-inf))); },
                       WaitCall::poll, nanoseconds(0), safety});
#endif
      // Spans too long for nanoseconds; the timer, 2 ms ahead, ends them.
      const nanoseconds ahead = milliseconds(2);
      calls.push_back({"wait(after(seconds::max()))",
                       [](Epoll& ep) { return ep.wait(Timeout::after(seconds::max())); }, WaitCall::huge,
                       nanoseconds(0), ahead});
      calls.push_back({"wait(after(hours::max()))",
                       [](Epoll& ep) { return ep.wait(Timeout::after(hours::max())); }, WaitCall::huge,
                       nanoseconds(0), ahead});
      calls.push_back({"wait_timeout_after(seconds::max())",
                       [](Epoll& ep) { return ep.wait_timeout_after(seconds::max()); }, WaitCall::huge,
                       nanoseconds(0), ahead});
      calls.push_back({"wait(after_precise(hours::max()))",
                       [](Epoll& ep) { return ep.wait(Timeout::after_precise(hours::max())); },
                       WaitCall::huge, nanoseconds(0), ahead});
      calls.push_back({"pwait(after(seconds::max()), {})",
                       [mask](Epoll& ep) { return ep.pwait(Timeout::after(seconds::max()), *mask); },
                       WaitCall::huge, nanoseconds(0), ahead});
      calls.push_back({"wait(never)", [](Epoll& ep) { return ep.wait(Timeout::never()); }, WaitCall::huge,
                       nanoseconds(0), ahead});
#if !defined(WALK_DRIVER_OLD_API)
      calls.push_back({"wait(after(duration<double>(inf)))",
                       [inf](Epoll& ep) { return ep.wait(Timeout::after(duration<double>(inf))); },
                       WaitCall::huge, nanoseconds(0), ahead});
      calls.push_back({"wait(after_precise(duration<double>(1e300)))",
                       [](Epoll& ep) { return ep.wait(Timeout::after_precise(duration<double>(1e300))); },
                       WaitCall::huge, nanoseconds(0), ahead});
      calls.push_back({"wait_timeout_after(duration<float>(inf))",
                       [](Epoll& ep) {
                         return ep.wait_timeout_after(
                             duration<float>(std::numeric_limits<float>::infinity()));
                       },
                       WaitCall::huge, nanoseconds(0), ahead});
#endif
    } else {
      return wait_call(Action::wait_poll, k);
    }
    return std::move(calls[choices_.below(static_cast<unsigned>(calls.size()))]);
  }

  // Waits on `k` and checks the result against what the model knows was
  // ready; the ready set it leaves is the model's from then on.
  void run_wait(int k, const WaitCall& wait) {
    const std::string call = who(k) + "." + wait.text;
    note(call);
    const bool refused = !model(k).open || model(k).inherited;
    const bool timed_by_timer = !refused && wait.timer > nanoseconds(0);
    if (timed_by_timer && model(k).table.count(files_[timer_].fd.get()) == 0) {
      set_fd(k, timer_, Flags::in);
    }
    // What each watched file is ready for, as the wait begins.
    std::map<int, Flags> ready_now;
    for (const File& file : files_) {
      const auto watched = model(k).table.find(file.fd.get());
      if (watched == model(k).table.end()) continue;
      const Flags flags = readiness(file) & watched->second;
      if (!flags.is_empty()) ready_now[file.fd.get()] = flags;
    }
    if (timed_by_timer) arm_timer(wait.timer);
    WaitResult result = WaitResult::ok;
    const auto start = std::chrono::steady_clock::now();
    expect(refused ? Outcome::logic_error : Outcome::returns, call,
           [&] { result = wait.call(set_object(k)); });
    const nanoseconds took = std::chrono::steady_clock::now() - start;
    if (timed_by_timer) disarm_timer();
    if (refused) {
      // Whether a wait that a child's inherited set refuses still counts as
      // a wait for the walks and ranges of that set is left open: they may
      // stop, or go on.
      if (model(k).inherited) may_have_waited(k);
      return;
    }
    // What the kernel returned, read before any callback runs.
    std::vector<Event> got;
    for (auto [fd, flags] : set_object(k).ready()) got.push_back({fd, flags.bits()});
    SetModel& m = model(k);
    const std::string after = call + " -> " + result_name(result) + " " + events_text(got) + " after " +
                              std::to_string(took.count() / 1000) + " us";
    note("  " + after);
    if (result == WaitResult::interrupted) fail(after + ": wait never returns interrupted without a signal");
    if ((result == WaitResult::ok) != !got.empty())
      fail(after + ": ok must come with events, timeout without");
    std::set<int> seen;
    bool timer_fired = false;
    for (const Event& e : got) {
      if (!seen.insert(e.fd).second) fail(after + ": fd " + std::to_string(e.fd) + " twice in one wait");
      if (timed_by_timer && e.fd == files_[timer_].fd.get() && e.bits == Flags::in.bits()) {
        timer_fired = true;
        continue;
      }
      const auto ready = ready_now.find(e.fd);
      if (ready == ready_now.end() || ready->second.bits() != e.bits) {
        fail(after + ": the kernel cannot have returned fd " + std::to_string(e.fd) + " " +
             Flags::of_bits(e.bits).to_string() + "; ready were " + ready_text(ready_now));
      }
    }
    const std::size_t max = static_cast<std::size_t>(m.max_ready_events);
    const std::size_t least = std::min(ready_now.size(), max);
    if (got.size() < least || got.size() > std::min(ready_now.size() + (timer_fired ? 1 : 0), max)) {
      fail(after + ": with max_ready_events " + std::to_string(max) + " the kernel returns " +
           std::to_string(least) + " of " + ready_text(ready_now));
    }
    if (wait.span == WaitCall::huge && result != WaitResult::ok) {
      fail(after +
           ": a span too long for nanoseconds waits as long as the longest span; it returned timeout "
           "before the timer, armed " +
           std::to_string(wait.timer.count() / 1000) + " us ahead, fired");
    }
    if (wait.span == WaitCall::poll && timer_fired) {
      fail(after + ": a span of zero or less, or NaN, polls; this wait blocked until the timer fired");
    }
    if (wait.span == WaitCall::timed && result == WaitResult::timeout && took < wait.least) {
      fail(after + ": a timed wait never returns timeout before its span (at least " +
           std::to_string(wait.least.count() / 1000) + " us)");
    }
    m.ready = std::move(got);
    m.ready_epoch = fresh_epoch();
  }

  // Lets the ready walks and the valid ranges of `k` stop or read empty
  // from now on, as after a wait, without requiring it.
  void may_have_waited(int k) {
    for (WalkModel& w : walks_) {
      if (!is_table_walk(w.kind) && w.set == k) w.may_stop = true;
    }
    for (std::optional<RangeModel>& r : range_models_) {
      if (r && r->set == k && model(k).ready_epoch == r->epoch) r->may_be_empty = true;
    }
  }

  // ---------------------------------------------------------------------
  // Moves, create, after_fork, fork

  // ep = Epoll::create(...).value(): the old instance closed, its walks
  // stopped and ranges invalidated.
  void create(int k) {
    const int domains[] = {min_domain_, 256};
    const int maxes[] = {1, 2, 3, 8};
    const int num_file_descrs = domains[choices_.below(2)];
    const int max_ready_events = maxes[choices_.below(4)];
    note(who(k) + " = Epoll::create(" + std::to_string(num_file_descrs) + ", " +
         std::to_string(max_ready_events) + ").value()");
    set_object(k) = Epoll::create(num_file_descrs, max_ready_events).value();
    model(k) = open_model(num_file_descrs, max_ready_events);
    // A new set watches about half the files at once, so that walks of it
    // have something to visit.
    for (std::size_t file = 0; file < files_.size(); ++file) {
      if (choices_.below(2) == 0) set_fd(k, file, pick_flags(file));
    }
  }

  // The other set = std::move(set k): both objects' walks stop.
  void move_between(int k) {
    const int j = 1 - k;
    note(who(j) + " = std::move(" + who(k) + ")");
    set_object(j) = std::move(set_object(k));
    model(j) = std::move(model(k));
    renew(model(j));
    model(k) = closed_model();
  }

  // Epoll other = std::move(set k), which must read as the set did; then
  // moved back into k, into the other set, or dropped (closed).
  void move_away_and_back(int k) {
    note("Epoll other = std::move(" + who(k) + ")");
    Epoll other = std::move(set_object(k));
    SetModel away = std::move(model(k));
    renew(away);
    model(k) = closed_model();
    light_check();
    if (other.is_closed() != !away.open || other.size() != away.table.size() ||
        other.num_ready() != static_cast<int>(away.ready.size())) {
      fail("the set moved into other reads " + yes(other.is_closed()) + " closed, size " +
           std::to_string(other.size()) + ", num_ready " + std::to_string(other.num_ready()) +
           "; it must read as the set it was");
    }
    const unsigned where = choices_.below(4);
    if (where == 3) {
      note("other dropped");
      return;
    }
    const int j = where == 2 ? 1 - k : k;
    note(who(j) + " = std::move(other)");
    set_object(j) = std::move(other);
    model(j) = std::move(away);
    renew(model(j));
  }

  // after_fork: nothing in the parent or on a set of the child's own; on a
  // set the child inherited, a new instance.
  void after_fork(int k) {
    const std::string call = who(k) + ".after_fork()";
    note(call);
    SetModel& m = model(k);
    expect(m.open ? Outcome::returns : Outcome::logic_error, call, [&] { set_object(k).after_fork(); });
    if (!m.inherited) return;
    // The child's own set: the ready set is emptied, ranges and ready
    // walks stop, table walks go on.
    m.inherited = false;
    m.ready.clear();
    m.ready_epoch = fresh_epoch();
  }

  // Forks, rarely (it is slow under the sanitizers). The child runs the
  // rest of the step with sets it inherited, calling after_fork on some,
  // and exits with its verdict, which the parent waits for.
  void fork() {
    if (choices_.below(32) != 0) return;
    note("fork");
    std::fflush(nullptr);
    const pid_t child = ::fork();
    if (child < 0) fail(std::string("fork: ") + std::strerror(errno));
    if (child == 0) {
      child_ = true;
      origin_suffix_ = " (in the child forked at step " + std::to_string(step_) + ")";
      for (SetModel& m : models_) m.inherited = m.open;
      for (int k = 0; k < kSets; ++k) {
        if (choices_.below(2) == 0) after_fork(k);
      }
      return;
    }
    int status = 0;
    if (::waitpid(child, &status, 0) != child) fail(std::string("waitpid: ") + std::strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fail("the forked child failed (" +
           (WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                              : "signal " + std::to_string(WTERMSIG(status))) +
           "); its message is above");
    }
    note("the child passed");
  }

  // ---------------------------------------------------------------------
  // Kept ranges

  // What a range reads now: its events, or nothing once invalidated.
  std::vector<Event> visible(const RangeModel& r) {
    return model(r.set).ready_epoch == r.epoch ? r.events : std::vector<Event>{};
  }

  // A kept range from ep.ready(): copy-assigned into the slot's range, or
  // copy-constructed anew.
  void range_make(int k, std::size_t slot) {
    const std::string call = "kept range " + std::to_string(slot) + " = " + who(k) + ".ready()";
    note(call);
    const SetModel& m = model(k);
    expect(m.open ? Outcome::returns : Outcome::logic_error, call, [&] {
      if (pool_[slot] != nullptr && choices_.below(2) == 0) {
        *pool_[slot] = set_object(k).ready();
      } else {
        pool_[slot] = std::make_unique<ReadyRange>(set_object(k).ready());
      }
    });
    if (m.open) range_models_[slot] = RangeModel{k, m.ready_epoch, m.ready};
  }

  // One kept range copied into another slot, by assignment or construction;
  // an empty slot empties the other.
  void range_copy(std::size_t from, std::size_t to) {
    note("kept range " + std::to_string(to) + " = kept range " + std::to_string(from));
    if (pool_[from] == nullptr) {
      pool_[to].reset();
    } else if (pool_[to] != nullptr && choices_.below(2) == 0) {
      *pool_[to] = *pool_[from];
    } else {
      pool_[to] = std::make_unique<ReadyRange>(*pool_[from]);
    }
    range_models_[to] = range_models_[from];
  }

  // A kept range reads exactly what the model says: size(), begin() ==
  // end(), and a loop over it (bounded, in case size() is garbage).
  void check_range(std::size_t slot) {
    if (pool_[slot] == nullptr) return;
    const RangeModel& r = *range_models_[slot];
    const std::vector<Event> want = visible(r);
    const ReadyRange& range = *pool_[slot];
    if (r.may_be_empty && range.size() == 0 && range.begin() == range.end()) return;
    const std::string name = "kept range " + std::to_string(slot) + " (of " + who(r.set) + ", " +
                             (model(r.set).ready_epoch == r.epoch ? "valid" : "invalidated") +
                             ", must read " + events_text(want) + ")";
    if (range.size() != want.size()) fail(name + ": size() is " + std::to_string(range.size()));
    if ((range.begin() == range.end()) != want.empty()) {
      fail(name + ": begin() == end() is " + yes(range.begin() == range.end()));
    }
    std::vector<Event> got;
    for (auto [fd, flags] : range) {
      got.push_back({fd, flags.bits()});
      if (got.size() > want.size()) break;
    }
    if (got != want) fail(name + ": a loop over it reads " + events_text(got));
  }

  // Two default-constructed iterators compare equal.
  void default_iterators() {
    note("compare two default-constructed iterators");
    ReadyIterator a;
    ReadyIterator b;
    if (!(a == b) || a != b) fail("two default-constructed iterators compare unequal");
  }

  // ---------------------------------------------------------------------
  // Walks

  // iter or fold over `k`, whose callback runs more actions; on a closed
  // set it must throw without calling it.
  void table_walk(Action kind, int k) {
    const std::string name = std::string(name_of(kind)) + " over " + who(k);
    if (!model(k).open) {
      note(name + " (closed)");
      expect(Outcome::logic_error, name, [&] {
        auto never = [&](int, Flags) { fail(name + ": a walk of a closed set called its callback"); };
        if (kind == Action::iter) {
          set_object(k).iter(never);
        } else {
          set_object(k).fold(0, [&](int fd, Flags flags, int acc) {
            never(fd, flags);
            return acc;
          });
        }
      });
      return;
    }
    WalkModel walk = WalkModel::of(kind, k, model(k).table_epoch);
    for (const auto& entry : model(k).table) walk.unvisited.insert(entry.first);
    WalkScope scope(walks_, std::move(walk));
    const std::size_t depth = scope.depth();
    note(name + " begins, walk " + std::to_string(depth));
    auto visit = [&](int fd, Flags flags) { on_table_visit(depth, fd, flags); };
    try {
      if (kind == Action::iter) {
        set_object(k).iter(visit);
      } else {
        const long folded = set_object(k).fold(0L, [&](int fd, Flags flags, long acc) {
          visit(fd, flags);
          return acc + 1;
        });
        if (folded != walks_[depth].callbacks) fail(name + ": fold returned an accumulator of another walk");
      }
    } catch (const Unwind& unwind) {
      if (unwind.depth != depth) throw;
      note("walk " + std::to_string(depth) + " left by the exception");
      return;
    }
    const WalkModel& w = walks_[depth];
    const bool stopped = model(k).table_epoch != w.epoch;
    if (!stopped && !w.may_stop && !w.unvisited.empty()) {
      fail(name + " (walk " + std::to_string(depth) + ") ended without visiting fd " +
           std::to_string(*w.unvisited.begin()) + ", which stayed in the table, and nothing stopped it");
    }
    note("walk " + std::to_string(depth) + " ends after " + std::to_string(w.callbacks) + " visits");
  }

  // One callback of the table walk at `depth`.
  void on_table_visit(std::size_t depth, int fd, Flags flags) {
    WalkModel& w = walks_[depth];
    ++w.callbacks;
    const std::string name = std::string(name_of(w.kind)) + " over " + who(w.set) + " (walk " +
                             std::to_string(depth) + ") visits fd " + std::to_string(fd) + " " +
                             flags.to_string();
    note(name);
    if (model(w.set).table_epoch != w.epoch)
      fail(name + " after a call that stops it (close, resize, a move)");
    if (w.visited.count(fd) != 0) fail(name + ": a second time");
    if (w.removed.count(fd) != 0) fail(name + ", removed before its visit");
    if (w.unvisited.count(fd) == 0) fail(name + ", added during the walk or never in the table");
    const auto entry = model(w.set).table.find(fd);
    if (entry == model(w.set).table.end() || entry->second != flags) {
      fail(name + ": the table holds " +
           (entry == model(w.set).table.end() ? std::string("nothing") : entry->second.to_string()));
    }
    w.unvisited.erase(fd);
    w.visited.insert(fd);
    callback_actions();
  }

  // iter_ready, fold_ready, a range-for over ready() or the loop over
  // temporaries, on `k`; on a closed set each must throw without a call.
  void ready_walk(Action kind, int k) {
    const std::string name = std::string(name_of(kind)) + " over " + who(k);
    Epoll& ep = set_object(k);
    if (!model(k).open) {
      note(name + " (closed)");
      expect(Outcome::logic_error, name, [&] {
        auto never = [&](int, Flags) { fail(name + ": a walk of a closed set called its callback"); };
        switch (kind) {
          case Action::iter_ready:
            ep.iter_ready(never);
            break;
          case Action::fold_ready:
            ep.fold_ready(0, [&](int acc, int fd, Flags flags) {
              never(fd, flags);
              return acc;
            });
            break;
          case Action::range_for:
            for (auto [fd, flags] : ep.ready()) never(fd, flags);
            break;
          default:
            for (auto it = ep.ready().begin(); it != ep.ready().end(); ++it) never((*it).fd, (*it).flags);
            break;
        }
      });
      return;
    }
    WalkModel walk = WalkModel::of(kind, k, model(k).ready_epoch);
    walk.events = model(k).ready;
    WalkScope scope(walks_, std::move(walk));
    const std::size_t depth = scope.depth();
    note(name + " begins, walk " + std::to_string(depth) + ", over " + events_text(model(k).ready));
    auto visit = [&](int fd, Flags flags) { on_ready_visit(depth, fd, flags); };
    bool threw_closed = false;
    try {
      switch (kind) {
        case Action::iter_ready:
          ep.iter_ready(visit);
          break;
        case Action::fold_ready: {
          const long folded = ep.fold_ready(0L, [&](long acc, int fd, Flags flags) {
            visit(fd, flags);
            return acc + 1;
          });
          if (folded != walks_[depth].callbacks)
            fail(name + ": fold_ready returned an accumulator of another walk");
          break;
        }
        case Action::range_for:
          for (auto [fd, flags] : ep.ready()) visit(fd, flags);
          break;
        default:
          // The condition makes a new range each time: on a set closed
          // meanwhile, ready() throws.
          try {
            for (auto it = ep.ready().begin(); it != ep.ready().end(); ++it) {
              auto [fd, flags] = *it;
              visit(fd, flags);
            }
          } catch (const std::logic_error& e) {
            threw_closed = true;
            note(std::string("ready() threw: ") + e.what());
          }
          if (threw_closed != !model(k).open) {
            fail(name + ": ready() in the loop's condition " + (threw_closed ? "threw" : "did not throw") +
                 " std::logic_error, and the set is " + (model(k).open ? "open" : "closed"));
          }
          break;
      }
    } catch (const Unwind& unwind) {
      if (unwind.depth != depth) throw;
      note("walk " + std::to_string(depth) + " left by the exception");
      return;
    }
    end_ready_walk(name, depth);
  }

  // A loop over the kept range of `slot` (or a copy of it); for a copy,
  // an empty slot means a copy of ep.ready().
  void range_loop(Action kind, std::size_t slot) {
    if (pool_[slot] == nullptr) {
      if (kind == Action::kept_range_loop) return;
      // A copy of ep.ready() instead.
      const int k = pick_set();
      const std::string call = "range_copy_loop over a copy of " + who(k) + ".ready()";
      if (!model(k).open) {
        note(call + " (closed)");
        expect(Outcome::logic_error, call, [&] { (void)set_object(k).ready(); });
        return;
      }
      const ReadyRange made = set_object(k).ready();
      loop_over(call, made, RangeModel{k, model(k).ready_epoch, model(k).ready}, true);
      return;
    }
    const std::string name = std::string(name_of(kind)) + " over kept range " + std::to_string(slot);
    loop_over(name, *pool_[slot], *range_models_[slot], kind == Action::range_copy_loop);
  }

  // A range-for over `range`, or over a copy of it: a walk of the events the
  // range reads now, tied to its set's epoch. The callbacks may destroy
  // `range`: the loop goes on with its iterators, which belong to the
  // Epoll object.
  void loop_over(const std::string& name, const ReadyRange& range, const RangeModel& r, bool copy) {
    WalkModel walk = WalkModel::of(copy ? Action::range_copy_loop : Action::kept_range_loop, r.set, r.epoch);
    walk.events = visible(r);
    walk.may_stop = r.may_be_empty;
    const std::string events = events_text(walk.events);
    WalkScope scope(walks_, std::move(walk));
    const std::size_t depth = scope.depth();
    note(name + " begins, walk " + std::to_string(depth) + ", over " + events);
    try {
      if (copy) {
        for (auto [fd, flags] : ReadyRange(range)) on_ready_visit(depth, fd, flags);
      } else {
        for (auto [fd, flags] : range) on_ready_visit(depth, fd, flags);
      }
    } catch (const Unwind& unwind) {
      if (unwind.depth != depth) throw;
      note("walk " + std::to_string(depth) + " left by the exception");
      return;
    }
    end_ready_walk(name, depth);
  }

  // One callback of the ready walk at `depth`.
  void on_ready_visit(std::size_t depth, int fd, Flags flags) {
    WalkModel& w = walks_[depth];
    ++w.callbacks;
    const std::string name = std::string(name_of(w.kind)) + " over " + who(w.set) + " (walk " +
                             std::to_string(depth) + ") reports fd " + std::to_string(fd) + " " +
                             flags.to_string();
    note(name);
    if (model(w.set).ready_epoch != w.epoch) {
      fail(name + " after a call that stops it (wait, pwait, close, resize, after_fork, a move)");
    }
    if (w.next >= w.events.size())
      fail(name + ": more events than its wait returned, " + events_text(w.events));
    const Event& expected = w.events[w.next];
    if (expected.fd != fd || expected.bits != flags.bits()) {
      fail(name + ": event " + std::to_string(w.next) + " of its wait is " + events_text({expected}));
    }
    ++w.next;
    callback_actions();
  }

  // A ready walk that returned reported every event of its wait, unless a
  // call stopped it.
  void end_ready_walk(const std::string& name, std::size_t depth) {
    const WalkModel& w = walks_[depth];
    const bool stopped = model(w.set).ready_epoch != w.epoch;
    if (!stopped && !w.may_stop && w.next != w.events.size()) {
      fail(name + " (walk " + std::to_string(depth) + ") ended after " + std::to_string(w.next) + " of the " +
           std::to_string(w.events.size()) + " events of its wait, and nothing stopped it");
    }
    note("walk " + std::to_string(depth) + " ends after " + std::to_string(w.callbacks) + " events");
  }

  // ---------------------------------------------------------------------
  // Checks

  // After every step: everything the API shows of each set, and every kept
  // range.
  void check_all() {
    light_check();
    for (int k = 0; k < kSets; ++k) {
      const SetModel& m = model(k);
      const Epoll& ep = set_object(k);
      try {
        ep.invariant();
      } catch (const std::logic_error& e) {
        fail(who(k) + ": invariant() threw: " + e.what());
      }
      if (!m.open) continue;
      if (ep.num_file_descrs() != m.num_file_descrs || ep.max_ready_events() != m.max_ready_events) {
        fail(who(k) + ": sizes " + std::to_string(ep.num_file_descrs()) + "/" +
             std::to_string(ep.max_ready_events()) + ", the model has " + std::to_string(m.num_file_descrs) +
             "/" + std::to_string(m.max_ready_events));
      }
      for (const File& file : files_) {
        const int fd = file.fd.get();
        const bool in_domain = fd < m.num_file_descrs;
        std::optional<Flags> found;
        expect(in_domain ? Outcome::returns : Outcome::out_of_range,
               who(k) + ".find(" + std::to_string(fd) + ")", [&] { found = ep.find(fd); });
        if (!in_domain) continue;
        const auto entry = m.table.find(fd);
        const std::optional<Flags> want =
            entry == m.table.end() ? std::nullopt : std::optional<Flags>(entry->second);
        if (found != want) {
          fail(who(k) + ".find(" + std::to_string(fd) + ") is " + (found ? found->to_string() : "nullopt") +
               ", the model has " + (want ? want->to_string() : "nullopt"));
        }
      }
      std::map<int, Flags> table;
      ep.iter([&](int fd, Flags flags) {
        if (!table.emplace(fd, flags).second)
          fail(who(k) + ": iter visited fd " + std::to_string(fd) + " twice");
      });
      if (table != m.table) fail(who(k) + ": iter walks another table than the model's");
      std::vector<Event> ready;
      for (auto [fd, flags] : ep.ready()) ready.push_back({fd, flags.bits()});
      if (ready != m.ready) {
        fail(who(k) + ": ready() reads " + events_text(ready) + ", the model has " + events_text(m.ready));
      }
      if (!child_ && !m.inherited && step_ % options_.kernel_check_every == 0) {
        try {
          ep.check_against_kernel();
        } catch (const std::exception& e) {
          fail(who(k) + ": check_against_kernel() threw: " + e.what());
        }
      }
    }
    for (std::size_t slot = 0; slot < kPool; ++slot) check_range(slot);
  }

  // Runs `f`, which must return or throw as `want` says.
  template <class F>
  void expect(Outcome want, const std::string& call, F&& f) {
    Outcome got = Outcome::returns;
    std::string what;
    try {
      f();
    } catch (const std::out_of_range& e) {
      got = Outcome::out_of_range;
      what = e.what();
    } catch (const std::invalid_argument& e) {
      got = Outcome::invalid_argument;
      what = e.what();
    } catch (const std::logic_error& e) {
      got = Outcome::logic_error;
      what = e.what();
    } catch (const std::exception& e) {
      fail(call + " threw " + e.what());
    }
    const bool matches = got == want || (want == Outcome::logic_error_or_out_of_range &&
                                         (got == Outcome::logic_error || got == Outcome::out_of_range));
    if (!matches) {
      fail(call + ": expected it to " + outcome_name(want) + ", but it did " + outcome_name(got) +
           (what.empty() ? "" : " (" + what + ")"));
    }
  }

  // ---------------------------------------------------------------------
  // Reporting

  // Texts for messages.
  static std::string yes(bool b) { return b ? "true" : "false"; }
  static std::string who(int k) { return "ep" + std::to_string(k); }
  static const char* outcome_name(Outcome o) {
    switch (o) {
      case Outcome::returns:
        return "return";
      case Outcome::logic_error:
        return "throw std::logic_error";
      case Outcome::out_of_range:
        return "throw std::out_of_range";
      case Outcome::invalid_argument:
        return "throw std::invalid_argument";
      case Outcome::logic_error_or_out_of_range:
        return "throw std::logic_error or std::out_of_range";
    }
    return "?";
  }
  static const char* result_name(WaitResult r) {
    return r == WaitResult::ok ? "ok" : r == WaitResult::timeout ? "timeout" : "interrupted";
  }
  static std::string events_text(const std::vector<Event>& events) {
    std::string text = "{";
    for (const Event& e : events)
      text.append(" ").append(std::to_string(e.fd)).append(" ").append(Flags::of_bits(e.bits).to_string());
    return text + " }";
  }
  static std::string ready_text(const std::map<int, Flags>& ready) {
    std::string text = "{";
    for (const auto& [fd, flags] : ready)
      text.append(" ").append(std::to_string(fd)).append(" ").append(flags.to_string());
    return text + " }";
  }

  // Adds a line to the trace, indented by the walks in progress.
  void note(const std::string& text) {
    std::string line = "step " + std::to_string(step_) + ": " + std::string(2 * walks_.size(), ' ') + text;
    if (options_.verbose) std::fprintf(stderr, "%s\n", line.c_str());
    trace_.push_back(std::move(line));
    if (trace_.size() > kTraceLines) trace_.pop_front();
  }

  // How to run the same choices again.
  std::string replay_line() const {
    if (options_.seed < 0) return "replay: the fuzz input, through walks_replay";
    return "replay: WALK_SEED=" + std::to_string(options_.seed) + " WALK_STEPS=" + std::to_string(step_) +
           " (WALK_VERBOSE=1 prints every action)";
  }

  // A violation's message: where, what, how to replay, the last actions.
  std::string failure_text(const std::string& what) const {
    std::string text = "walk driver: " + options_.origin + origin_suffix_ + ", step " +
                       std::to_string(step_) + ": " + what + "\n" + replay_line() + "\nthe last actions:\n";
    for (const std::string& line : trace_) text += "  " + line + "\n";
    return text;
  }

  // Reports a broken rule: the run ends.
  [[noreturn]] void fail(const std::string& what) { throw Violation{failure_text(what)}; }

  // A child reports to the parent through its exit status and stderr.
  std::string leave(const std::string& text) {
    if (child_) {
      std::fprintf(stderr, "%s", text.c_str());
      ::_exit(3);
    }
    return text;
  }

  // The crash report's part: the position, replay line and trace.
  void print_position() const {
    std::fprintf(stderr, "walk driver: died in %s%s, step %ld\n%s\nthe last actions:\n",
                 options_.origin.c_str(), origin_suffix_.c_str(), step_, replay_line().c_str());
    for (const std::string& line : trace_) std::fprintf(stderr, "  %s\n", line.c_str());
  }

  Choices choices_;
  Options options_;
  // The files, fixed for the run: the model knows what each holds.
  std::vector<File> files_;
  // The timerfd's index in files_.
  std::size_t timer_ = 0;
  // Above the highest fd of the files: every domain holds them all but one
  // of resize's, which the model expects it to refuse or then refuse set.
  int min_domain_ = 0;
  // The mask of pwait: no signal arrives, so it never returns interrupted.
  sigset_t empty_mask_;
  // The two objects, never reallocated: walks and ranges hold them.
  std::vector<Epoll> sets_;
  std::array<SetModel, kSets> models_;
  // Each kept range in an allocation of its own, so that a sanitizer sees
  // the memory of a destroyed one as freed.
  std::vector<std::unique_ptr<ReadyRange>> pool_;
  std::vector<std::optional<RangeModel>> range_models_;
  // The walks in progress, outermost first.
  std::vector<WalkModel> walks_;
  std::uint64_t epochs_ = 0;
  long step_ = 0;
  // In the child a fork made: it exits at the end of the step.
  bool child_ = false;
  std::string origin_suffix_;
  // The last lines of what ran, for messages.
  std::deque<std::string> trace_;
  std::array<long, kNumActions> counts_{};
  std::array<long, kNumActions> nested_counts_{};
};

}  // namespace linux_ext::walks

#endif  // LINUX_EXT_TESTS_WALK_DRIVER_H_

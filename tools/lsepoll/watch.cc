#include "watch.h"

#include <map>
#include <set>
#include <utility>

namespace lsepoll {
namespace {

using InstanceKey = std::pair<pid_t, int>;  // pid, epoll fd
using EntryKey = std::pair<int, unsigned>;  // fd, rank

struct InstanceRef {
  const Process* process;
  const EpollInstance* instance;
};

std::map<InstanceKey, InstanceRef> index_instances(const std::vector<Process>& processes) {
  std::map<InstanceKey, InstanceRef> index;
  for (const Process& p : processes) {
    for (const EpollInstance& e : p.epolls) index[{p.pid, e.fd}] = {&p, &e};
  }
  return index;
}

std::map<EntryKey, const WatchedFile*> index_entries(const EpollInstance* instance) {
  std::map<EntryKey, const WatchedFile*> index;
  if (instance == nullptr) return index;
  for (const WatchedFile& w : instance->watched) index[{w.fd, w.rank}] = &w;
  return index;
}

// Appends the differences between the entries of `before` and `after` (either
// may be null: an instance that is new or gone), each a copy of `prototype`
// with what changed filled in.
void diff_entries(const EpollInstance* before, const EpollInstance* after, const Change& prototype,
                  std::vector<Change>& out) {
  const auto old_entries = index_entries(before);
  const auto new_entries = index_entries(after);
  std::set<EntryKey> keys;
  for (const auto& [key, w] : old_entries) keys.insert(key);
  for (const auto& [key, w] : new_entries) keys.insert(key);
  for (const EntryKey& key : keys) {
    const auto o = old_entries.find(key);
    const auto n = new_entries.find(key);
    Change change = prototype;
    if (n == new_entries.end()) {
      change.what = Change::What::removed;
      change.before = *o->second;
    } else if (o == old_entries.end()) {
      change.what = Change::What::added;
      change.after = *n->second;
    } else if (o->second->events != n->second->events ||
               o->second->file.description != n->second->file.description) {
      change.what = Change::What::changed;
      change.before = *o->second;
      change.after = *n->second;
    } else {
      continue;
    }
    out.push_back(std::move(change));
  }
}

}  // namespace

const char* what_name(Change::What what) {
  switch (what) {
    case Change::What::epoll_added:
      return "epoll_added";
    case Change::What::epoll_removed:
      return "epoll_removed";
    case Change::What::added:
      return "added";
    case Change::What::removed:
      return "removed";
    case Change::What::changed:
      break;
  }
  return "changed";
}

std::vector<Change> diff(const std::vector<Process>& before, const std::vector<Process>& after) {
  const auto old_instances = index_instances(before);
  const auto new_instances = index_instances(after);
  std::set<InstanceKey> keys;
  for (const auto& [key, ref] : old_instances) keys.insert(key);
  for (const auto& [key, ref] : new_instances) keys.insert(key);

  std::vector<Change> changes;
  for (const InstanceKey& key : keys) {
    const auto o = old_instances.find(key);
    const auto n = new_instances.find(key);
    Change change{};
    change.pid = key.first;
    change.epoll_fd = key.second;
    change.command = (n != new_instances.end() ? n : o)->second.process->command;
    if (n == new_instances.end()) {
      // Its fds are not listed one by one: the instance is gone with all of them.
      change.what = Change::What::epoll_removed;
      changes.push_back(change);
      continue;
    }
    if (o == old_instances.end()) {
      Change added = change;
      added.what = Change::What::epoll_added;
      added.watched_count = n->second.instance->watched.size();
      changes.push_back(std::move(added));
    }
    diff_entries(o == old_instances.end() ? nullptr : o->second.instance, n->second.instance, change,
                 changes);
  }
  return changes;
}

}  // namespace lsepoll

#include "watch.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>

namespace lsepoll {
namespace {

using InstanceKey = std::pair<pid_t, int>;  // pid, epoll fd

// What an entry is across two readings: the number it was added under and the
// file it watches, known by the inode and device the kernel prints for it.
// The kernel keys its entries by the number and the file itself, so this
// tells apart two entries under one number (one left over from a file closed
// while in the set) unless both files share an inode, as every eventfd does.
using EntryKey = std::tuple<int, dev_t, std::uint64_t>;  // fd, device, inode

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

// The entries of `instance` (none when it is null) grouped by key, each
// group in the kernel's order.
std::map<EntryKey, std::vector<const WatchedFile*>> index_entries(const EpollInstance* instance) {
  std::map<EntryKey, std::vector<const WatchedFile*>> index;
  if (instance == nullptr) return index;
  for (const WatchedFile& w : instance->watched) index[{w.fd, w.device, w.inode}].push_back(&w);
  return index;
}

// Whether an entry reads the same in two readings: its flags and what its fd is.
bool same_entry(const WatchedFile& a, const WatchedFile& b) {
  return a.events == b.events && a.file.description == b.file.description;
}

// Appends the differences between `old_group` and `new_group`, the entries
// of one key in two readings, each a copy of `prototype` with what changed
// filled in. Entries that read the same are paired first, so that a file
// added beside another of its inode under one number shows as that one
// addition; the rest pair up in the kernel's order, which is by the files'
// addresses and so keeps the order of files that stay.
void diff_group(const std::vector<const WatchedFile*>& old_group,
                const std::vector<const WatchedFile*>& new_group, const Change& prototype,
                std::vector<Change>& out) {
  std::vector<const WatchedFile*> unpaired_new = new_group;
  std::vector<const WatchedFile*> unpaired_old;
  for (const WatchedFile* o : old_group) {
    const auto same = std::find_if(unpaired_new.begin(), unpaired_new.end(),
                                   [&](const WatchedFile* n) { return same_entry(*o, *n); });
    if (same == unpaired_new.end()) {
      unpaired_old.push_back(o);
    } else {
      unpaired_new.erase(same);
    }
  }
  for (std::size_t i = 0; i < std::max(unpaired_old.size(), unpaired_new.size()); ++i) {
    Change change = prototype;
    if (i >= unpaired_new.size()) {
      change.what = Change::What::removed;
      change.before = *unpaired_old[i];
    } else if (i >= unpaired_old.size()) {
      change.what = Change::What::added;
      change.after = *unpaired_new[i];
    } else {
      change.what = Change::What::changed;
      change.before = *unpaired_old[i];
      change.after = *unpaired_new[i];
    }
    out.push_back(std::move(change));
  }
}

// Appends the differences between the entries of `before` and `after` (either
// may be null: an instance that is new or gone), each a copy of `prototype`
// with what changed filled in.
void diff_entries(const EpollInstance* before, const EpollInstance* after, const Change& prototype,
                  std::vector<Change>& out) {
  const auto old_entries = index_entries(before);
  const auto new_entries = index_entries(after);
  std::set<EntryKey> keys;
  for (const auto& [key, group] : old_entries) keys.insert(key);
  for (const auto& [key, group] : new_entries) keys.insert(key);
  const std::vector<const WatchedFile*> none;
  for (const EntryKey& key : keys) {
    const auto o = old_entries.find(key);
    const auto n = new_entries.find(key);
    diff_group(o == old_entries.end() ? none : o->second, n == new_entries.end() ? none : n->second,
               prototype, out);
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

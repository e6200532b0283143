// What changed between two readings of the epoll sets, for `lsepoll --watch`.

#ifndef LINUX_EXT_TOOLS_LSEPOLL_WATCH_H_
#define LINUX_EXT_TOOLS_LSEPOLL_WATCH_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "proc.h"

namespace lsepoll {

// One difference between two readings, in one epoll instance of one process.
struct Change {
  enum class What {
    epoll_added,    // a new instance (a new process, or a new epoll fd); its fds follow as `added`
    epoll_removed,  // the instance is gone (closed, or the process exited)
    added,          // an fd entered the set: `after`
    removed,        // an fd left the set: `before`
    changed,        // the entry's flags or what its fd is changed: `before` and `after`
  };
  What what;
  pid_t pid = 0;
  std::string command;
  int epoll_fd = -1;
  std::size_t watched_count = 0;  // epoll_added: how many fds the new instance watches
  WatchedFile before;
  WatchedFile after;
};

// "epoll_added", "epoll_removed", "added", "removed" or "changed".
const char* what_name(Change::What what);

// Every difference from `before` to `after` (each a reading of some
// processes), ordered by process, epoll fd and watched fd. An entry is
// matched by its fd number and the file it watches (its inode and device),
// and changed when its flags or its description differ: a kind that changed
// (an fd now closed or replaced) shows in the description, and so does a
// TCP state. Entries under one number whose files share an inode (two
// eventfds) are matched as well as their flags and descriptions allow.
std::vector<Change> diff(const std::vector<Process>& before, const std::vector<Process>& after);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_WATCH_H_

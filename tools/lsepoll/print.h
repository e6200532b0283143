// How lsepoll prints what it found, as text for people and as JSON; both
// carry the same fields (lsepoll(1) lists them).

#ifndef LINUX_EXT_TOOLS_LSEPOLL_PRINT_H_
#define LINUX_EXT_TOOLS_LSEPOLL_PRINT_H_

#include <string>
#include <string_view>

#include "proc.h"
#include "watch.h"

namespace lsepoll {

// A process as text: per epoll instance a header line
//   "1234 redis-server: epoll fd 5, 2 watched"
// ending in " (busy_poll ((usecs 50) (budget 8) (prefer true)))" when the
// set's busy-poll parameters were read and are not all zero, then a line per watched fd, "  fd 6 (in) tcp
// 127.0.0.1:6379 LISTEN", and a note line when some verdicts were made by inode. A process with no epoll
// instance prints "1234 cat: no epoll instance" when `named`, else nothing.
std::string process_text(const Process& p, bool named);

// A process as one JSON object:
//   {"pid", "command", "epolls": [{"fd", "watched": [WATCHED...], "busy_poll"}]}
// with WATCHED an object of every field of WatchedFile and its FileInfo, and
// "busy_poll" an object {"usecs", "budget", "prefer"} only where the text
// shows them.
std::string process_json(const Process& p);

// A change as one line of text, stamped with `time`:
//   "TIME 1234 redis-server: epoll fd 5: added fd 9 (in) tcp ..."
std::string change_text(const Change& c, std::string_view time);

// A change as one JSON object on one line:
//   {"time", "pid", "command", "epoll_fd", "change", ...}
// with "watched_count" for epoll_added, "watched" for added and removed, and
// "before" and "after" for changed.
std::string change_json(const Change& c, std::string_view time);

}  // namespace lsepoll

#endif  // LINUX_EXT_TOOLS_LSEPOLL_PRINT_H_

#include "print.h"

#include <cstdio>
#include <optional>
#include <vector>

namespace lsepoll {
namespace {

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A JSON object built field by field, in the order the fields are added.
class JsonObject {
 public:
  JsonObject& string(std::string_view name, std::string_view value) { return json(name, json_string(value)); }
  JsonObject& number(std::string_view name, long long value) { return json(name, std::to_string(value)); }
  JsonObject& boolean(std::string_view name, bool value) { return json(name, value ? "true" : "false"); }
  // `value` is JSON text already: an object or an array.
  JsonObject& json(std::string_view name, const std::string& value) {
    if (text_.size() > 1) text_ += ',';
    text_ += json_string(name) + ":" + value;
    return *this;
  }
  std::string text() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

std::string json_array(const std::vector<std::string>& elements) {
  std::string out = "[";
  for (const std::string& element : elements) {
    if (out.size() > 1) out += ',';
    out += element;
  }
  return out + "]";
}

// "fd 6 (in) tcp 127.0.0.1:6379 LISTEN": the line of a watched fd, less its
// indentation.
std::string watched_text(const WatchedFile& w) {
  return "fd " + std::to_string(w.fd) + " " + flags_text(w.events) + " " + w.file.description;
}

std::string watched_json(const WatchedFile& w) {
  const FileInfo& f = w.file;
  return JsonObject()
      .number("fd", w.fd)
      .number("events", w.events)
      .string("flags", flags_text(w.events))
      .string("kind", f.kind)
      .string("target", f.target)
      .string("name", f.name)
      .string("end", f.end)
      .string("family", f.family)
      .string("type", f.type)
      .string("protocol", f.protocol)
      .string("local", f.local)
      .string("remote", f.remote)
      .string("state", f.state)
      .number("inode", static_cast<long long>(w.inode))
      .string("verdict_by", verdict_by_name(w.verdict_by))
      .string("description", f.description)
      .text();
}

// The fds of `e` whose verdict was made by inode, as "fd 5, fd 7"; "" when
// kcmp answered for all.
std::string judged_by_inode(const EpollInstance& e) {
  std::string fds;
  for (const WatchedFile& w : e.watched) {
    if (w.verdict_by != VerdictBy::inode) continue;
    fds += (fds.empty() ? "fd " : ", fd ") + std::to_string(w.fd);
  }
  return fds;
}

// The busy-poll parameters of `e` when lsepoll read them and they are not
// all zero; nullopt when there is nothing to say.
std::optional<BusyPoll> busy_poll_shown(const EpollInstance& e) {
  if (!e.busy_poll || is_off(*e.busy_poll)) return std::nullopt;
  return e.busy_poll;
}

}  // namespace

std::string process_text(const Process& p, bool named) {
  const std::string who = std::to_string(p.pid) + " " + p.command + ": ";
  if (p.epolls.empty()) return named ? who + "no epoll instance\n" : "";
  std::string out;
  for (const EpollInstance& e : p.epolls) {
    out += who + "epoll fd " + std::to_string(e.fd) + ", " + std::to_string(e.watched.size()) + " watched";
    if (const auto busy_poll = busy_poll_shown(e)) out.append(" ").append(busy_poll_text(*busy_poll));
    out += "\n";
    for (const WatchedFile& w : e.watched) out.append("  ").append(watched_text(w)).append("\n");
    if (const std::string fds = judged_by_inode(e); !fds.empty()) {
      out += "  note: verdict by inode for " + fds +
             " (kcmp cannot compare files here): an fd replaced by a file of the same inode, such as another "
             "eventfd or the other end of its pipe, shows as live\n";
    }
  }
  return out;
}

std::string process_json(const Process& p) {
  std::vector<std::string> epolls;
  for (const EpollInstance& e : p.epolls) {
    std::vector<std::string> watched;
    for (const WatchedFile& w : e.watched) watched.push_back(watched_json(w));
    JsonObject epoll;
    epoll.number("fd", e.fd).json("watched", json_array(watched));
    if (const auto busy_poll = busy_poll_shown(e)) {
      epoll.json("busy_poll", JsonObject()
                                  .number("usecs", busy_poll->busy_poll_usecs)
                                  .number("budget", busy_poll->busy_poll_budget)
                                  .boolean("prefer", busy_poll->prefer_busy_poll != 0)
                                  .text());
    }
    epolls.push_back(epoll.text());
  }
  return JsonObject()
      .number("pid", p.pid)
      .string("command", p.command)
      .json("epolls", json_array(epolls))
      .text();
}

std::string change_text(const Change& c, std::string_view time) {
  std::string out = std::string(time) + " " + std::to_string(c.pid) + " " + c.command + ": epoll fd " +
                    std::to_string(c.epoll_fd) + ": ";
  switch (c.what) {
    case Change::What::epoll_added:
      return out + "new, " + std::to_string(c.watched_count) + " watched\n";
    case Change::What::epoll_removed:
      return out + "gone\n";
    case Change::What::added:
      return out + "added " + watched_text(c.after) + "\n";
    case Change::What::removed:
      return out + "removed " + watched_text(c.before) + "\n";
    case Change::What::changed:
      break;
  }
  return out + "changed " + watched_text(c.before) + " -> " + flags_text(c.after.events) + " " +
         c.after.file.description + "\n";
}

std::string change_json(const Change& c, std::string_view time) {
  JsonObject object;
  object.string("time", time)
      .number("pid", c.pid)
      .string("command", c.command)
      .number("epoll_fd", c.epoll_fd)
      .string("change", what_name(c.what));
  switch (c.what) {
    case Change::What::epoll_added:
      object.number("watched_count", static_cast<long long>(c.watched_count));
      break;
    case Change::What::epoll_removed:
      break;
    case Change::What::added:
      object.json("watched", watched_json(c.after));
      break;
    case Change::What::removed:
      object.json("watched", watched_json(c.before));
      break;
    case Change::What::changed:
      object.json("before", watched_json(c.before)).json("after", watched_json(c.after));
      break;
  }
  return object.text() + "\n";
}

}  // namespace lsepoll

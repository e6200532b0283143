// lsepoll: list the epoll sets of running processes.
//
//   lsepoll [--json] [PID...]
//
// For each epoll instance of each process: every fd it watches, the flags in
// the library's S-expression format (what `Epoll::to_sexp` prints), and what
// the fd is. Without a PID, every process the user may read that has an
// epoll instance. See lsepoll(1).

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "proc.h"

namespace {

constexpr std::string_view kUsage =
    "usage: lsepoll [--json] [PID...]\n"
    "List the epoll instances of the given processes (default: every process\n"
    "you may read), each watched fd with its flags and what it is.\n";

void print_text(const lsepoll::Process& p, bool named) {
  if (p.epolls.empty() && named) std::printf("%d %s: no epoll instance\n", p.pid, p.command.c_str());
  for (const lsepoll::EpollInstance& e : p.epolls) {
    std::printf("%d %s: epoll fd %d, %zu watched\n", p.pid, p.command.c_str(), e.fd, e.watched.size());
    for (const lsepoll::WatchedFile& w : e.watched) {
      std::printf("  fd %d %s %s\n", w.fd, lsepoll::flags_text(w.events).c_str(), w.description.c_str());
    }
  }
}

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

// One process as a JSON object, fields in a fixed order. Built by appending,
// piece by piece, which reads as the output does.
std::string to_json(const lsepoll::Process& p) {
  std::string out;
  auto field = [&out](std::string_view name, const std::string& json_value) {
    if (out.back() != '{') out += ',';
    out += json_string(name);
    out += ':';
    out += json_value;
  };
  out += '{';
  field("pid", std::to_string(p.pid));
  field("command", json_string(p.command));
  out += ",\"epolls\":[";
  for (const lsepoll::EpollInstance& e : p.epolls) {
    if (out.back() != '[') out += ',';
    out += '{';
    field("fd", std::to_string(e.fd));
    out += ",\"watched\":[";
    for (const lsepoll::WatchedFile& w : e.watched) {
      if (out.back() != '[') out += ',';
      out += '{';
      field("fd", std::to_string(w.fd));
      field("events", std::to_string(w.events));
      field("flags", json_string(lsepoll::flags_text(w.events)));
      field("kind", json_string(w.kind));
      field("target", json_string(w.target));
      field("local", json_string(w.local));
      field("remote", json_string(w.remote));
      field("state", json_string(w.state));
      field("description", json_string(w.description));
      out += '}';
    }
    out += "]}";
  }
  out += "]}";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = false;
  std::vector<pid_t> pids;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--json") {
      json = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else if (!arg.empty() && arg.find_first_not_of("0123456789") == std::string_view::npos && arg.size() < 10 &&
               std::stol(std::string(arg)) > 0) {
      pids.push_back(static_cast<pid_t>(std::stol(std::string(arg))));
    } else {
      std::fprintf(stderr, "lsepoll: %s: not a process id\n%s", argv[i], kUsage.data());
      return 2;
    }
  }
  const bool named = !pids.empty();
  if (!named) pids = lsepoll::all_pids();

  int status = 0;
  std::vector<std::string> objects;
  for (const pid_t pid : pids) {
    auto process = lsepoll::inspect(pid);
    if (!process) {
      // Scanning every process, the ones that vanished or belong to another
      // user are not errors: they are simply not the user's to see.
      if (named) {
        std::fprintf(stderr, "lsepoll: %s\n", process.error().context().c_str());
        status = 1;
      }
      continue;
    }
    if (!named && process->epolls.empty()) continue;
    if (json) {
      objects.push_back(to_json(*process));
    } else {
      print_text(*process, named);
    }
  }
  if (json) {
    std::printf("[");
    for (std::size_t i = 0; i < objects.size(); ++i) std::printf("%s%s", i ? ",\n " : "", objects[i].c_str());
    std::printf("]\n");
  }
  return status;
}

#include "sockets.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstring>
#include <iterator>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "procfs.h"

namespace lsepoll {
namespace {

// The remainder of `line` after its first `n` whitespace-separated fields:
// the path of a unix socket, which may itself hold spaces.
std::string_view after_fields(std::string_view line, std::size_t n) {
  std::size_t pos = 0;
  for (std::size_t i = 0; i < n; ++i) {
    pos = line.find_first_not_of(' ', pos);
    pos = pos == std::string_view::npos ? pos : line.find(' ', pos);
    if (pos == std::string_view::npos) return {};
  }
  pos = line.find_first_not_of(' ', pos);
  return pos == std::string_view::npos ? std::string_view() : line.substr(pos);
}

// An address of /proc/PID/net/{tcp,udp,...}, "0100007F:1F90", split in its
// host ("127.0.0.1", or "[::1]" for IPv6) and port. The kernel prints each
// 32-bit word of the host as this machine reads it, so copying the words
// back into memory gives the address in network order.
struct InetAddress {
  std::string host;
  unsigned port = 0;
};

std::optional<InetAddress> decode_address(std::string_view hex) {
  const std::size_t colon = hex.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view host = hex.substr(0, colon);
  const std::size_t words = host.size() / 8;
  InetAddress address;
  if ((words != 1 && words != 4) || host.size() % 8 != 0 ||
      !parse_number(hex.substr(colon + 1), 16, address.port)) {
    return std::nullopt;
  }
  unsigned char bytes[16];
  for (std::size_t i = 0; i < words; ++i) {
    std::uint32_t word = 0;
    if (!parse_number(host.substr(i * 8, 8), 16, word)) return std::nullopt;
    std::memcpy(bytes + 4 * i, &word, sizeof word);
  }
  char text[INET6_ADDRSTRLEN];
  inet_ntop(words == 1 ? AF_INET : AF_INET6, bytes, text, sizeof text);
  address.host = words == 1 ? std::string(text) : std::string("[") + text + "]";
  return address;
}

std::string with_port(const InetAddress& address) {
  return address.host + ":" + std::to_string(address.port);
}

// `names[number]`, or the number itself when the table has no name for it.
template <std::size_t N>
std::string name_or_number(const char* const (&names)[N], unsigned number) {
  return number < N && names[number][0] != '\0' ? names[number] : std::to_string(number);
}

// A TCP state, given in hex: "0A" is LISTEN.
std::string tcp_state(std::string_view hex) {
  static constexpr const char* kNames[] = {
      "",      "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",    "TIME_WAIT",
      "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV", "BOUND_INACTIVE"};
  unsigned state = 0;
  return parse_number(hex, 16, state) ? name_or_number(kNames, state) : std::string(hex);
}

// Calls `row(fields, line)` for each line of /proc/PID/net/FILE after its
// header, `fields` its whitespace-separated fields. Nothing when the file
// cannot be read (a kernel without that protocol).
template <class F>
void for_each_row(pid_t pid, std::string_view file, F&& row) {
  const std::vector<std::string> lines = read_lines(proc_path(pid, "net/" + std::string(file)));
  for (std::size_t i = 1; i < lines.size(); ++i) row(split(lines[i]), lines[i]);
}

// The inet tables: each file with the kind, family and socket type of every
// socket it lists. All share the columns "sl local_address rem_address st
// ... uid timeout inode".
struct InetTable {
  const char* file;  // and kind
  const char* family;
  const char* type;
};
constexpr InetTable kInetTables[] = {
    {"tcp", "inet", "stream"},   {"tcp6", "inet6", "stream"},  {"udp", "inet", "dgram"},
    {"udp6", "inet6", "dgram"},  {"udplite", "inet", "dgram"}, {"udplite6", "inet6", "dgram"},
    {"raw", "inet", "raw"},      {"raw6", "inet6", "raw"},     {"icmp", "inet", "dgram"},
    {"icmp6", "inet6", "dgram"},
};

void read_inet_table(pid_t pid, const InetTable& table, std::map<std::uint64_t, FileInfo>& out) {
  for_each_row(pid, table.file, [&](const std::vector<std::string>& f, const std::string&) {
    std::uint64_t inode = 0;
    if (f.size() < 10 || !parse_number(f[9], 10, inode) || inode == 0) return;
    const std::optional<InetAddress> local = decode_address(f[1]);
    const std::optional<InetAddress> remote = decode_address(f[2]);
    if (!local || !remote) return;
    FileInfo s;
    s.kind = table.file;
    s.family = table.family;
    s.type = table.type;
    if (s.type == "raw") {
      // A raw socket's "port" is the IP protocol it was opened for.
      s.protocol = std::to_string(local->port);
      s.local = local->host;
    } else {
      s.local = with_port(*local);
      if (remote->port != 0) s.remote = with_port(*remote);  // connected
    }
    if (s.kind.starts_with("tcp")) s.state = tcp_state(f[3]);
    out[inode] = std::move(s);
  });
}

// /proc/PID/net/unix: "Num RefCount Protocol Flags Type St Inode Path", the
// path missing for unnamed sockets and starting with @ for abstract ones.
void read_unix_table(pid_t pid, std::map<std::uint64_t, FileInfo>& out) {
  static constexpr const char* kTypes[] = {"", "stream", "dgram", "raw", "rdm", "seqpacket"};
  static constexpr const char* kStates[] = {"", "UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING"};
  constexpr unsigned kListening = 0x10000;  // __SO_ACCEPTCON in Flags
  for_each_row(pid, "unix", [&](const std::vector<std::string>& f, const std::string& line) {
    std::uint64_t inode = 0;
    unsigned flags = 0, type = 0, state = 0;
    if (f.size() < 7 || !parse_number(f[3], 16, flags) || !parse_number(f[4], 16, type) ||
        !parse_number(f[5], 16, state) || !parse_number(f[6], 10, inode)) {
      return;
    }
    FileInfo s;
    s.kind = "unix";
    s.family = "unix";
    s.type = name_or_number(kTypes, type);
    s.local = std::string(after_fields(line, 7));
    if (s.type == "stream" || s.type == "seqpacket") {
      s.state = (flags & kListening) != 0 ? "LISTEN" : name_or_number(kStates, state);
    }
    out[inode] = std::move(s);
  });
}

// /proc/PID/net/netlink: "sk Eth Pid Groups Rmem Wmem Dump Locks Drops
// Inode", Eth the netlink protocol. Only bound sockets are listed (sending
// or connecting binds).
void read_netlink_table(pid_t pid, std::map<std::uint64_t, FileInfo>& out) {
  // <linux/netlink.h>, NETLINK_ROUTE = 0 onwards.
  static constexpr const char* kProtocols[] = {
      "route",   "unused", "usersock",      "firewall",  "sock_diag", "nflog",  "xfrm",    "selinux",
      "iscsi",   "audit",  "fib_lookup",    "connector", "netfilter", "ip6_fw", "dnrtmsg", "kobject_uevent",
      "generic", "",       "scsitransport", "ecryptfs",  "rdma",      "crypto", "smc"};
  for_each_row(pid, "netlink", [&](const std::vector<std::string>& f, const std::string&) {
    std::uint64_t inode = 0;
    unsigned protocol = 0;
    if (f.size() < 10 || !parse_number(f[1], 10, protocol) || !parse_number(f[9], 10, inode) || inode == 0) {
      return;
    }
    FileInfo s;
    s.kind = "netlink";
    s.family = "netlink";
    s.protocol = name_or_number(kProtocols, protocol);
    out[inode] = std::move(s);
  });
}

// /proc/PID/net/packet: "sk RefCnt Type Proto Iface R Rmem User Inode",
// Type the socket type and Proto the Ethernet protocol in hex.
void read_packet_table(pid_t pid, std::map<std::uint64_t, FileInfo>& out) {
  static constexpr const char* kTypes[] = {"", "", "dgram", "raw", "", "", "", "", "", "", "packet"};
  static constexpr std::pair<unsigned, const char*> kProtocols[] = {
      {0x0003, "all"}, {0x0800, "ip"}, {0x0806, "arp"}, {0x86dd, "ipv6"}};
  for_each_row(pid, "packet", [&](const std::vector<std::string>& f, const std::string&) {
    std::uint64_t inode = 0;
    unsigned type = 0, protocol = 0;
    if (f.size() < 9 || !parse_number(f[2], 10, type) || !parse_number(f[3], 16, protocol) ||
        !parse_number(f[8], 10, inode)) {
      return;
    }
    FileInfo s;
    s.kind = "packet";
    s.family = "packet";
    s.type = name_or_number(kTypes, type);
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%04x", protocol);
    s.protocol = hex;
    for (const auto& [number, name] : kProtocols) {
      if (number == protocol) s.protocol = name;
    }
    out[inode] = std::move(s);
  });
}

}  // namespace

SocketTable SocketTable::read(pid_t pid) {
  SocketTable table;
  for (const InetTable& inet : kInetTables) read_inet_table(pid, inet, table.by_inode_);
  read_unix_table(pid, table.by_inode_);
  read_netlink_table(pid, table.by_inode_);
  read_packet_table(pid, table.by_inode_);
  return table;
}

const FileInfo* SocketTable::find(std::uint64_t inode) const {
  const auto found = by_inode_.find(inode);
  return found == by_inode_.end() ? nullptr : &found->second;
}

FileInfo socket_by_protocol_name(const std::string& link) {
  // The `name` of each protocol's struct proto in the kernel.
  struct Known {
    std::string_view protocol_name;
    const char* kind;
    const char* family;
    const char* type;
  };
  static constexpr Known kKnown[] = {
      {"TCP", "tcp", "inet", "stream"},
      {"TCPv6", "tcp6", "inet6", "stream"},
      {"UDP", "udp", "inet", "dgram"},
      {"UDPv6", "udp6", "inet6", "dgram"},
      {"UDP-Lite", "udplite", "inet", "dgram"},
      {"UDPLITEv6", "udplite6", "inet6", "dgram"},
      {"RAW", "raw", "inet", "raw"},
      {"RAWv6", "raw6", "inet6", "raw"},
      {"PING", "icmp", "inet", "dgram"},
      {"PINGv6", "icmp6", "inet6", "dgram"},
      {"MPTCP", "mptcp", "inet", "stream"},
      {"MPTCPv6", "mptcp6", "inet6", "stream"},
      {"UNIX-STREAM", "unix", "unix", "stream"},
      {"UNIX", "unix", "unix", ""},
      {"NETLINK", "netlink", "netlink", ""},
      {"PACKET", "packet", "packet", ""},
  };
  FileInfo s;
  s.kind = "socket";
  char name[64];
  const ssize_t n = ::getxattr(link.c_str(), "system.sockprotoname", name, sizeof name - 1);
  if (n <= 0) return s;
  name[n] = '\0';  // the kernel counts the name's own NUL, or not
  const std::string_view protocol_name(name);
  for (const Known& known : kKnown) {
    if (known.protocol_name == protocol_name) {
      s.kind = known.kind;
      s.family = known.family;
      s.type = known.type;
      return s;
    }
  }
  s.protocol = std::string(protocol_name);
  return s;
}

}  // namespace lsepoll

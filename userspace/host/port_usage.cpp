#include "host/port_usage.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace why502 {
namespace {

constexpr unsigned kTcpEstablished = 1;
constexpr unsigned kTcpTimeWait = 6;

// /proc/net/tcp writes an address as the hex of its bytes read as 32-bit
// words in host order: 127.0.0.1 is "0100007F" on x86-64.
bool address_in_hex(std::string_view hex, uint8_t* out, size_t bytes) {
  if (hex.size() != bytes * 2) return false;
  for (size_t word = 0; word < bytes / 4; ++word) {
    uint32_t value = 0;
    for (size_t i = 0; i < 8; ++i) {
      const char c = hex[word * 8 + i];
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (digit < 0) return false;
      value = value << 4 | static_cast<uint32_t>(digit);
    }
    std::memcpy(out + word * 4, &value, 4);  // host order, as the kernel printed it
  }
  return true;
}

// The namespace's port range: only a task inside it reads its net sysctls.
// Ours is read here; another one by whoever holds CAP_SYS_ADMIN, which
// setns needs: the uprobe broker when there is one, else a thread of ours
// joins it for the read.
std::optional<PortRange> port_range_of(pid_t worker, const PortUsageProber::RangeReader& other_namespace) {
  struct stat ours{}, theirs{};
  const std::string ns_path = "/proc/" + std::to_string(worker) + "/ns/net";
  if (stat("/proc/self/ns/net", &ours) == 0 && stat(ns_path.c_str(), &theirs) == 0 && ours.st_ino == theirs.st_ino &&
      ours.st_dev == theirs.st_dev) {
    std::ifstream sysctl("/proc/sys/net/ipv4/ip_local_port_range");
    return port_range_in(sysctl);
  }
  const int ns = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) return std::nullopt;
  std::optional<PortRange> range;
  if (other_namespace) {
    PortRange r;
    if (other_namespace(ns, &r.low, &r.high)) range = r;
    close(ns);
    return range;
  }
  std::thread reader([&] {
    if (setns(ns, CLONE_NEWNET) != 0) return;
    std::ifstream sysctl("/proc/sys/net/ipv4/ip_local_port_range");
    range = port_range_in(sysctl);
  });
  reader.join();
  close(ns);
  return range;
}

}  // namespace

std::optional<w5_addr> address_of_peer(std::string_view peer) {
  w5_addr a{};
  std::string host;
  std::string_view port;
  if (peer.starts_with('[')) {
    const size_t close = peer.find("]:");
    if (close == std::string_view::npos) return std::nullopt;
    host = peer.substr(1, close - 1);
    port = peer.substr(close + 2);
    a.family = AF_INET6;
    if (inet_pton(AF_INET6, host.c_str(), a.addr) != 1) return std::nullopt;
  } else {
    const size_t colon = peer.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = peer.substr(0, colon);
    port = peer.substr(colon + 1);
    a.family = AF_INET;
    if (inet_pton(AF_INET, host.c_str(), a.addr) != 1) return std::nullopt;
  }
  uint32_t value = 0;
  if (port.empty() || port.size() > 5) return std::nullopt;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  a.port = static_cast<uint16_t>(value);
  return a;
}

std::optional<PortRange> port_range_in(std::istream& sysctl) {
  PortRange r;
  if (!(sysctl >> r.low >> r.high) || r.low == 0 || r.low > r.high || r.high > 65535) return std::nullopt;
  return r;
}

std::optional<ProcNetTcpSocket> proc_net_tcp_socket(const std::string& line, uint16_t family) {
  const size_t bytes = family == AF_INET6 ? 16 : 4;
  std::istringstream fields(line);
  std::string slot, local, rem, state, queues, timer, retransmits, uid, timeout;
  ProcNetTcpSocket s;
  if (!(fields >> slot >> local >> rem >> state)) return std::nullopt;
  auto endpoint = [&](const std::string& text, w5_addr& out) {
    const size_t colon = text.find(':');
    if (colon == std::string::npos || !address_in_hex(std::string_view(text).substr(0, colon), out.addr, bytes))
      return false;
    try {
      out.port = static_cast<uint16_t>(std::stoul(text.substr(colon + 1), nullptr, 16));
    } catch (const std::exception&) {
      return false;
    }
    out.family = family;
    return true;
  };
  if (!endpoint(local, s.local) || !endpoint(rem, s.remote)) return std::nullopt;
  try {
    s.state = static_cast<unsigned>(std::stoul(state, nullptr, 16));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  // The inode is the tenth column (a short line just leaves it 0).
  fields >> queues >> timer >> retransmits >> uid >> timeout >> s.inode;
  return s;
}

bool has_ipv6_source_in(std::istream& if_inet6, const w5_addr& remote) {
  static constexpr uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const bool to_loopback = std::memcmp(remote.addr, kLoopback, sizeof(kLoopback)) == 0;
  // "00000000000000000000000000000001 01 80 10 80       lo": the address
  // in 32 hex digits, network order.
  for (std::string line; std::getline(if_inet6, line);) {
    if (line.size() < 32) continue;
    uint8_t address[16];
    bool hex = true;
    for (size_t i = 0; i < 16 && hex; ++i) {
      unsigned byte = 0;
      hex = std::sscanf(line.c_str() + 2 * i, "%2x", &byte) == 1;
      address[i] = static_cast<uint8_t>(byte);
    }
    if (!hex) continue;
    const bool loopback = std::memcmp(address, kLoopback, sizeof(kLoopback)) == 0;
    const bool link_local = address[0] == 0xfe && (address[1] & 0xc0) == 0x80;
    if (to_loopback ? loopback : !loopback && !link_local) return true;
  }
  return false;
}

PortHolders port_holders_in(std::istream& proc_net_tcp, const w5_addr& remote) {
  PortHolders holders;
  const size_t bytes = remote.family == AF_INET6 ? 16 : 4;
  std::string line;
  std::getline(proc_net_tcp, line);  // the column names
  while (std::getline(proc_net_tcp, line)) {
    const std::optional<ProcNetTcpSocket> s = proc_net_tcp_socket(line, remote.family);
    if (!s || s->remote.port != remote.port || std::memcmp(s->remote.addr, remote.addr, bytes) != 0) continue;
    if (s->state == kTcpEstablished) ++holders.established;
    else if (s->state == kTcpTimeWait) ++holders.time_wait;
    else ++holders.other;
  }
  return holders;
}

std::optional<w5_port_usage> PortUsageProber::probe(pid_t worker, std::string_view peer, uint64_t ts_ns) {
  const std::optional<w5_addr> remote = address_of_peer(peer);
  if (!remote) return std::nullopt;
  if (!pacing_.due({worker, std::string(peer)}, ts_ns)) return std::nullopt;

  w5_port_usage e{};
  e.h.type = W5_EV_PORT_USAGE;
  e.h.size = sizeof(e);
  e.h.ts_ns = ts_ns;
  e.h.tgid = static_cast<uint32_t>(worker);
  e.h.tid = e.h.tgid;
  e.remote = *remote;
  const size_t n = std::min(peer.size(), sizeof(e.peer) - 1);
  std::memcpy(e.peer, peer.data(), n);
  if (const std::optional<PortRange> range = port_range_of(worker, range_reader_)) {
    e.port_low = range->low;
    e.port_high = range->high;
  }
  // /proc/PID/net shows the sockets and addresses of PID's namespace; with
  // IPv6 off at boot (ipv6.disable=1) it has neither tcp6 nor if_inet6.
  const std::string net = "/proc/" + std::to_string(worker) + "/net";
  if (access(net.c_str(), R_OK) != 0) return std::nullopt;
  if (remote->family == AF_INET6) {
    std::ifstream if_inet6(net + "/if_inet6");
    if (!if_inet6 || !has_ipv6_source_in(if_inet6, *remote)) e.flags |= W5_PORTS_NO_SOURCE_ADDRESS;
  }
  std::ifstream tcp(net + (remote->family == AF_INET6 ? "/tcp6" : "/tcp"));
  const PortHolders holders = tcp ? port_holders_in(tcp, *remote) : PortHolders{};
  e.established = holders.established;
  e.time_wait = holders.time_wait;
  e.other = holders.other;
  return e;
}

}  // namespace why502

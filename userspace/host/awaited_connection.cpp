#include "host/awaited_connection.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "host/listener_probe.hpp"
#include "host/port_usage.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

constexpr unsigned kTcpEstablished = 1, kTcpListen = 10;
constexpr size_t kMaxAsked = 256;  // outgoing connections asked about per process
constexpr uint64_t kJiffySlackMs = 10;

size_t address_bytes(const w5_addr& a) { return a.family == AF_INET6 ? 16 : 4; }

}  // namespace

bool awaits_answer(const TcpActivity& a, uint32_t within_ms) {
  if (a.last_sent_ms > within_ms) return false;
  return a.last_sent_ms < a.last_received_ms || (a.last_sent_ms == a.last_received_ms && a.received_any == false);
}

std::optional<AwaitedConnection> awaited_connection(uint32_t pid, uint64_t since_ns) {
  const int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return std::nullopt;
  const std::vector<uint64_t> inodes = socket_inodes(proc_fd, std::to_string(pid).c_str());
  close(proc_fd);
  if (inodes.empty()) return std::nullopt;
  // The process's established connections and its namespace's listeners.
  std::vector<ProcNetTcpSocket> connections, listeners;
  for (uint16_t family : {uint16_t{AF_INET}, uint16_t{AF_INET6}}) {
    std::ifstream in("/proc/" + std::to_string(pid) + (family == AF_INET ? "/net/tcp" : "/net/tcp6"));
    std::string line;
    while (std::getline(in, line)) {
      const std::optional<ProcNetTcpSocket> s = proc_net_tcp_socket(line, family);
      if (!s) continue;
      if (s->state == kTcpListen) listeners.push_back(*s);
      else if (s->state == kTcpEstablished && std::binary_search(inodes.begin(), inodes.end(), s->inode))
        connections.push_back(*s);
    }
  }
  // The listener at end, by port and address (or the wildcard).
  auto listener_at = [&](const w5_addr& end) -> const ProcNetTcpSocket* {
    static const uint8_t zeros[16] = {};
    for (const ProcNetTcpSocket& l : listeners)
      if (l.local.family == end.family && l.local.port == end.port &&
          (std::memcmp(l.local.addr, end.addr, address_bytes(end)) == 0 ||
           std::memcmp(l.local.addr, zeros, address_bytes(end)) == 0))
        return &l;
    return nullptr;
  };
  std::optional<AwaitedConnection> longest;
  size_t asked = 0;
  for (const ProcNetTcpSocket& c : connections) {
    if (listener_at(c.local)) continue;  // accepted: a client's connection, not one it opened
    if (++asked > kMaxAsked) break;
    const std::optional<TcpSocketDiag> diag = tcp_socket_with_tuple(c.local, c.remote);
    if (!diag || !diag->activity) continue;
    const TcpActivity activity = *diag->activity;
    // tcp_info's times are from the moment it is asked, in jiffies: since_ns
    // as seen then, with room for two roundings.
    const uint64_t now_ns = monotonic_now_ns();
    const uint64_t within_ms = (now_ns > since_ns ? (now_ns - since_ns) / 1'000'000 : 0) + kJiffySlackMs;
    if (!awaits_answer(activity, static_cast<uint32_t>(std::min<uint64_t>(within_ms, UINT32_MAX)))) continue;
    if (longest && longest->waited_ms >= activity.last_sent_ms) continue;
    const ProcNetTcpSocket* server = listener_at(c.remote);
    longest = AwaitedConnection{c.local, c.remote, activity.last_sent_ms, server ? server->inode : 0};
  }
  return longest;
}

}  // namespace why502

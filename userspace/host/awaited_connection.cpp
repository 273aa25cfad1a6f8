#include "host/awaited_connection.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "host/listener_probe.hpp"
#include "host/namespace_tcp.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

constexpr unsigned kTcpEstablished = 1;
constexpr size_t kMaxAsked = 256;  // outgoing connections asked about per process
constexpr uint64_t kJiffySlackMs = 10;

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
  // The process's established connections, among its namespace's.
  const NamespaceTcp tcp = read_namespace_tcp(pid, [&](const ProcNetTcpSocket& s) {
    return s.state == kTcpEstablished && std::binary_search(inodes.begin(), inodes.end(), s.inode);
  });
  std::optional<AwaitedConnection> longest;
  size_t asked = 0;
  for (const ProcNetTcpSocket& c : tcp.kept) {
    if (tcp.listener_at(c.local)) continue;  // accepted: a client's connection, not one it opened
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
    const ProcNetTcpSocket* server = tcp.listener_at(c.remote);
    longest = AwaitedConnection{c.local, c.remote, activity.last_sent_ms, server ? server->inode : 0};
  }
  return longest;
}

}  // namespace why502

#include "host/awaited_connection.hpp"

#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "host/listener_probe.hpp"
#include "host/port_usage.hpp"
#include "host/sock_diag_query.hpp"

namespace why502 {
namespace {

constexpr unsigned kTcpEstablished = 1, kTcpListen = 10;
constexpr size_t kMaxAsked = 256;  // outgoing connections asked about per process

size_t address_bytes(const w5_addr& a) { return a.family == AF_INET6 ? 16 : 4; }

std::optional<TcpActivity> activity_of(const ProcNetTcpSocket& s) {
  inet_diag_req_v2 request{};
  request.sdiag_family = static_cast<uint8_t>(s.local.family);
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  request.idiag_states = ~0u;
  request.id.idiag_sport = htons(s.local.port);
  request.id.idiag_dport = htons(s.remote.port);
  std::memcpy(request.id.idiag_src, s.local.addr, address_bytes(s.local));
  std::memcpy(request.id.idiag_dst, s.remote.addr, address_bytes(s.remote));
  request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  std::optional<TcpActivity> found;
  sock_diag_query(request, /*dump=*/false, [&](std::span<const uint8_t> reply) {
    found = tcp_activity_in_diag_reply(reply);
    return true;  // one datagram: the socket, or an error
  });
  return found;
}

}  // namespace

std::optional<TcpActivity> tcp_activity_in_diag_reply(std::span<const uint8_t> reply) {
  // Lengths are checked against the bytes received before anything is read;
  // headers are copied out, so the reply needs no alignment.
  nlmsghdr h;
  if (reply.size() < sizeof(h)) return std::nullopt;
  std::memcpy(&h, reply.data(), sizeof(h));
  if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || h.nlmsg_len > reply.size() ||
      h.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
    return std::nullopt;
  constexpr size_t kNeeded = offsetof(tcp_info, tcpi_last_data_recv) + sizeof(uint32_t);
  size_t at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_msg));
  while (at + sizeof(nlattr) <= h.nlmsg_len) {
    nlattr a;
    std::memcpy(&a, reply.data() + at, sizeof(a));
    if (a.nla_len < sizeof(a) || a.nla_len > h.nlmsg_len - at) break;
    if (a.nla_type == INET_DIAG_INFO && static_cast<size_t>(a.nla_len - NLA_HDRLEN) >= kNeeded) {
      TcpActivity activity;
      const uint8_t* info = reply.data() + at + NLA_HDRLEN;
      std::memcpy(&activity.last_sent_ms, info + offsetof(tcp_info, tcpi_last_data_sent), sizeof(uint32_t));
      std::memcpy(&activity.last_received_ms, info + offsetof(tcp_info, tcpi_last_data_recv), sizeof(uint32_t));
      if (static_cast<size_t>(a.nla_len - NLA_HDRLEN) >= offsetof(tcp_info, tcpi_data_segs_in) + sizeof(uint32_t)) {
        uint32_t segments = 0;
        std::memcpy(&segments, info + offsetof(tcp_info, tcpi_data_segs_in), sizeof(segments));
        activity.received_any = segments != 0;
      }
      return activity;
    }
    at += NLA_ALIGN(a.nla_len);
  }
  return std::nullopt;
}

bool awaits_answer(const TcpActivity& a, uint32_t within_ms) {
  if (a.last_sent_ms > within_ms) return false;
  return a.last_sent_ms < a.last_received_ms || (a.last_sent_ms == a.last_received_ms && a.received_any == false);
}

std::optional<AwaitedConnection> awaited_connection(uint32_t pid, uint32_t within_ms) {
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
    const std::optional<TcpActivity> activity = activity_of(c);
    if (!activity || !awaits_answer(*activity, within_ms)) continue;
    if (longest && longest->waited_ms >= activity->last_sent_ms) continue;
    const ProcNetTcpSocket* server = listener_at(c.remote);
    longest = AwaitedConnection{c.local, c.remote, activity->last_sent_ms, server ? server->inode : 0};
  }
  return longest;
}

}  // namespace why502

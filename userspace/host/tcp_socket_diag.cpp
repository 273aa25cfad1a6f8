#include "host/tcp_socket_diag.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstring>

#include "host/sock_diag_query.hpp"

namespace why502 {

std::optional<TcpSocketDiag> tcp_socket_diag_in_reply(std::span<const uint8_t> reply) {
  // Lengths are checked against the bytes received before anything is read;
  // headers are copied out, so the reply needs no alignment.
  nlmsghdr h;
  if (reply.size() < sizeof(h)) return std::nullopt;
  std::memcpy(&h, reply.data(), sizeof(h));
  if (h.nlmsg_type != SOCK_DIAG_BY_FAMILY || h.nlmsg_len > reply.size() ||
      h.nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg)))
    return std::nullopt;
  inet_diag_msg msg;
  std::memcpy(&msg, reply.data() + NLMSG_HDRLEN, sizeof(msg));
  TcpSocketDiag socket{msg.idiag_inode, msg.idiag_state, std::nullopt};
  size_t at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_msg));
  while (at + sizeof(nlattr) <= h.nlmsg_len) {
    nlattr a;
    std::memcpy(&a, reply.data() + at, sizeof(a));
    if (a.nla_len < sizeof(a) || a.nla_len > h.nlmsg_len - at) break;
    const size_t len = static_cast<size_t>(a.nla_len - NLA_HDRLEN);
    if (a.nla_type == INET_DIAG_INFO && len >= offsetof(tcp_info, tcpi_last_data_recv) + sizeof(uint32_t)) {
      const uint8_t* info = reply.data() + at + NLA_HDRLEN;
      TcpActivity activity;
      std::memcpy(&activity.last_sent_ms, info + offsetof(tcp_info, tcpi_last_data_sent), sizeof(uint32_t));
      std::memcpy(&activity.last_received_ms, info + offsetof(tcp_info, tcpi_last_data_recv), sizeof(uint32_t));
      if (len >= offsetof(tcp_info, tcpi_data_segs_in) + sizeof(uint32_t)) {
        uint32_t segments = 0;
        std::memcpy(&segments, info + offsetof(tcp_info, tcpi_data_segs_in), sizeof(segments));
        activity.received_any = segments != 0;
      }
      socket.activity = activity;
      break;
    }
    at += NLA_ALIGN(a.nla_len);
  }
  return socket;
}

std::optional<TcpSocketDiag> tcp_socket_with_tuple(const w5_addr& local, const w5_addr& remote) {
  const size_t address_bytes = local.family == AF_INET6 ? 16 : 4;
  inet_diag_req_v2 request{};
  request.sdiag_family = static_cast<uint8_t>(local.family);
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  request.idiag_states = ~0u;
  request.id.idiag_sport = htons(local.port);
  request.id.idiag_dport = htons(remote.port);
  std::memcpy(request.id.idiag_src, local.addr, address_bytes);
  std::memcpy(request.id.idiag_dst, remote.addr, address_bytes);
  request.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  std::optional<TcpSocketDiag> found;
  sock_diag_query(request, /*dump=*/false, [&](std::span<const uint8_t> reply) {
    found = tcp_socket_diag_in_reply(reply);
    return true;  // one datagram: the socket, or an error
  });
  return found;
}

}  // namespace why502

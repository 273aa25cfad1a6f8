// One NETLINK_SOCK_DIAG question and its answer: the socket, the request and
// the receive loop, which the listener probe and the backend prober share.
// What the answer means is left to their parsers (unit-tested and fuzzed on
// bytes).
#pragma once

#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cstdint>
#include <functional>
#include <span>

namespace why502 {

// Sends message (an nlmsghdr and its *_diag_req, as one datagram) and hands
// each datagram of the answer to on_reply until it returns true (the answer
// is complete) or nothing more comes. false when no netlink socket could be
// opened or the request could not be sent.
using SockDiagReply = std::function<bool(std::span<const uint8_t> datagram)>;
bool sock_diag_query(std::span<const uint8_t> message, const SockDiagReply& on_reply);

// The same for request (an inet_diag_req_v2 or unix_diag_req) behind the
// netlink header sock_diag wants: one socket, or (dump) every match.
template <typename DiagRequest>
bool sock_diag_query(const DiagRequest& request, bool dump, const SockDiagReply& on_reply) {
  struct {
    nlmsghdr header;
    DiagRequest request;
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | (dump ? NLM_F_DUMP : 0));
  message.request = request;
  return sock_diag_query(std::span(reinterpret_cast<const uint8_t*>(&message), sizeof(message)), on_reply);
}

}  // namespace why502

// One NETLINK_SOCK_DIAG question and its answer: the socket, the request and
// the receive loop, which the listener probe and the backend prober share.
// What the answer means is left to their parsers (unit-tested and fuzzed on
// bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <span>

namespace why502 {

// Sends request (an nlmsghdr and its *_diag_req, as one datagram) and hands
// each datagram of the answer to on_reply until it returns true (the answer
// is complete) or nothing more comes. false when no netlink socket could be
// opened or the request could not be sent.
using SockDiagReply = std::function<bool(std::span<const uint8_t> datagram)>;
bool sock_diag_query(std::span<const uint8_t> request, const SockDiagReply& on_reply);

template <typename Request>
bool sock_diag_query(const Request& request, const SockDiagReply& on_reply) {
  return sock_diag_query(std::span(reinterpret_cast<const uint8_t*>(&request), sizeof(request)), on_reply);
}

}  // namespace why502

// One TCP socket as NETLINK_SOCK_DIAG tells it, asked by its exact tuple
// (no dump): its inode and state, and from its tcp_info how long ago it
// last sent and received data.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "why502_wire.h"

namespace why502 {

// tcp_info's tcpi_last_data_sent and tcpi_last_data_recv (in jiffies, so
// both read the same when they came within a few ms), and whether it ever
// received data (tcpi_data_segs_in; nullopt from a kernel before 4.6).
struct TcpActivity {
  uint32_t last_sent_ms = 0;
  uint32_t last_received_ms = 0;
  std::optional<bool> received_any;
};

struct TcpSocketDiag {
  uint64_t inode = 0;  // 0: no file yet (in a listener's accept queue), or none
  unsigned state = 0;  // TCP_ESTABLISHED (1), TCP_CLOSE_WAIT (8), …
  std::optional<TcpActivity> activity;
};

// The socket in one datagram of an inet_diag answer asked for
// INET_DIAG_INFO; nullopt for an error (no socket has that tuple).
std::optional<TcpSocketDiag> tcp_socket_diag_in_reply(std::span<const uint8_t> reply);

// The TCP socket whose local end is local and remote end remote.
std::optional<TcpSocketDiag> tcp_socket_with_tuple(const w5_addr& local, const w5_addr& remote);

}  // namespace why502

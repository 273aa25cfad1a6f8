// The backend's own TCP connection it last sent on and has heard nothing
// back from since: what an event loop (Node, Go, asyncio) or a thread pool
// waits on when none of its threads is blocked on one descriptor. Read from
// the kernel's tcp_info of the process's outgoing connections (inet_diag,
// asked by each one's exact tuple).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "why502_wire.h"

namespace why502 {

// How long ago a TCP connection last sent and last received data
// (tcp_info's tcpi_last_data_sent, tcpi_last_data_recv: in jiffies, so both
// read the same when they came within a few ms), and whether it ever
// received any (tcpi_data_segs_in; nullopt from a kernel before 4.6).
struct TcpActivity {
  uint32_t last_sent_ms = 0;
  uint32_t last_received_ms = 0;
  std::optional<bool> received_any;
};

// The activity in one datagram of an inet_diag answer asked for
// INET_DIAG_INFO; nullopt without one (an error, or no tcp_info).
std::optional<TcpActivity> tcp_activity_in_diag_reply(std::span<const uint8_t> reply);

// Whether a connection with activity a waits for an answer to what it sent
// within_ms ago or since: its last act was that send, and nothing came back
// (a send in the jiffy of the last receipt counts only on a connection that
// never received: the connect's own jiffy).
bool awaits_answer(const TcpActivity& a, uint32_t within_ms);

struct AwaitedConnection {
  w5_addr local{};
  w5_addr remote{};
  uint32_t waited_ms = 0;       // since its last send
  uint64_t listener_inode = 0;  // the listener at remote in the process's network namespace; 0 none
};

// Of pid's established TCP connections that it opened (not accepted on one
// of its network namespace's listeners), the one that has waited longest
// for an answer to a send made within_ms ago or since; nullopt when none
// waits.
std::optional<AwaitedConnection> awaited_connection(uint32_t pid, uint32_t within_ms);

}  // namespace why502

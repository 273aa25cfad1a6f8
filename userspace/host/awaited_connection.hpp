// The backend's own TCP connection it last sent on and has heard nothing
// back from since: what an event loop (Node, Go, asyncio) or a thread pool
// waits on when none of its threads is blocked on one descriptor. Read from
// the kernel's tcp_info of the process's outgoing connections (inet_diag,
// asked by each one's exact tuple).
#pragma once

#include <cstdint>
#include <optional>

#include "host/tcp_socket_diag.hpp"
#include "why502_wire.h"

namespace why502 {

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
// for an answer to a send made at since_ns (CLOCK_MONOTONIC) or later;
// nullopt when none waits.
std::optional<AwaitedConnection> awaited_connection(uint32_t pid, uint64_t since_ns);

}  // namespace why502

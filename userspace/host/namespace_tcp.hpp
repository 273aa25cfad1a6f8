// The TCP sockets of a process's network namespace, as its
// /proc/PID/net/tcp and tcp6 list them: the listeners, and the sockets a
// caller keeps. What the backend reader tells accepted connections from
// those a process opened by, and finds the listener at a connection's end.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "host/port_usage.hpp"
#include "why502_wire.h"

namespace why502 {

struct NamespaceTcp {
  std::vector<ProcNetTcpSocket> listeners;
  std::vector<ProcNetTcpSocket> kept;
  // The listener at end (its address or the wildcard, of end's family);
  // null when none listens there.
  const ProcNetTcpSocket* listener_at(const w5_addr& end) const;
};

// Reads pid's namespace's TCP sockets: every listener, and the other
// sockets keep returns true for.
NamespaceTcp read_namespace_tcp(uint32_t pid, const std::function<bool(const ProcNetTcpSocket&)>& keep);

}  // namespace why502

// What the kernel says about a local TCP listener right now: its accept queue
// (NETLINK_SOCK_DIAG, as `ss -lnt` reads it), the processes holding it and
// their descriptor use (/proc). Read only when nginx timed out on an upstream,
// so its cost never lands on a healthy request.
#pragma once

#include <cstdint>
#include <optional>

#include "why502_wire.h"

namespace why502 {

// The listener serving addr (exact address or wildcard, same port), as an
// event stamped with ts_ns; nullopt when no local listener matches.
std::optional<w5_listener_state> probe_listener(const w5_addr& addr, uint64_t ts_ns);

}  // namespace why502

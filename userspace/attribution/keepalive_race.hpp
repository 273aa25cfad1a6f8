// keepalive_race: nginx took a connection from its upstream keepalive pool
// that the backend had already closed, or closed as the request arrived —
// the classic intermittent 502 behind a pool whose backend's idle timeout is
// shorter than nginx's. Told apart from a plain close or reset by the
// connection's history (W5_EV_UPSTREAM_REUSE): it carried earlier requests,
// and the backend's FIN or RST came before nginx's send or within a couple
// of round trips after it, before any of the response.
#pragma once

#include <string>
#include <vector>

#include "attribution/cause.hpp"
#include "why502_wire.h"

namespace why502 {

struct ReusedConnectionVerdict {
  bool race = false;                  // the failure is a keepalive_race
  std::vector<std::string> evidence;  // what the connection's history says, either way
};

// For a failure nginx logged as closed_early or reset on the connection
// reuse describes; while_sending: nginx logged it while sending the request.
ReusedConnectionVerdict judge_reused_connection(const w5_upstream_reuse& reuse, Cause logged, bool while_sending);

}  // namespace why502

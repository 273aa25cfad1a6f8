// The evidence lines of a W5_EV_BACKEND_STATE: who was at the backend's end
// of nginx's upstream connection and what it was doing when nginx gave up,
// most decisive first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "why502_wire.h"

namespace why502 {

// peer: nginx's name of the upstream ("127.0.0.1:8080").
std::vector<std::string> describe_backend_state(const w5_backend_state& state, std::string_view peer);

}  // namespace why502

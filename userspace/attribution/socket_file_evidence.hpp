// The evidence line of a W5_EV_SOCKET_FILE: which part of a unix socket's
// path keeps nginx's worker out, its owner and mode, and the worker's user.
#pragma once

#include <string>

#include "why502_wire.h"

namespace why502 {

std::string describe_socket_file(const w5_socket_file& file);

}  // namespace why502

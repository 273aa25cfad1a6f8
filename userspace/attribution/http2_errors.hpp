// What an HTTP/2 upstream's RST_STREAM or GOAWAY error code means (RFC 9113
// §7), for nginx's "upstream rejected request with error %ui" and "upstream
// sent goaway with error %ui" (proxy_http_version 2, grpc_pass).
#pragma once

#include <cstdint>
#include <string_view>

#include "attribution/cause.hpp"

namespace why502 {

// The evidence line for cause (h2_stream_reset or h2_goaway) and the error
// code the frame carried: its name, and what a backend means by it. Static
// text, so it can be a LoggedFailure's meaning.
std::string_view http2_error_meaning(Cause cause, uint64_t code);

}  // namespace why502

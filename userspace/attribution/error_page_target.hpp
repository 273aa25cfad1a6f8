// What the client gets when nginx's error_page takes over an error page: read
// from the location's configuration (W5_EV_NGX_ERROR_PAGE_TARGET) where no
// status line nginx writes can be read (--lean, TLS and HTTP/2 clients).
#pragma once

#include <optional>
#include <string>

#include "attribution/record.hpp"
#include "why502_wire.h"

namespace why502 {

// The status the client gets once nginx follows target for a page of
// page_status; nullopt when the target answers with its own status (a bare
// "=", as in `error_page 502 = @fallback`).
std::optional<int> status_after_error_page(const w5_ngx_error_page_target& target, int page_status);

// The evidence line for a status error_page changed.
std::string error_page_turned(int from, int to);

// Whether a client getting status got a gateway error of record r's: a
// record of status 500 was let through only when nginx failed to open the
// upstream connection.
bool is_gateway_status(int status, const Record& r);

// Gives r the status target leads its client to (saying so when it changed);
// false when that is no gateway error, or the target's own status.
bool follow_error_page(const w5_ngx_error_page_target& target, Record& r);

}  // namespace why502

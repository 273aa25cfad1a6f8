// What the client gets when nginx's error_page takes over an error page: read
// from the location's configuration (W5_EV_NGX_ERROR_PAGE_TARGET) where no
// status line nginx writes can be read (--lean, TLS and HTTP/2 clients).
#pragma once

#include <optional>
#include <string>

#include "why502_wire.h"

namespace why502 {

// The status the client gets once nginx follows target for a page of
// page_status; nullopt when the target answers with its own status (a bare
// "=", as in `error_page 502 = @fallback`).
std::optional<int> status_after_error_page(const w5_ngx_error_page_target& target, int page_status);

// The evidence line for a status error_page changed.
std::string error_page_turned(int from, int to);

}  // namespace why502

// Where why502 reads nginx's structs, for one nginx binary.
#pragma once

#include <string>

#include "why502_wire.h"

namespace why502 {

struct NginxLayout {
  w5_nginx_layout offsets{};
  std::string description;  // e.g. "nginx x86-64 (http cache built in)"
};

// Offsets checked against Debian's nginx 1.22.1 and its headers; the only
// layout change seen across 1.18–1.29 builds is the cache pointers that
// --without-http-cache removes from ngx_http_request_t.
NginxLayout nginx_layout_for(const std::string& binary_path);

// The functions the uprobes go on.
inline constexpr const char* kNginxUprobeFunctions[] = {"ngx_log_error_core", "ngx_http_special_response_handler"};

// "" when binary_path has every kNginxUprobeFunctions symbol; else why not
// (unreadable, or which symbol is missing), in words for a warning.
std::string unusable_nginx_symbols(const std::string& binary_path);

// The default layout (nginx built with the http cache).
w5_nginx_layout default_nginx_layout();

}  // namespace why502

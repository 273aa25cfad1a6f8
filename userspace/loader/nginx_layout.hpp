// Where why502 reads nginx's structs, for one nginx binary.
#pragma once

#include <string>

#include "loader/nginx_build_info.hpp"
#include "why502_wire.h"

namespace why502 {

struct NginxLayout {
  w5_nginx_layout offsets{};
  // False when some field was not measured for this version and build: the
  // description names the fields taken from the nearest measured build.
  bool measured = true;
  // e.g. "nginx 1.31.4, --with-compat: layout measured for this build"; for
  // the attach message and doctor.
  std::string description;
};

// The offsets for a build, chosen from the table in nginx_layout.cpp by the
// version and configure arguments the binary carries (what `nginx -V` prints).
NginxLayout nginx_layout_for(const std::string& binary_path);
NginxLayout nginx_layout_for_build(const NginxBuildInfo& build);

// The functions the uprobes go on.
inline constexpr const char* kNginxUprobeFunctions[] = {"ngx_log_error_core", "ngx_http_special_response_handler"};

// "" when binary_path has every kNginxUprobeFunctions symbol; else why not
// (unreadable, or which symbol is missing), in words for a warning.
std::string unusable_nginx_symbols(const std::string& binary_path);

}  // namespace why502

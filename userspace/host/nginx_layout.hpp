// Where why502 reads nginx's structs, for one nginx binary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "host/nginx_build_info.hpp"
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

// A testing and debugging aid, $WHY502_LAYOUT_OVERRIDE = PATH:FIELD=VALUE:
// one offset (a w5_nginx_layout field, VALUE decimal or 0x hex) of the layout
// chosen for the binary at PATH, e.g. to see the live check catch it.
inline constexpr const char* kLayoutOverrideVariable = "WHY502_LAYOUT_OVERRIDE";
struct LayoutOverride {
  std::string path;
  std::string field;
  uint32_t value = 0;
};
// The error says what is wrong when text does not read as one.
Result<LayoutOverride> parse_layout_override(const std::string& text);
// From the environment: nullopt when unset; the error (naming the variable)
// when malformed.
Result<std::optional<LayoutOverride>> layout_override_from_environment();
// Whether it names the binary at binary_path (the same file, by inode).
bool layout_override_applies(const LayoutOverride& override, const std::string& binary_path);
// Sets the field; the description says so.
void apply_layout_override(const LayoutOverride& override, NginxLayout& layout);

// What failed of the live checks (health.failed), in words for a warning;
// "" when nothing did.
std::string layout_check_failures(const w5_layout_health& health, const w5_nginx_layout& layout);

// The functions the uprobes go on.
inline constexpr const char* kNginxUprobeFunctions[] = {"ngx_log_error_core", "ngx_http_special_response_handler"};

// Whether binary_path has every kNginxUprobeFunctions symbol; the error says
// why not (unreadable, or which symbol is missing), in words for a warning.
Result<void> check_nginx_symbols(const std::string& binary_path);

}  // namespace why502

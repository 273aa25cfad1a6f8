#include "host/nginx_layout.hpp"

#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <iterator>

#include <cerrno>

#include "host/elf_symbols.hpp"

namespace why502 {
namespace {

// Which builds an offset holds for, from their configure arguments.
bool any_build(const NginxBuildInfo&) { return true; }
bool with_http_cache(const NginxBuildInfo& b) { return !b.has("--without-http-cache"); }
bool without_http_cache(const NginxBuildInfo& b) { return b.has("--without-http-cache"); }
bool with_compat(const NginxBuildInfo& b) { return b.has("--with-compat"); }
bool without_compat(const NginxBuildInfo& b) { return !b.has("--with-compat"); }
// --with-compat fixes every #if of ngx_http_headers_in_t (auto/modules defines
// NGX_HTTP_GZIP, _DAV, _REALIP, _X_FORWARDED_FOR, _HEADERS), so what lies after
// headers_in/headers_out depends on the version and the cache alone.
bool compat_with_cache(const NginxBuildInfo& b) { return with_compat(b) && with_http_cache(b); }
// `auto/configure --with-http_ssl_module --with-http_v2_module`, nothing else
// that changes a struct (paths and compiler options do not).
bool default_configure_ssl_v2(const NginxBuildInfo& b) {
  return b.features == std::vector<std::string>{"--with-http_ssl_module", "--with-http_v2_module"};
}

// ngx_connection_s has `ngx_ssl_connection_t *ssl` when NGX_SSL (any SSL
// module, or HTTP/3) or NGX_COMPAT, and, from 1.25.0, `ngx_quic_stream_t
// *quic` before it when NGX_QUIC (HTTP/3) or NGX_COMPAT.
bool with_ssl(const NginxBuildInfo& b) {
  return with_compat(b) || b.has("--with-http_ssl_module") || b.has("--with-stream_ssl_module") ||
         b.has("--with-mail_ssl_module") || b.has("--with-http_v3_module");
}
bool without_ssl(const NginxBuildInfo& b) { return !with_ssl(b); }
bool with_quic(const NginxBuildInfo& b) { return with_compat(b) || b.has("--with-http_v3_module"); }
bool ssl_without_quic(const NginxBuildInfo& b) { return with_ssl(b) && !with_quic(b); }

// What moves ngx_http_core_loc_conf_t.error_pages: NGX_PCRE (the rewrite
// module asks for it unless --without-pcre; without that module it may or
// may not be there, so no row), NGX_HTTP_GZIP (the gzip, gunzip or
// gzip_static module, or --with-compat) and NGX_THREADS || NGX_COMPAT.
bool with_pcre(const NginxBuildInfo& b) { return !b.has("--without-pcre") && !b.has("--without-http_rewrite_module"); }
bool with_http_gzip(const NginxBuildInfo& b) {
  return with_compat(b) || !b.has("--without-http_gzip_module") || b.has("--with-http_gunzip_module") ||
         b.has("--with-http_gzip_static_module");
}
bool with_thread_pools(const NginxBuildInfo& b) { return with_compat(b) || b.has("--with-threads"); }
// The builds of one error_pages row: clcf_of<NGX_HTTP_GZIP, NGX_THREADS || NGX_COMPAT>.
template <bool gzip, bool threads>
bool clcf_of(const NginxBuildInfo& b) {
  return with_pcre(b) && with_http_gzip(b) == gzip && with_thread_pools(b) == threads;
}

constexpr unsigned v(unsigned major, unsigned minor, unsigned patch) { return major * 1000000 + minor * 1000 + patch; }

struct Offset {
  uint32_t w5_nginx_layout::*field;
  const char* name;
  uint32_t value;
  bool (*holds_for)(const NginxBuildInfo&);
  unsigned first, last;  // versions it was measured or derived for
  // A field at the head of its struct or of a struct that has not changed in
  // years: taken for versions outside [first, last] too. Otherwise such a
  // version gets the nearest row and the layout says the field is assumed.
  bool stable;
};

#define W5_FIELD(f) &w5_nginx_layout::f, #f

// THE table of where why502 reads nginx's structs (x86-64). Derived with
// scripts/nginx-layout.py (pahole on the DWARF of scripts/build-nginx.sh's
// builds: 1.30.4 and 1.31.4, each "default" = auto/configure + ssl + v2, and
// "nginxorg" = nginx.org's package configure line, --with-compat). Debian 12's
// 1.22.1 (stripped, --with-compat --with-debug) was measured earlier with its
// nginx-dev headers and cross-checked on the running binary (notes/nginx.md),
// as were the stable fields on 1.18–1.29 builds. The BPF programs read every
// number here; ngx_str_t {len 0, data 8}, ngx_array_t {elts 0, nelts 8} and
// ngx_http_log_ctx_t.connection 0 are fixed in bpf/parts/nginx_uprobes.bpf.c (the
// script checks them too).
constexpr Offset kOffsets[] = {
    // ngx_http_request_s.connection: right after uint32_t signature.
    {W5_FIELD(r_connection), 0x8, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_http_request_s.upstream / .upstream_states: after `ngx_http_cache_t *cache`,
    // which only NGX_HTTP_CACHE builds have. 0x48/0x50 measured on all four matrix
    // builds and Debian's; 0x40/0x48 derived from the source (one pointer fewer).
    {W5_FIELD(r_upstream), 0x48, with_http_cache, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(r_upstream), 0x40, without_http_cache, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(r_upstream_states), 0x50, with_http_cache, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(r_upstream_states), 0x48, without_http_cache, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_http_request_s.loc_conf (void **): after signature, connection, ctx,
    // main_conf and srv_conf, none #if'd; read for the location's name of a
    // configured `return 5xx`. From the source of 1.22.1, 1.30.4 and 1.31.4,
    // measured on the four matrix builds.
    {W5_FIELD(r_loc_conf), 0x28, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_http_core_loc_conf_s.error_pages, read for where error_page sends a
    // 5xx: after dozens of members, some #if'd (see with_pcre). Debian's
    // 1.22.1 from offsetof() over its nginx-dev headers and configure line;
    // 1.30.4 and 1.31.4 measured on the matrix builds, on a build
    // --without-http_gzip_module (0x258, DWARF) and, with --with-threads too,
    // by offsetof() (0x268). Optional: other builds read no error_page.
    {W5_FIELD(clcf_error_pages), 0x278, (clcf_of<true, true>), v(1, 22, 1), v(1, 22, 1), false},
    {W5_FIELD(clcf_error_pages), 0x288, (clcf_of<true, true>), v(1, 30, 4), v(1, 31, 4), false},
    {W5_FIELD(clcf_error_pages), 0x278, (clcf_of<true, false>), v(1, 30, 4), v(1, 31, 4), false},
    {W5_FIELD(clcf_error_pages), 0x268, (clcf_of<false, true>), v(1, 30, 4), v(1, 31, 4), false},
    {W5_FIELD(clcf_error_pages), 0x258, (clcf_of<false, false>), v(1, 30, 4), v(1, 31, 4), false},
    // ngx_http_request_s.request_line (ngx_str_t): after headers_in and headers_out,
    // whose size varies with modules and versions (1.23 reworked header lists).
    // Only measured builds get one; others get 0 and --capture-request is off.
    {W5_FIELD(r_request_line), 0x3e0, compat_with_cache, v(1, 22, 1), v(1, 22, 1), false},  // Debian 1.22.1
    {W5_FIELD(r_request_line), 0x378, compat_with_cache, v(1, 30, 4), v(1, 31, 4), false},  // nginxorg
    {W5_FIELD(r_request_line), 0x340, default_configure_ssl_v2, v(1, 30, 4), v(1, 31, 4), false},  // default
    // ngx_connection_s.fd / .log / .sockaddr: its head, no #if before them.
    {W5_FIELD(c_fd), 0x18, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(c_log), 0x50, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(c_sockaddr), 0x68, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_connection_s.number / .requests: after the #if'd ssl and quic
    // pointers (see with_ssl). Derived from the source of 1.22.1, 1.30.4 and
    // 1.31.4 and measured on the matrix builds; optional, and checked where
    // read (c->number must read back as the connection's number).
    {W5_FIELD(c_number), 0xc0, without_ssl, v(1, 18, 0), v(1, 31, 4), false},
    {W5_FIELD(c_number), 0xc8, with_ssl, v(1, 18, 0), v(1, 24, 0), false},
    {W5_FIELD(c_number), 0xc8, ssl_without_quic, v(1, 25, 0), v(1, 31, 4), false},
    {W5_FIELD(c_number), 0xd0, with_quic, v(1, 25, 0), v(1, 31, 4), false},
    {W5_FIELD(c_requests), 0xd0, without_ssl, v(1, 18, 0), v(1, 31, 4), false},
    {W5_FIELD(c_requests), 0xd8, with_ssl, v(1, 18, 0), v(1, 24, 0), false},
    {W5_FIELD(c_requests), 0xd8, ssl_without_quic, v(1, 25, 0), v(1, 31, 4), false},
    {W5_FIELD(c_requests), 0xe0, with_quic, v(1, 25, 0), v(1, 31, 4), false},
    // ngx_log_s.connection / .data / .action.
    {W5_FIELD(log_connection), 0x10, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(log_data), 0x28, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(log_action), 0x40, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_http_log_ctx_s.request / .current_request (after connection at 0).
    {W5_FIELD(ctx_request), 0x8, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(ctx_current_request), 0x10, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_http_upstream_s.peer (an ngx_peer_connection_t, after two handlers).
    {W5_FIELD(u_peer), 0x10, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // ngx_peer_connection_s.connection / .name (ngx_str_t *).
    {W5_FIELD(pc_connection), 0x0, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(pc_name), 0x18, any_build, v(1, 18, 0), v(1, 31, 4), true},
    // sizeof(ngx_http_upstream_state_t), the stride of r->upstream_states->elts.
    // 1.31 added NGX_COMPAT_BEGIN(2) (uint64_t spare[2]) at its end: 88 bytes when
    // built --with-compat (nginx.org's and most distributions' packages), 72
    // without. 1.30.4 and Debian's 1.22.1 --with-compat have 72. Which 1.31.x
    // added it was not checked, so 1.31.0–1.31.3 get the nearest row, assumed.
    {W5_FIELD(state_size), 72, any_build, v(1, 18, 0), v(1, 30, 4), false},
    {W5_FIELD(state_size), 72, without_compat, v(1, 31, 4), v(1, 31, 4), false},
    {W5_FIELD(state_size), 88, with_compat, v(1, 31, 4), v(1, 31, 4), false},
    // ngx_http_upstream_state_t's members (status, times, bytes, peer): unchanged.
    {W5_FIELD(state_status), 0x0, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_response_time), 0x8, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_connect_time), 0x10, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_header_time), 0x18, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_bytes_received), 0x30, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_bytes_sent), 0x38, any_build, v(1, 18, 0), v(1, 31, 4), true},
    {W5_FIELD(state_peer), 0x40, any_build, v(1, 18, 0), v(1, 31, 4), true},
};

#undef W5_FIELD

// Fields that may be 0 when no row fits: the BPF side skips them.
bool optional_field(uint32_t w5_nginx_layout::*field) {
  return field == &w5_nginx_layout::r_request_line || field == &w5_nginx_layout::c_number ||
         field == &w5_nginx_layout::c_requests || field == &w5_nginx_layout::r_loc_conf ||
         field == &w5_nginx_layout::clcf_error_pages;
}

const Offset* first_row_of(uint32_t w5_nginx_layout::*field) {
  for (const Offset& o : kOffsets)
    if (o.field == field) return &o;
  return nullptr;
}

const Offset* first_row_of_name(const std::string& name) {
  for (const Offset& o : kOffsets)
    if (name == o.name) return &o;
  return nullptr;
}

unsigned distance(unsigned version, const Offset& o) {
  if (version < o.first) return o.first - version;
  if (version > o.last) return version - o.last;
  return 0;
}

std::string build_name(const NginxBuildInfo& build) {
  std::string name = (build.server.empty() ? "nginx" : build.server) + " " +
                     (build.version.empty() ? "(version unknown)" : build.version);
  if (build.configure.empty()) return name + ", configure arguments unknown";
  if (with_compat(build)) name += ", --with-compat";
  if (without_http_cache(build)) name += ", --without-http-cache";
  return name;
}

}  // namespace

NginxLayout nginx_layout_for_build(const NginxBuildInfo& build) {
  NginxLayout layout;
  // A fork's own version numbers say nothing about nginx's structs: 0, unknown.
  const unsigned version = build.server == "nginx" ? nginx_version_number(build.version) : 0;
  std::string assumed, unknown;
  const auto note = [](std::string& list, const char* name) { list += (list.empty() ? "" : ", ") + std::string(name); };
  for (const Offset& field : kOffsets) {
    if (&field != first_row_of(field.field)) continue;  // each field once
    // The matching row nearest in version; distance 0: measured for it.
    const Offset* best = nullptr;
    for (const Offset& o : kOffsets)
      if (o.field == field.field && o.holds_for(build) && (!best || distance(version, o) < distance(version, *best)))
        best = &o;
    if (best && distance(version, *best) != 0 && !best->stable) {
      if (optional_field(field.field)) best = nullptr;
      else note(assumed, field.name);
    }
    if (best) layout.offsets.*field.field = best->value;
    else if (!optional_field(field.field)) note(assumed, field.name);  // stays 0
    else if (field.field == &w5_nginx_layout::r_request_line) note(unknown, "r_request_line (--capture-request off)");
    else if (field.field == &w5_nginx_layout::r_loc_conf)
      note(unknown, "r_loc_conf (a configured 5xx names no location)");
    else if (field.field == &w5_nginx_layout::clcf_error_pages)
      note(unknown, "clcf_error_pages (--lean cannot follow error_page changing a status)");
    else if (field.field == &w5_nginx_layout::c_requests)
      note(unknown, "c_number and c_requests (a recovered failure leaves the pending table later)");
  }
  layout.description = build_name(build);
  if (assumed.empty() && unknown.empty()) {
    layout.description += ": layout measured for this build";
    return layout;
  }
  layout.measured = false;
  layout.description += ": not a measured build";
  if (!assumed.empty()) layout.description += "; assumed from the nearest measured one: " + assumed;
  if (!unknown.empty()) layout.description += "; unknown: " + unknown;
  return layout;
}

Result<LayoutOverride> parse_layout_override(const std::string& text) {
  const auto colon = text.rfind(':');
  const auto equals = text.find('=', colon == std::string::npos ? 0 : colon);
  LayoutOverride o;
  if (colon == std::string::npos || colon == 0 || equals == std::string::npos)
    return Error{"give PATH:FIELD=VALUE, e.g. /usr/sbin/nginx:state_size=80"};
  o.path = text.substr(0, colon);
  o.field = text.substr(colon + 1, equals - colon - 1);
  const std::string value = text.substr(equals + 1);
  char* end = nullptr;
  errno = 0;
  const unsigned long long number = std::strtoull(value.c_str(), &end, 0);
  if (value.empty() || *end != '\0' || errno != 0 || number > UINT32_MAX || value[0] == '-')
    return Error{"VALUE " + value + " is not a number from 0 to 4294967295"};
  o.value = static_cast<uint32_t>(number);
  if (!first_row_of_name(o.field)) {
    std::string names;
    for (const Offset& row : kOffsets)
      if (&row == first_row_of(row.field)) names += (names.empty() ? "" : " ") + std::string(row.name);
    return Error{"no layout field " + o.field + " (fields: " + names + ")"};
  }
  return o;
}

Result<std::optional<LayoutOverride>> layout_override_from_environment() {
  const char* text = std::getenv(kLayoutOverrideVariable);
  if (!text || !*text) return std::optional<LayoutOverride>();
  Result<LayoutOverride> parsed = parse_layout_override(text);
  if (!parsed) return Error{std::string(kLayoutOverrideVariable) + "=" + text + ": " + parsed.error()};
  return std::optional<LayoutOverride>(std::move(parsed).value());
}

bool layout_override_applies(const LayoutOverride& override, const std::string& binary_path) {
  struct stat named{}, binary{};
  return stat(override.path.c_str(), &named) == 0 && stat(binary_path.c_str(), &binary) == 0 &&
         named.st_dev == binary.st_dev && named.st_ino == binary.st_ino;
}

void apply_layout_override(const LayoutOverride& override, NginxLayout& layout) {
  const Offset* row = first_row_of_name(override.field);
  if (!row) return;
  layout.offsets.*row->field = override.value;
  layout.description += "; " + std::string(kLayoutOverrideVariable) + " set " + override.field + "=" +
                        std::to_string(override.value);
}

std::string layout_check_failures(const w5_layout_health& health, const w5_nginx_layout& layout) {
  std::string failures;
  const auto add = [&](const std::string& what) { failures += (failures.empty() ? "" : "; ") + what; };
  if (health.failed & W5_CHECK_CLIENT_FD)
    add("the request's connection fd (r_connection, c_fd) is not a socket of the worker");
  if (health.failed & W5_CHECK_STATE_SIZE)
    add("r->upstream_states says its elements are " + std::to_string(health.seen_state_size) +
        " bytes, the layout says state_size=" + std::to_string(layout.state_size) + " (or r_upstream_states is off)");
  if (health.failed & W5_CHECK_PEER_NAME)
    add("a peer name (u_peer, pc_name or state_peer) does not read as an address");
  return failures;
}

Result<void> check_nginx_symbols(const std::string& binary_path) {
  const Result<ElfFunctions> functions = read_elf_functions(binary_path);
  if (!functions) return Error{functions.error()};
  for (const char* name : kNginxUprobeFunctions)
    if (!functions->names.count(name)) return Error{binary_path + " has no symbol " + name + " (stripped?)"};
  return {};
}

NginxLayout nginx_layout_for(const std::string& binary_path) {
  const Result<NginxBuildInfo> build = read_nginx_build_info(binary_path);
  if (!build) {
    NginxLayout layout = nginx_layout_for_build(NginxBuildInfo{});
    layout.description += " (" + build.error() + ")";
    return layout;
  }
  return nginx_layout_for_build(build.value());
}

}  // namespace why502

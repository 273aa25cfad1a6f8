// Which offsets why502 reads nginx's structs at: chosen from what the binary
// says about itself (its `nginx -V` strings), and checked against the debug
// info of the matrix builds when scripts/build-nginx.sh has made them.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "host/nginx_build_info.hpp"
#include "host/nginx_layout.hpp"

namespace why502 {
namespace {

using namespace std::string_literals;

// .rodata as nginx.c's literals leave it: NUL-separated, with neighbours.
std::string rodata_of(const std::string& version, const std::string& configure) {
  return "\0Server: \0nginx version: nginx/"s + version + "\n\0"s + "configure arguments:" + configure + "\n\0"s +
         "nginx/" + version + "\0"s;
}

NginxBuildInfo build(const std::string& version, const std::string& configure) {
  return parse_nginx_build_info(rodata_of(version, configure));
}

TEST(NginxBuildInfo, ReadsVersionAndConfigureArgumentsFromTheirLiterals) {
  const NginxBuildInfo info =
      build("1.31.4", " --prefix=/opt/n --with-cc-opt='-g -O2 -fPIC' --with-compat --with-http_v3_module"
                      " --with-stream=dynamic --without-http-cache");
  EXPECT_EQ(info.server, "nginx");
  EXPECT_EQ(info.version, "1.31.4");
  EXPECT_EQ(info.arguments[1], "--with-cc-opt=-g -O2 -fPIC");  // quoted, one argument
  EXPECT_EQ(info.features, (std::vector<std::string>{"--with-compat", "--with-http_v3_module", "--without-http-cache"}));
  EXPECT_TRUE(info.has("--with-compat"));
  EXPECT_FALSE(info.has("--with-debug"));
}

TEST(NginxBuildInfo, OnlyALiteralsStartCountsNotTheTailOfAnotherString) {
  const NginxBuildInfo info = parse_nginx_build_info("\0see nginx version: nginx/9.9.9\n\0"s);
  EXPECT_EQ(info.version, "");
  EXPECT_EQ(info.configure, "");
}

TEST(NginxBuildInfo, ForkNamesItselfAndVersionsParseOnlyAsThreeNumbers) {
  const NginxBuildInfo info = parse_nginx_build_info("\0nginx version: openresty/1.21.4.1 (build)\n\0"s);
  EXPECT_EQ(info.server, "openresty");
  EXPECT_EQ(info.version, "1.21.4.1");
  EXPECT_EQ(nginx_version_number("1.31.4"), 1031004u);
  EXPECT_EQ(nginx_version_number("1.21.4.1"), 0u);
  EXPECT_EQ(nginx_version_number("1.x.4"), 0u);
  EXPECT_EQ(nginx_version_number(""), 0u);
}

const char* kNginxOrgConfigure =
    " --prefix=/etc/nginx --with-compat --with-file-aio --with-threads --with-http_ssl_module"
    " --with-http_v2_module --with-http_v3_module --with-stream --with-cc-opt='-g -O2'";

TEST(NginxLayoutTable, NginxOrgPackagesOf131HaveTheLongerUpstreamState) {
  const NginxLayout layout = nginx_layout_for_build(build("1.31.4", kNginxOrgConfigure));
  EXPECT_TRUE(layout.measured) << layout.description;
  EXPECT_EQ(layout.offsets.state_size, 88u);  // NGX_COMPAT_BEGIN(2) at its end
  EXPECT_EQ(layout.offsets.r_request_line, 0x378u);
  EXPECT_EQ(layout.offsets.r_upstream, 0x48u);
  EXPECT_EQ(build("1.31.4", kNginxOrgConfigure).version, "1.31.4");
  // The same version without --with-compat: the 72-byte state.
  const NginxLayout plain =
      nginx_layout_for_build(build("1.31.4", " --prefix=/x --with-http_ssl_module --with-http_v2_module"));
  EXPECT_TRUE(plain.measured) << plain.description;
  EXPECT_EQ(plain.offsets.state_size, 72u);
  EXPECT_EQ(plain.offsets.r_request_line, 0x340u);
}

TEST(NginxLayoutTable, DebiansBuildKeepsItsMeasuredOffsets) {
  const NginxLayout layout = nginx_layout_for_build(
      build("1.22.1", " --with-cc-opt='-g -O2' --prefix=/usr/share/nginx --with-compat --with-debug --with-pcre-jit"
                      " --with-http_ssl_module --with-stream=dynamic"));
  EXPECT_TRUE(layout.measured) << layout.description;
  EXPECT_EQ(layout.offsets.state_size, 72u);
  EXPECT_EQ(layout.offsets.r_request_line, 0x3e0u);
  EXPECT_EQ(layout.offsets.r_upstream_states, 0x50u);
}

TEST(LayoutOverride, SetsOneNamedFieldOfOneBinary) {
  const Result<LayoutOverride> o = parse_layout_override("/opt/a:b/nginx:state_size=0x50");
  ASSERT_TRUE(o.ok()) << o.error();
  EXPECT_EQ(o->path, "/opt/a:b/nginx");  // the last colon splits
  EXPECT_EQ(o->field, "state_size");
  EXPECT_EQ(o->value, 80u);
  NginxLayout layout = nginx_layout_for_build(build("1.22.1", " --with-compat"));
  apply_layout_override(o.value(), layout);
  EXPECT_EQ(layout.offsets.state_size, 80u);
  EXPECT_NE(layout.description.find("WHY502_LAYOUT_OVERRIDE set state_size=80"), std::string::npos)
      << layout.description;
}

TEST(LayoutOverride, MalformedTextSaysWhatIsWrong) {
  const auto error_of = [](const std::string& text) {
    const Result<LayoutOverride> o = parse_layout_override(text);
    return o.ok() ? std::string("(parsed)") : o.error();
  };
  EXPECT_EQ(error_of("state_size=8"), "give PATH:FIELD=VALUE, e.g. /usr/sbin/nginx:state_size=80");
  const std::string no_such = error_of("/usr/sbin/nginx:no_such=8");
  EXPECT_TRUE(no_such.starts_with("no layout field no_such (fields: ")) << no_such;
  EXPECT_NE(no_such.find(" state_size"), std::string::npos) << no_such;  // lists the fields
  EXPECT_EQ(error_of("/usr/sbin/nginx:state_size=-1"), "VALUE -1 is not a number from 0 to 4294967295");
  EXPECT_EQ(error_of("/usr/sbin/nginx:state_size=72x"), "VALUE 72x is not a number from 0 to 4294967295");
  EXPECT_EQ(error_of("/usr/sbin/nginx:state_size=4294967296"),
            "VALUE 4294967296 is not a number from 0 to 4294967295");
}

TEST(LayoutOverride, FromTheEnvironmentIsNoneWhenUnsetAndNamesTheVariableWhenMalformed) {
  unsetenv(kLayoutOverrideVariable);
  const Result<std::optional<LayoutOverride>> unset = layout_override_from_environment();
  ASSERT_TRUE(unset.ok()) << unset.error();
  EXPECT_FALSE(unset.value().has_value());

  setenv(kLayoutOverrideVariable, "/usr/sbin/nginx:state_size=72", 1);
  const Result<std::optional<LayoutOverride>> set = layout_override_from_environment();
  ASSERT_TRUE(set.ok()) << set.error();
  ASSERT_TRUE(set.value().has_value());
  EXPECT_EQ(set.value()->value, 72u);

  setenv(kLayoutOverrideVariable, "state_size=8", 1);
  const Result<std::optional<LayoutOverride>> malformed = layout_override_from_environment();
  unsetenv(kLayoutOverrideVariable);
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error(),
            "WHY502_LAYOUT_OVERRIDE=state_size=8: give PATH:FIELD=VALUE, e.g. /usr/sbin/nginx:state_size=80");
}

TEST(LayoutCheck, FailuresAreNamedWithTheNumbersSeen) {
  w5_nginx_layout offsets{};
  offsets.state_size = 88;
  w5_layout_health health{};
  EXPECT_EQ(layout_check_failures(health, offsets), "");
  health.failed = W5_CHECK_STATE_SIZE | W5_CHECK_PEER_NAME;
  health.seen_state_size = 72;
  const std::string words = layout_check_failures(health, offsets);
  EXPECT_NE(words.find("elements are 72 bytes, the layout says state_size=88"), std::string::npos) << words;
  EXPECT_NE(words.find("peer name"), std::string::npos) << words;
  EXPECT_EQ(words.find("fd"), std::string::npos) << words;
}

TEST(NginxLayoutTable, WithoutTheHttpCacheTheUpstreamPointersMoveUp) {
  const NginxLayout layout =
      nginx_layout_for_build(build("1.30.4", " --with-compat --without-http-cache --with-http_ssl_module"));
  EXPECT_EQ(layout.offsets.r_upstream, 0x40u);
  EXPECT_EQ(layout.offsets.r_upstream_states, 0x48u);
  // No measured build has that request line: capture is off, and it says so.
  EXPECT_EQ(layout.offsets.r_request_line, 0u);
  EXPECT_FALSE(layout.measured);
  EXPECT_NE(layout.description.find("unknown: r_request_line"), std::string::npos) << layout.description;
}

// ngx_connection_s.number/.requests move with the #if'd ssl and quic pointers.
TEST(NginxLayoutTable, TheConnectionsRequestCountMovesWithSslAndQuic) {
  struct Case {
    const char* version;
    std::string configure;
    uint32_t number;
  } cases[] = {
      {"1.22.1", " --with-debug --with-compat --with-http_ssl_module", 0xc8},  // Debian 12: no quic yet
      {"1.31.4", kNginxOrgConfigure, 0xd0},                                   // --with-compat: ssl and quic
      {"1.30.4", " --with-http_ssl_module --with-http_v2_module", 0xc8},
      {"1.30.4", " --with-http_v2_module", 0xc0},
      {"1.30.4", " --with-http_ssl_module --with-http_v3_module", 0xd0},
  };
  for (const Case& c : cases) {
    const NginxLayout layout = nginx_layout_for_build(build(c.version, c.configure));
    EXPECT_EQ(layout.offsets.c_number, c.number) << c.version << c.configure;
    EXPECT_EQ(layout.offsets.c_requests, c.number + 16) << c.version << c.configure;
  }
  // A fork says nothing of its structs: unknown, and said.
  const NginxLayout fork = nginx_layout_for_build(parse_nginx_build_info(""));
  EXPECT_EQ(fork.offsets.c_requests, 0u);
  EXPECT_NE(fork.description.find("c_number and c_requests"), std::string::npos) << fork.description;
}

// r->loc_conf sits at the head of ngx_http_request_s, before anything #if'd:
// the same in every build, and carried to versions not measured.
TEST(NginxLayoutTable, TheLocationConfIsAtTheHeadOfEveryBuild) {
  for (const NginxBuildInfo& b :
       {build("1.22.1", " --with-debug --with-compat --with-http_ssl_module"), build("1.31.4", kNginxOrgConfigure),
        build("1.30.4", " --with-http_ssl_module --with-http_v2_module"),
        build("1.30.4", " --with-compat --without-http-cache"), build("1.33.0", kNginxOrgConfigure),
        parse_nginx_build_info("")}) {
    const NginxLayout layout = nginx_layout_for_build(b);
    EXPECT_EQ(layout.offsets.r_loc_conf, 0x28u) << b.version << layout.description;
    EXPECT_EQ(layout.description.find("r_loc_conf"), std::string::npos) << layout.description;
  }
}

// ngx_http_core_loc_conf_t.error_pages moves with PCRE, the gzip modules
// (or --with-compat) and thread pools (or --with-compat); where the row is
// not known for certain, nothing is read.
TEST(NginxLayoutTable, TheLocationsErrorPagesMoveWithGzipAndThreads) {
  const std::pair<NginxBuildInfo, uint32_t> cases[] = {
      {build("1.22.1", " --with-compat --with-debug --with-pcre-jit --with-http_ssl_module"), 0x278},
      {build("1.31.4", kNginxOrgConfigure), 0x288},
      {build("1.30.4", " --with-http_ssl_module --with-http_v2_module"), 0x278},
      {build("1.30.4", " --with-threads"), 0x288},
      {build("1.31.4", " --without-http_gzip_module"), 0x258},
      {build("1.31.4", " --without-http_gzip_module --with-http_gunzip_module"), 0x278},
      {build("1.30.4", " --with-threads --without-http_gzip_module"), 0x268},
      {build("1.30.4", " --without-pcre"), 0},
      {build("1.30.4", " --without-http_rewrite_module"), 0},
      {build("1.26.3", kNginxOrgConfigure), 0},  // between measured versions
      {parse_nginx_build_info(""), 0},
  };
  for (const auto& [b, offset] : cases) {
    const NginxLayout layout = nginx_layout_for_build(b);
    EXPECT_EQ(layout.offsets.clcf_error_pages, offset) << b.version << b.configure;
    EXPECT_EQ(layout.description.find("clcf_error_pages") == std::string::npos, offset != 0) << layout.description;
  }
}

TEST(NginxLayoutTable, AnUnmeasuredVersionNamesWhatWasAssumed) {
  const NginxLayout layout = nginx_layout_for_build(build("1.33.0", kNginxOrgConfigure));
  EXPECT_FALSE(layout.measured);
  EXPECT_EQ(layout.offsets.state_size, 88u);  // the nearest measured: 1.31.4 --with-compat
  EXPECT_EQ(layout.offsets.r_request_line, 0u);
  EXPECT_EQ(layout.offsets.c_fd, 0x18u);  // stable fields carry over
  EXPECT_NE(layout.description.find("assumed from the nearest measured one: state_size"), std::string::npos)
      << layout.description;
}

TEST(NginxLayoutTable, AForkOrABinaryWithoutVersionGetsOnlyStableFieldsForCertain) {
  for (const NginxBuildInfo& b : {parse_nginx_build_info(""), build("1.21.4.1", kNginxOrgConfigure)}) {
    const NginxLayout layout = nginx_layout_for_build(b);
    EXPECT_FALSE(layout.measured);
    EXPECT_EQ(layout.offsets.r_connection, 0x8u);
    EXPECT_EQ(layout.offsets.r_request_line, 0u);
    EXPECT_NE(layout.description.find("state_size"), std::string::npos) << layout.description;
  }
}

// The table against pahole's reading of each matrix build's DWARF
// (scripts/nginx-layout.py). scripts/test-matrix.sh builds them first.
TEST(NginxLayoutTable, AgreesWithTheDebugInfoOfEveryMatrixBuild) {
  const std::filesystem::path matrix = WHY502_SOURCE_DIR "/build/nginx-matrix";
  std::string binaries;
  if (std::filesystem::is_directory(matrix))
    for (const auto& entry : std::filesystem::directory_iterator(matrix))
      if (std::filesystem::exists(entry.path() / "prefix/sbin/nginx"))
        binaries += " '" + (entry.path() / "prefix/sbin/nginx").string() + "'";
  if (binaries.empty()) GTEST_SKIP() << "no nginx builds in " << matrix << ": run scripts/build-nginx.sh";
  const std::string command = "python3 " WHY502_SOURCE_DIR "/scripts/nginx-layout.py --json" + binaries;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  ASSERT_TRUE(pipe);
  std::string out;
  char chunk[4096];
  while (size_t n = fread(chunk, 1, sizeof(chunk), pipe.get())) out.append(chunk, n);
  const nlohmann::json results = nlohmann::json::parse(out);
  ASSERT_FALSE(results.empty());
  for (const auto& r : results) {
    const std::string binary = r["binary"];
    ASSERT_FALSE(r.contains("error")) << binary << ": " << r["error"];
    const NginxLayout layout = nginx_layout_for(binary);
    EXPECT_TRUE(layout.measured) << binary << ": " << layout.description;
    const auto& dwarf = r["offsets"];
    const w5_nginx_layout& l = layout.offsets;
    const std::pair<const char*, uint32_t> ours[] = {
        {"r_connection", l.r_connection},
        {"r_upstream", l.r_upstream},
        {"r_upstream_states", l.r_upstream_states},
        {"r_request_line", l.r_request_line},
        {"r_loc_conf", l.r_loc_conf},
        {"c_fd", l.c_fd},
        {"c_log", l.c_log},
        {"c_sockaddr", l.c_sockaddr},
        {"c_number", l.c_number},
        {"c_requests", l.c_requests},
        {"log_connection", l.log_connection},
        {"log_data", l.log_data},
        {"log_action", l.log_action},
        {"ctx_request", l.ctx_request},
        {"ctx_current_request", l.ctx_current_request},
        {"u_peer", l.u_peer},
        {"pc_connection", l.pc_connection},
        {"pc_name", l.pc_name},
        {"state_size", l.state_size},
        {"state_status", l.state_status},
        {"state_response_time", l.state_response_time},
        {"state_connect_time", l.state_connect_time},
        {"state_header_time", l.state_header_time},
        {"state_bytes_received", l.state_bytes_received},
        {"state_bytes_sent", l.state_bytes_sent},
        {"state_peer", l.state_peer},
        {"clcf_error_pages", l.clcf_error_pages},
    };
    for (const auto& [name, value] : ours) EXPECT_EQ(dwarf.at(name).get<uint32_t>(), value) << binary << " " << name;
    // What the BPF programs take as fixed.
    for (const auto& [name, value] : {std::pair{"ctx_connection", 0}, {"str_len", 0}, {"str_data", 8},
                                      {"array_elts", 0}, {"array_nelts", 8}, {"loc_name", 0},
                                      {"err_page_size", 80}, {"err_page_status", 0}, {"err_page_overwrite", 8},
                                      {"err_page_value", 16}, {"complex_value_value", 0}})
      EXPECT_EQ(dwarf.at(name).get<int>(), value) << binary << " " << name;
  }
}

}  // namespace
}  // namespace why502

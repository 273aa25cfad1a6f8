// Recordings of older wire versions replay as they were recorded: their
// events are converted to the current structs (recording/replay.cpp).
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"
#include "recording/replay.hpp"

namespace why502::test {
namespace {

// e as wire versions 2-5 laid it out: each argument 152 bytes, its C string 64.
std::vector<uint8_t> as_wire5_log(const w5_ngx_log& e) {
  constexpr size_t kArgsAt = offsetof(w5_ngx_log, args), kArgSize = 152, kText = 64;
  std::vector<uint8_t> bytes(kArgsAt + W5_LOG_ARGS * kArgSize, 0);
  std::memcpy(bytes.data(), &e, kArgsAt);
  const uint32_t size = static_cast<uint32_t>(bytes.size());
  std::memcpy(bytes.data() + offsetof(w5_header, size), &size, sizeof(size));
  for (size_t i = 0; i < W5_LOG_ARGS; ++i) {
    uint8_t* arg = bytes.data() + kArgsAt + i * kArgSize;
    std::memcpy(arg, &e.args[i], offsetof(w5_log_arg, cstr));
    std::memcpy(arg + offsetof(w5_log_arg, cstr), e.args[i].cstr, kText - 1);
    std::memcpy(arg + offsetof(w5_log_arg, cstr) + kText, e.args[i].ngx_str, kText);
  }
  return bytes;
}

TEST(ReplayWire, AWire5LogEventKeepsItsArguments) {
  const std::string reason =
      "SSL_do_handshake() failed (SSL: error:0A000086:SSL routines::certificate verify failed)";
  const w5_ngx_log log = make_log({.ts = sec(2), .request = kReq1, .connection = 7, .fmt = "%*s",
                                   .action = "SSL handshaking to upstream", .peer = kBackendName,
                                   .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                                   .client_sk = kClientSk1, .args = {num(reason.size()), c_string(reason)}});
  const w5_ngx_error_page page =
      make_error_page({.ts = sec(2.001), .request = kReq1, .connection = 7, .client_sk = kClientSk1, .status = 502,
                       .peer = kBackendName, .client = kClientA, .states = {not_connected(kBackendName)}});
  recording::Contents contents;
  contents.wire_version = 5;
  contents.events = {as_wire5_log(log), to_bytes(page)};
  ASSERT_EQ(contents.events[0].size(), 1288u);

  recording::Replay replay;
  ASSERT_TRUE(replay.add("old.w502", contents).ok());
  const Report report = replay.finish(std::nullopt, std::nullopt);
  ASSERT_EQ(report.records.size(), 1u);
  const Record& r = report.records[0];
  EXPECT_EQ(r.cause, Cause::tls_failure);
  // The 63 bytes version 5 kept, said to be cut.
  EXPECT_EQ(r.nginx_error, reason.substr(0, 63) + "... while SSL handshaking to upstream");
}

}  // namespace
}  // namespace why502::test

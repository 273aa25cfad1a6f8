// An error-page record waits for nginx's status line on the client socket:
// error_page can change the status the client gets, even into a success.
#include <gtest/gtest.h>

#include <cerrno>

#include "event_builders.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kReq = 0x55d0c0a03000;
constexpr uint64_t kClientSk = 0xffff888104a03000;
constexpr uint64_t kUpSk = 0xffff888105b03000;
const w5_addr kClient = ipv4("192.0.2.40", 54000);
const w5_addr kUpstream = ipv4("127.0.0.1", 9200);
const std::string kName = "127.0.0.1:9200";

void refused_error_page(EngineHarness& h, uint64_t ts) {
  h.feed(make_log({.ts = ts, .request = kReq, .connection = 9, .fmt = "connect() failed", .err = ECONNREFUSED,
                   .action = kConnecting, .peer = kName, .upstream_sk = kUpSk, .upstream = kUpstream,
                   .client = kClient, .client_sk = kClientSk}));
  h.feed(make_error_page({.ts = ts + 100, .request = kReq, .connection = 9, .client_sk = kClientSk, .status = 502,
                          .peer = kName, .client = kClient, .states = {not_connected(kName)}}));
}

TEST(ErrorPageEcho, StatusChangedByErrorPageIsWhatTheClientGot) {
  EngineHarness h;
  refused_error_page(h, sec(5));
  h.feed(make_client_response({.ts = sec(5) + 200, .sk = kClientSk, .status = 503, .remote = kClient}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].status, 503);
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_EQ(lines_with(h.records()[0], "error_page turned nginx's 502 into 503"), 1) << dump(h.records()[0]);
}

TEST(ErrorPageEcho, ErrorPageAnsweringSuccessIsNoGatewayError) {
  EngineHarness h;
  refused_error_page(h, sec(5));
  h.feed(make_client_response({.ts = sec(5) + 200, .sk = kClientSk, .status = 200, .remote = kClient}));
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  EXPECT_EQ(h.engine().stats().hidden_by_error_page, 1u);
}

TEST(ErrorPageEcho, WithoutAnEchoTheRecordLeavesAfterItsDeadline) {
  EngineHarness h;
  refused_error_page(h, sec(5));
  std::vector<Record> out;
  h.engine().flush(sec(5.1), out);  // still waiting
  EXPECT_TRUE(out.empty());
  h.engine().flush(sec(6), out);  // TLS or HTTP/2: no status line will come
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 502);
  EXPECT_EQ(out[0].cause, Cause::refused);
}

// --lean traces no client status lines: nothing to wait for, the record
// goes out with the error page.
TEST(ErrorPageEcho, WithNoEchoExpectedTheRecordLeavesAtOnce) {
  EngineHarness h(EngineOptions{.client_echo_expected = false});
  refused_error_page(h, sec(5));
  ASSERT_EQ(h.emitted().size(), 1u);
  EXPECT_EQ(h.emitted()[0].status, 502);
  EXPECT_EQ(h.emitted()[0].cause, Cause::refused);
}

// error_page 502 = @fallback, whose upstream is down too: nginx builds the
// page twice for one request, and writes only the second. One record, the
// second page's, with both attempts (not the zeroed entry nginx puts
// between a request's upstream runs) and the second one's words.
TEST(ErrorPageEcho, APageThatErrorPageRedirectedIsReplacedByTheFinalOne) {
  EngineHarness h;
  refused_error_page(h, sec(5));
  const std::string fallback = "127.0.0.1:9300";
  h.feed(make_log({.ts = sec(5) + 300, .request = kReq, .connection = 9, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = fallback, .upstream_sk = kUpSk + 0x100,
                   .upstream = ipv4("127.0.0.1", 9300), .client = kClient, .client_sk = kClientSk}));
  h.feed(make_error_page({.ts = sec(5) + 400, .request = kReq, .connection = 9, .client_sk = kClientSk,
                          .status = 502, .peer = fallback, .client = kClient,
                          .states = {not_connected(kName), redirect_separator(), not_connected(fallback)}}));
  h.feed(make_client_response({.ts = sec(5) + 500, .sk = kClientSk, .status = 502, .remote = kClient}));
  std::vector<Record> out;
  h.engine().flush(sec(7), out);
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.upstream, fallback);
  EXPECT_EQ(r.cause, Cause::refused);
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].upstream, kName);
  EXPECT_EQ(r.attempts[1].upstream, fallback);
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  EXPECT_EQ(lines_with(r, "attempt 2 of 2: 127.0.0.1:9300 refused"), 1) << dump(r);
}

TEST(ErrorPageEcho, ByDefaultTheRecordWaitsForItsEcho) {
  EngineHarness h;
  refused_error_page(h, sec(5));
  EXPECT_TRUE(h.emitted().empty());
}

}  // namespace
}  // namespace why502::test

namespace why502::test {
namespace {

TEST(UpstreamStatus, AnApplications500PassedOnIsNoGatewayError) {
  EngineHarness h;
  h.feed(make_upstream_status({.ts = sec(7), .sk = 0xffff888105b04000, .status = 500, .remote = ipv4("127.0.0.1", 9300)}));
  h.feed(make_client_response({.ts = sec(7) + 100, .sk = 0xffff888104a04000, .status = 500,
                               .remote = ipv4("192.0.2.50", 55000)}));
  h.feed(make_upstream_status({.ts = sec(8), .sk = 0xffff888105b04000, .status = 503, .remote = ipv4("127.0.0.1", 9300)}));
  h.feed(make_client_response({.ts = sec(8) + 100, .sk = 0xffff888104a04000, .status = 503,
                               .remote = ipv4("192.0.2.50", 55000)}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].status, 503);
  EXPECT_EQ(h.records()[0].cause, Cause::upstream_status);
}

}  // namespace
}  // namespace why502::test

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

// Where no status line is read (--lean; TLS and HTTP/2 clients), the
// location's error_page for the status says what the client gets.

// A refused attempt, then the error_page the location names for its 502, then the page.
void refused_page_sent_to(EngineHarness& h, uint64_t ts, int32_t overwrite, uint32_t target) {
  h.feed(make_log({.ts = ts, .request = kReq, .connection = 9, .fmt = "connect() failed", .err = ECONNREFUSED,
                   .action = kConnecting, .peer = kName, .upstream_sk = kUpSk, .upstream = kUpstream,
                   .client = kClient, .client_sk = kClientSk}));
  h.feed(make_error_page_target(ts + 50, kReq, 9, 502, overwrite, target));
  h.feed(make_error_page({.ts = ts + 100, .request = kReq, .connection = 9, .client_sk = kClientSk, .status = 502,
                          .peer = kName, .client = kClient, .states = {not_connected(kName)}}));
}

std::vector<Record> flushed(EngineHarness& h, uint64_t now_ns) {
  std::vector<Record> out;
  h.engine().flush(now_ns, out);
  return out;
}

const EngineOptions kLean{.client_echo_expected = false};

TEST(ErrorPageTarget, ASuccessItGivesIsNoGatewayError) {
  EngineHarness h(kLean);
  refused_page_sent_to(h, sec(5), 200, W5_ERROR_PAGE_URI);  // error_page 502 =200 /fallback.html
  EXPECT_TRUE(h.emitted().empty());
  EXPECT_TRUE(flushed(h, sec(6)).empty());
  EXPECT_EQ(h.engine().stats().hidden_by_error_page, 1u);
}

TEST(ErrorPageTarget, AnotherGatewayStatusIsTheRecords) {
  EngineHarness h(kLean);
  refused_page_sent_to(h, sec(5), 503, W5_ERROR_PAGE_URI);  // error_page 502 =503 /maintenance.html
  const std::vector<Record> out = flushed(h, sec(6));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 503);
  EXPECT_EQ(out[0].cause, Cause::refused);
  EXPECT_EQ(lines_with(out[0], "error_page turned nginx's 502 into 503"), 1) << dump(out[0]);
}

TEST(ErrorPageTarget, WithoutEqualsTheStatusStays) {
  EngineHarness h(kLean);
  refused_page_sent_to(h, sec(5), -1, W5_ERROR_PAGE_URI);  // error_page 502 /50x.html
  const std::vector<Record> out = flushed(h, sec(6));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].status, 502);
  EXPECT_EQ(lines_with(out[0], "error_page turned"), 0) << dump(out[0]);
}

TEST(ErrorPageTarget, AUrlIsARedirect) {
  EngineHarness h(kLean);
  refused_page_sent_to(h, sec(5), -1, W5_ERROR_PAGE_URL);  // error_page 502 https://status.example/
  EXPECT_TRUE(flushed(h, sec(6)).empty());
  EXPECT_EQ(h.engine().stats().hidden_by_error_page, 1u);
}

// error_page 502 = @fallback: the fallback's own status. Answered, it sends
// no page: no gateway error.
TEST(ErrorPageTarget, AFallbackThatAnsweredLeavesNoRecord) {
  EngineHarness h(kLean);
  refused_page_sent_to(h, sec(5), 0, W5_ERROR_PAGE_NAMED);
  EXPECT_TRUE(flushed(h, sec(6)).empty());
  EXPECT_EQ(h.engine().stats().hidden_by_error_page, 1u);
}

// The fallback failing too sends a page of the same request, which nginx
// does not send on again though the fallback's location names 502 as well:
// one record, the second page's, whether it came before the first record was
// let go or after.
TEST(ErrorPageTarget, AFallbackThatFailedGivesOneRecordOfItsOwnPage) {
  for (const double second_page_at : {5.1, 7.0}) {
    EngineHarness h(kLean);
    refused_page_sent_to(h, sec(5), 0, W5_ERROR_PAGE_NAMED);
    if (second_page_at > 6) {
      EXPECT_TRUE(flushed(h, sec(6)).empty());
    }
    const uint64_t ts = sec(second_page_at);
    const std::string fallback = "127.0.0.1:9300";
    h.feed(make_log({.ts = ts, .request = kReq, .connection = 9, .fmt = "connect() failed", .err = ECONNREFUSED,
                     .action = kConnecting, .peer = fallback, .upstream_sk = kUpSk + 0x100,
                     .upstream = ipv4("127.0.0.1", 9300), .client = kClient, .client_sk = kClientSk}));
    h.feed(make_error_page_target(ts + 50, kReq, 9, 502, 0, W5_ERROR_PAGE_NAMED));
    h.feed(make_error_page({.ts = ts + 100, .request = kReq, .connection = 9, .client_sk = kClientSk,
                            .status = 502, .peer = fallback, .client = kClient,
                            .states = {not_connected(kName), redirect_separator(), not_connected(fallback)}}));
    std::vector<Record> records = h.emitted();
    for (Record& r : flushed(h, sec(9))) records.push_back(std::move(r));
    ASSERT_EQ(records.size(), 1u) << second_page_at << dump(records);
    EXPECT_EQ(records[0].status, 502);
    EXPECT_EQ(records[0].upstream, fallback);
    EXPECT_EQ(records[0].attempts.size(), 2u) << dump(records[0]);
  }
}

// A TLS client: its status line cannot be read, so the unconfirmed record
// goes by error_page too.
TEST(ErrorPageTarget, AnUnreadableEchoLeavesItToErrorPage) {
  EngineHarness h;
  refused_page_sent_to(h, sec(5), 200, W5_ERROR_PAGE_URI);
  h.feed(make_client_response({.ts = sec(5) + 200, .sk = kClientSk, .status = 0, .remote = kClient}));
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  EXPECT_EQ(h.engine().stats().hidden_by_error_page, 1u);
}

// A readable status line has the last word: error_page's target may itself
// end in an error nginx did not build (an upstream's own 502 passed on).
TEST(ErrorPageTarget, AReadableEchoHasTheLastWord) {
  EngineHarness h;
  refused_page_sent_to(h, sec(5), 0, W5_ERROR_PAGE_NAMED);
  h.feed(make_client_response({.ts = sec(5) + 200, .sk = kClientSk, .status = 502, .remote = kClient}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].status, 502);
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

// A TLS upstream's status is told by the client send it comes with (the
// kernel side sends it just before). When nginx built a page for that send
// itself, the page's record is the request's, and the status is no later
// send's either.
TEST(UpstreamStatus, ATlsUpstreamsStatusGoesWithItsOwnSendOnly) {
  EngineHarness h;
  const w5_addr tls_upstream = ipv4("127.0.0.1", 9443);
  refused_error_page(h, sec(9));
  h.feed(make_upstream_status({.ts = sec(9) + 150, .sk = kUpSk, .status = 502, .proto = W5_PROTO_TLS,
                               .remote = tls_upstream}));
  h.feed(make_client_response({.ts = sec(9) + 200, .sk = kClientSk, .status = 502, .remote = kClient}));
  // The same thread's next send, to a client over TLS: no status to read.
  h.feed(make_client_response({.ts = sec(9) + 300, .sk = 0xffff888104a05000, .status = 0,
                               .remote = ipv4("192.0.2.51", 55001)}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  // Without a page: the upstream's own status, said to be read from nginx's send.
  h.feed(make_upstream_status({.ts = sec(10), .sk = kUpSk, .status = 503, .proto = W5_PROTO_TLS,
                               .remote = tls_upstream}));
  h.feed(make_client_response({.ts = sec(10) + 100, .sk = 0xffff888104a06000, .status = 503,
                               .remote = ipv4("192.0.2.52", 55002)}));
  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[1].cause, Cause::upstream_status);
  EXPECT_EQ(h.records()[1].upstream, "127.0.0.1:9443");
  EXPECT_EQ(lines_with(h.records()[1], "the upstream answered over TLS, which is encrypted"), 1)
      << dump(h.records()[1]);
}

}  // namespace
}  // namespace why502::test

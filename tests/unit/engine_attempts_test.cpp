// Engine tests. Retries and reuse of identities.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineAttempts, RetryRefusedThenResetKeepsBothAttempts) {
  EngineHarness h;
  // Peer :9000 refuses; nginx retries on :9001, which resets the connection.
  h.feed(rst(sec(100.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(sock_error(sec(100.00011), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
  h.feed(make_log({.ts = sec(100.0002), .request = kReq1, .connection = 50, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(rst(sec(100.004), kUpSk2, kTcpEstablished, kBackend2));
  h.feed(sock_error(sec(100.0040001), kUpSk2, ECONNRESET, kTcpClose, kBackend2));
  h.feed(make_log({.ts = sec(100.0041), .request = kReq1, .connection = 50, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk2,
                   .upstream = kBackend2, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(100.0042), .request = kReq1, .connection = 50, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackend2Name, .client = kClientA,
                          .states = {not_connected(kBackendName, 502, 0),
                                     connected_no_header(kBackend2Name, 502, 4)}}));
  h.feed(make_client_response({.ts = sec(100.0043), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::reset) << dump(r);
  EXPECT_EQ(r.upstream, kBackend2Name);
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].upstream, kBackendName);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(r.attempts[0].status, 502);
  EXPECT_EQ(r.attempts[0].ms, 0);
  EXPECT_EQ(r.attempts[1].upstream, kBackend2Name);
  EXPECT_EQ(r.attempts[1].cause, Cause::reset);
  EXPECT_EQ(r.attempts[1].ms, 4);
  EXPECT_EQ(r.nginx_error, "recv() failed (104: Connection reset by peer) while reading response header from upstream");
  EXPECT_EQ(lines_with_all(r, {"attempt 1", "127.0.0.1:9000 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 2", "127.0.0.1:9001 reset"}), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "kernel: RST received from 127.0.0.1:9001 on an established connection"), 1) << dump(r);
}

// The upstream answered 200 with X-Accel-Redirect, and the location it named
// proxies to a peer that refuses: the first attempt did not fail, and the
// zeroed entry nginx puts before the second run of upstreams is no attempt.
TEST(EngineAttempts, AnAttemptTheUpstreamAnsweredIsSaidToHaveAnswered) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(120.002), .request = kReq1, .connection = 52, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackend2Name, .upstream_sk = kUpSk2,
                   .upstream = kBackend2, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(120.003), .request = kReq1, .connection = 52, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackend2Name, .client = kClientA,
                          .states = {State{200, 1, 0, 1, 120, 80, kBackendName}, redirect_separator(),
                                     not_connected(kBackend2Name)}}));
  h.feed(make_client_response({.ts = sec(120.004), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused);
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].status, 200);
  EXPECT_EQ(lines_with(r, "attempt 1 of 2: 127.0.0.1:9000 answered 200"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "attempt 2 of 2: 127.0.0.1:9001 refused"), 1) << dump(r);
}

TEST(EngineAttempts, MoreAttemptsThanTheEventCarries) {
  EngineHarness h;
  // Five peers refused; the event carries the last W5_MAX_STATES states.
  std::vector<State> states;
  for (int i = 0; i < 5; ++i) {
    const std::string peer = "127.0.0.1:" + std::to_string(9000 + i);
    h.feed(make_log({.ts = sec(110 + i * 0.001), .request = kReq1, .connection = 51, .fmt = "connect() failed",
                     .err = ECONNREFUSED, .action = kConnecting, .peer = peer, .client = kClientA, .client_sk = kClientSk1}));
    states.push_back(not_connected(peer, 502, i));
  }
  h.feed(make_error_page({.ts = sec(110.01), .request = kReq1, .connection = 51, .client_sk = kClientSk1,
                          .status = 502, .peer = "127.0.0.1:9004", .client = kClientA, .states = states,
                          .n_states = 5}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  ASSERT_EQ(r.attempts.size(), 4u) << dump(r);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.attempts[i].upstream, "127.0.0.1:" + std::to_string(9001 + i)) << dump(r);
    EXPECT_EQ(r.attempts[i].cause, Cause::refused);
    EXPECT_EQ(r.attempts[i].ms, 1 + i);
  }
  EXPECT_EQ(r.cause, Cause::refused);
  EXPECT_EQ(r.upstream, "127.0.0.1:9004");
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  // The evidence still says how many attempts there were in all.
  EXPECT_EQ(lines_with_all(r, {"attempt 5 of 5", "127.0.0.1:9004 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 2 of 5", "127.0.0.1:9001 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "127.0.0.1:9000 refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedAfterAFailedRequest) {
  EngineHarness h;
  // Request 1 is refused and answered 502; request 2, same keepalive
  // connection and the same ngx_http_request_t address, is closed early.
  h.feed(make_log({.ts = sec(120), .request = kReq1, .connection = 60, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(120.0001), .request = kReq1, .connection = 60, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(120.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  h.feed(make_log({.ts = sec(121), .request = kReq1, .connection = 60,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(121.0001), .request = kReq1, .connection = 60, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(121.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  const Record& r = h.records()[1];
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::closed_early);
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

class EngineAttemptsOnEitherClient : public ::testing::TestWithParam<ClientSocket> {};
INSTANTIATE_TEST_SUITE_P(PlainAndTls, EngineAttemptsOnEitherClient, ::testing::Values(kPlainClient, kTlsClient),
                         client_socket_name);

TEST_P(EngineAttemptsOnEitherClient, RequestPointerReusedAfterARequestThatSucceededOnRetry) {
  const ClientSocket client = GetParam();
  EngineHarness h;
  // Request 1: :9000 refuses (nginx logs it), the retry on :9001 succeeds:
  // no error page. On a plain client the first response after the failure
  // (a readable 200) reports it as retried; on TLS it is unreadable (status
  // 0), so the logged failure stays pending under the same key. Request 2 on
  // the same keepalive connection gets the same ngx_http_request_t address;
  // :9000 accepts it and closes early.
  h.feed(make_log({.ts = sec(130), .request = kReq1, .connection = 61, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_client_response({.ts = sec(130.002), .sk = kClientSk1, .status = client.status_line(200), .remote = kClientA}));
  h.feed(make_log({.ts = sec(131), .request = kReq1, .connection = 61,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(131.0001), .request = kReq1, .connection = 61, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(131.0002), .sk = kClientSk1, .status = client.status_line(502), .remote = kClientA}));

  ASSERT_EQ(h.records().size(), client.readable ? 2u : 1u) << dump(h.records());
  if (client.readable) {
    EXPECT_EQ(h.records()[0].type, RecordType::retried);
  }
  const Record& r = h.records().back();
  EXPECT_EQ(r.type, RecordType::gateway_error);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedOnTlsThenInterceptedUpstream5xxDoesNotInheritAnOldFailure) {
  EngineHarness h;
  // Request 1 on a TLS client: :9000 refuses (logged), the retry on :9001
  // succeeds; its 200 is unreadable. Request 2, same connection and request
  // address, 4 s later: :9000 is back and answers 502 itself;
  // proxy_intercept_errors with "error_page 502 /50x.html" makes nginx build
  // its own page. nginx logs nothing for request 2.
  h.feed(make_log({.ts = sec(135), .request = kReq1, .connection = 62, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_client_response({.ts = sec(135.002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  h.feed(make_upstream_status({.ts = sec(139.003), .sk = kUpSk1, .status = 502, .remote = kBackend}));
  h.feed(make_error_page({.ts = sec(139.0031), .request = kReq1, .connection = 62, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {State{502, 3, 1, 3, 150, 180, kBackendName}}}));
  h.feed(make_client_response({.ts = sec(139.0032), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::upstream_status) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::upstream_status) << dump(r);
  EXPECT_TRUE(r.nginx_error.empty()) << r.nginx_error;
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RetriedFailureTheClientNeverSawIsReportedAsRetried) {
  EngineHarness h;
  h.feed(rst(sec(137.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(make_log({.ts = sec(137.0002), .request = kReq1, .connection = 64, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  // The retry on :9001 works; the client gets a readable 200.
  h.feed(make_client_response({.ts = sec(137.003), .sk = kClientSk1, .status = 200, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::retried);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.cause, Cause::refused);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().retried, 1u);
  // The failure is reported once: the next response on that connection is nothing.
  h.feed(make_client_response({.ts = sec(138), .sk = kClientSk1, .status = 200, .remote = kClientA}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
}

TEST(EngineAttempts, ResponseCutOffAfterTheHeaderIsTruncated) {
  EngineHarness h;
  // The header (a 200) was already sent when the backend closed mid-body.
  h.feed(make_log({.ts = sec(138.5), .request = kReq1, .connection = 65,
                   .fmt = "upstream prematurely closed connection", .action = "reading upstream",
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::truncated);
  EXPECT_EQ(r.cause, Cause::closed_early);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading upstream");
  EXPECT_EQ(h.engine().stats().truncated, 1u);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

}  // namespace
}  // namespace why502::test

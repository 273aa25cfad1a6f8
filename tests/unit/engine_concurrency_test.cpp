// Engine tests. Several requests at once.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineConcurrency, InterleavedRequestsOnOneWorker) {
  EngineHarness h;
  // Request 1 (client A) is refused by :9000 while request 2 (client B) is
  // reset by :9001; their log lines and error pages interleave.
  h.feed(make_log({.ts = sec(50.001), .request = kReq1, .connection = 101, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(50.002), .request = kReq2, .connection = 102, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk2,
                   .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(50.003), .request = kReq2, .connection = 102, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(50.004), .request = kReq1, .connection = 101, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(50.005), .sk = kClientSk2, .status = 502, .remote = kClientB}));
  h.feed(make_client_response({.ts = sec(50.006), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  const Record& second = h.records()[0];
  const Record& first = h.records()[1];
  EXPECT_EQ(second.cause, Cause::reset) << dump(second);
  EXPECT_EQ(second.client, "192.0.2.20:52000");
  EXPECT_EQ(second.upstream, kBackend2Name);
  EXPECT_EQ(second.attempts.size(), 1u);
  EXPECT_EQ(first.cause, Cause::refused) << dump(first);
  EXPECT_EQ(first.client, "192.0.2.10:51000");
  EXPECT_EQ(first.upstream, kBackendName);
  EXPECT_EQ(first.attempts.size(), 1u);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineConcurrency, TwoWorkersWithTheSameRequestPointerDontMix) {
  EngineHarness h;
  constexpr uint32_t kWorker1 = 1001;
  constexpr uint32_t kWorker2 = 1002;
  // Same address space layout in both workers: same request pointer and, to
  // make it harder, the same connection number.
  h.feed(make_log({.ts = sec(60.001), .pid = kWorker1, .request = kReq1, .connection = 5,
                   .fmt = "connect() failed", .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName,
                   .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(60.002), .pid = kWorker2, .request = kReq1, .connection = 5,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackend2Name, .upstream_sk = kUpSk2, .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(60.003), .pid = kWorker2, .request = kReq1, .connection = 5,
                          .client_sk = kClientSk2, .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(60.004), .pid = kWorker1, .request = kReq1, .connection = 5,
                          .client_sk = kClientSk1, .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(60.005), .pid = kWorker2, .sk = kClientSk2, .status = 502,
                               .remote = kClientB}));
  h.feed(make_client_response({.ts = sec(60.006), .pid = kWorker1, .sk = kClientSk1, .status = 502,
                               .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  const Record& w2 = h.records()[0];
  const Record& w1 = h.records()[1];
  EXPECT_EQ(w2.pid, kWorker2);
  EXPECT_EQ(w2.cause, Cause::closed_early) << dump(w2);
  EXPECT_EQ(w2.client, "192.0.2.20:52000");
  EXPECT_EQ(w2.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  ASSERT_EQ(w2.attempts.size(), 1u);
  EXPECT_EQ(w1.pid, kWorker1);
  EXPECT_EQ(w1.cause, Cause::refused) << dump(w1);
  EXPECT_EQ(w1.client, "192.0.2.10:51000");
  EXPECT_EQ(w1.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  ASSERT_EQ(w1.attempts.size(), 1u);
}

TEST(EngineConcurrency, KeepaliveClientWithSeveralErrorsInARow) {
  EngineHarness h;
  // One keepalive client connection (same socket, same connection number and,
  // as nginx's allocator likes it, the same request pointer) gets three
  // gateway errors in a row. Each status line echoes one error page.
  struct Step {
    const char* fmt;
    int err;
    const char* action;
    uint32_t status;
    State state;
    Cause cause;
  };
  const Step steps[] = {
      {"connect() failed", ECONNREFUSED, kConnecting, 502, not_connected(kBackendName), Cause::refused},
      {"recv() failed", ECONNRESET, kReadingHeader, 502, connected_no_header(kBackendName, 502, 1), Cause::reset},
      {"upstream timed out", ETIMEDOUT, kReadingHeader, 504, connected_no_header(kBackendName, 504, 1000),
       Cause::slow_backend},
  };
  double t = 70;
  for (const Step& s : steps) {
    h.feed(make_log({.ts = sec(t), .request = kReq1, .connection = 33, .fmt = s.fmt, .err = s.err,
                     .action = s.action, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
    h.feed(make_error_page({.ts = sec(t + 0.0001), .request = kReq1, .connection = 33, .client_sk = kClientSk1,
                            .status = s.status, .peer = kBackendName, .client = kClientA, .states = {s.state}}));
    h.feed(make_client_response({.ts = sec(t + 0.0002), .sk = kClientSk1, .status = s.status, .remote = kClientA}));
    t += 2;
  }
  ASSERT_EQ(h.records().size(), 3u) << dump(h.records());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.records()[i].cause, steps[i].cause) << i << ": " << dump(h.records()[i]);
    EXPECT_EQ(h.records()[i].status, static_cast<int>(steps[i].status)) << i;
    EXPECT_EQ(h.records()[i].attempts.size(), 1u) << i << ": " << dump(h.records()[i]);
    EXPECT_EQ(h.records()[i].source, RecordSource::uprobe);
  }
  // Every echo was consumed exactly once: a further 502 status line with
  // nothing from nginx behind it is a record of its own.
  h.feed(make_client_response({.ts = sec(t), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 4u) << dump(h.records());
  EXPECT_EQ(h.records()[3].cause, Cause::unknown);
  EXPECT_EQ(h.records()[3].source, RecordSource::kernel);
}

TEST(EngineConcurrency, TlsErrorPageThenUpstream5xxOnTheSameConnection) {
  EngineHarness h;
  // Request 1 on a TLS client connection: refused, error page; its status
  // line is encrypted, so the client response event after it says status 0.
  h.feed(make_log({.ts = sec(80), .request = kReq1, .connection = 40, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(80.0001), .request = kReq1, .connection = 40, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(80.0002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  // Request 2 on the same connection: the backend answers 502 itself.
  h.feed(make_upstream_status({.ts = sec(81), .sk = kUpSk2, .status = 502, .remote = kBackend2}));
  h.feed(make_client_response({.ts = sec(81.0001), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_EQ(h.records()[0].source, RecordSource::uprobe);
  EXPECT_EQ(h.records()[1].cause, Cause::upstream_status);
  EXPECT_EQ(h.records()[1].upstream, kBackend2Name);
  EXPECT_EQ(h.records()[1].client, "192.0.2.10:51000");
  EXPECT_EQ(h.records()[1].status, 502);
}

TEST(EngineConcurrency, StaleTlsErrorPageExpectationDoesNotSwallowALaterStatusLine) {
  EngineHarness h;
  // A TLS client gets an error page (no status line is ever seen for it) and
  // goes away. Two seconds later the kernel hands the same sock address to a
  // plain HTTP/1.1 client, whose request the backend answers 503 itself.
  h.feed(make_log({.ts = sec(90), .request = kReq1, .connection = 41, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(90.0001), .request = kReq1, .connection = 41, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(90.0002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  h.feed(make_upstream_status({.ts = sec(92), .sk = kUpSk2, .status = 503, .remote = kBackend2}));
  h.feed(make_client_response({.ts = sec(92.0001), .sk = kClientSk1, .status = 503, .remote = kClientB}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[1].cause, Cause::upstream_status) << dump(h.records()[1]);
  EXPECT_EQ(h.records()[1].status, 503);
  EXPECT_EQ(h.records()[1].client, "192.0.2.20:52000");
}

}  // namespace
}  // namespace why502::test

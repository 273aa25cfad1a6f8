// Engine tests. Failures nginx recovered from leave the table, with no client echo (--lean).
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineRecovery, RequestMemoryReusedByAnotherConnectionEndsTheEarlierRequest) {
  EngineHarness h(lean());
  // Connection 1: :9000 refuses; the retry on :9001 works (nothing seen).
  h.feed(make_log({.ts = sec(450), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  // Connection 2's request got the same memory: request 1 was freed.
  h.feed(make_log({.ts = sec(451), .request = kReq1, .connection = 2, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = kBackendName, .client = kClientB, .client_sk = kClientSk2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  h.feed(make_error_page({.ts = sec(451.001), .request = kReq1, .connection = 2, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackendName, .client = kClientB,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].client, "192.0.2.20:52000");
  EXPECT_EQ(lines_with(h.records()[0], "refused"), 0) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineRecovery, ErrorPageAtAReusedAddressEndsTheEarlierRequest) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(460), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  // Another connection's request at that address: nginx logged nothing for
  // it (no error_log line), and answered 502.
  h.feed(make_error_page({.ts = sec(461), .request = kReq1, .connection = 2, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackendName, .client = kClientB,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::closed_early) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
}

TEST(EngineRecovery, ClientSocketReusedByAnotherConnectionEndsTheEarlierRequest) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(470), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  // Connection 1 closed; the kernel gave its sock to connection 2.
  h.feed(make_log({.ts = sec(471), .request = kReq2, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  // And once more, seen first at the error page of connection 3.
  h.feed(make_error_page({.ts = sec(472), .request = 0x55d0c0a03800, .connection = 3, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 2u);
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
}

// HTTP/2: the streams of one connection are requests at different addresses
// with the same connection number and client socket, all in flight at once
// (subrequests look the same). Stream 3's failure ends nothing of stream 1.
TEST(EngineRecovery, AnotherStreamOnTheSameHttp2ConnectionDoesNotEndAFailure) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(480), .request = kReq1, .connection = 7, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(480.001), .request = kReq2, .connection = 7, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
  // Stream 1's second attempt fails too: its error page has both attempts' words.
  h.feed(make_log({.ts = sec(480.004), .request = kReq1, .connection = 7, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(480.005), .request = kReq1, .connection = 7, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackend2Name, .client = kClientA,
                          .states = {not_connected(kBackendName), connected_no_header(kBackend2Name, 502, 3)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.attempts[1].cause, Cause::reset) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 1", "127.0.0.1:9000 refused"}), 1) << dump(r);
  // Stream 3 (retried, or still going) stays pending: nothing says it ended.
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

TEST(EngineRecovery, TheNextRequestOfAKeepaliveConnectionAtTheSameAddressEndsTheEarlierOne) {
  EngineHarness h(lean());
  // Request 1 of connection 1 fails once, and its retry works (nothing seen).
  h.feed(make_log({.ts = sec(490), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 1}));
  // Request 2 of the same connection, in the same memory, is reset.
  h.feed(make_log({.ts = sec(491), .request = kReq1, .connection = 1, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1,
                   .requests = 2}));
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  h.feed(make_error_page({.ts = sec(491.001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}, .requests = 2}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[0], "refused"), 0) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineRecovery, ARequestNumberNotKnownOnOneSideMatchesAsBefore) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(492), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(492.001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}, .requests = 5}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

TEST(EngineRecovery, ARequestReadToBeOverLeavesTheTable) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(493), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 3}));
  h.feed(make_log({.ts = sec(493), .request = kReq2, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk2, .requests = 1}));
  ASSERT_EQ(h.engine().stats().pending_requests, 2u);
  h.feed(make_request_ended(sec(494.5), kReq1, 1, 3));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().ended_requests, 1u);
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  // Its client socket is free for the next connection: nothing is superseded.
  h.feed(make_log({.ts = sec(495), .request = kReq1, .connection = 9, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 1}));
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
}

TEST(EngineRecovery, AnAnswerAboutAnEarlierRequestLeavesTheOneNowAtItsAddress) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(496), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 3}));
  h.feed(make_log({.ts = sec(496.5), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 4}));
  // The check read request 3 to be over; request 4 has its memory now.
  h.feed(make_request_ended(sec(497), kReq1, 1, 3));
  h.feed(make_request_ended(sec(497), kReq1, 2, 4));  // another connection's request 4: not this one
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().ended_requests, 0u);
  h.feed(make_error_page({.ts = sec(497.1), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}, .requests = 4}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
}

TEST(EngineRecovery, ThePendingRequestsToCheckAreTheOldestPastTheirAge) {
  Engine engine(lean());
  std::vector<Record> out;
  for (uint64_t i = 0; i < 5; ++i)
    engine.handle(make_log({.ts = sec(500 + static_cast<double>(i)), .request = kReq1 + i * 0x1000,
                            .connection = 10 + i, .fmt = "connect() failed", .err = ECONNREFUSED,
                            .action = kConnecting, .peer = kBackendName, .client = kClientA,
                            .requests = static_cast<uint32_t>(i + 1)}),
                  out);
  // At 504.5 s, those logged 2 s ago or more: 500, 501, 502; at most 2.
  const auto due = engine.pending_older_than(sec(504.5), sec(2), 2);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].request, kReq1);
  EXPECT_EQ(due[0].connection, 10u);
  EXPECT_EQ(due[0].requests, 1u);
  EXPECT_EQ(due[0].tgid, kWorker);
  EXPECT_EQ(due[1].request, kReq1 + 0x1000);
  EXPECT_EQ(engine.pending_older_than(sec(504.5), sec(2), 100).size(), 3u);
  EXPECT_TRUE(engine.pending_older_than(sec(500.5), sec(2), 100).empty());
}

TEST(EngineRecovery, TheSameAddressInAnotherWorkerEndsNothing) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(490), .pid = 1001, .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(490.1), .pid = 1002, .request = kReq1, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

// A retry storm from many short connections, four requests in flight at a
// time: nginx's allocator hands the four request addresses out again and
// again, so the table holds the last four, not one entry per failure.
TEST(EngineRecovery, RetryStormOverManyConnectionsKeepsTheTableAtItsConcurrency) {
  EngineHarness h(lean());
  constexpr uint64_t kConnections = 10'000;
  for (uint64_t c = 0; c < kConnections; ++c)
    h.feed(make_log({.ts = sec(500) + 100'000 * c, .request = 0x55d0c0000000 + 0x1000 * (c % 4),
                     .connection = 5000 + c, .fmt = "connect() failed", .err = ECONNREFUSED, .action = kConnecting,
                     .peer = kBackendName, .client = kClientA, .client_sk = 0xffff888200000000 + 0x800 * (c % 16)}));
  const EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, 4u);
  EXPECT_EQ(stats.superseded_requests, kConnections - 4);
  EXPECT_EQ(stats.evicted_requests, 0u);
}

}  // namespace
}  // namespace why502::test

// Engine tests. Odd but real event streams: clocks, boot time, forks.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineRobustness, SlightlyOutOfOrderTimestampsDoNotDropAPendingRequest) {
  EngineHarness h;
  // The ring buffer is shared by all CPUs and the timestamp is taken after
  // the reservation, so an event can follow one stamped a few hundred ns
  // later. Here nginx's log line is the first event after a quiet second,
  // and the next event (another CPU) is stamped 500 ns before it.
  h.feed(make_log({.ts = sec(600), .request = kReq1, .connection = 1, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(600) - 500, kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  h.feed(make_error_page({.ts = sec(600.0001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[0].nginx_error.empty());
}

TEST(EngineRobustness, FirstEventsNearBootTime) {
  EngineHarness h;
  // CLOCK_MONOTONIC starts at boot: timestamps below one second are valid.
  h.feed(make_log({.ts = msec(300), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = msec(301), .request = kReq1, .connection = 1, .status = 502,
                          .peer = kBackendName, .client = kClientA, .states = {not_connected(kBackendName)}}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_FALSE(h.records()[0].nginx_error.empty());
}

TEST(EngineRobustness, ProcessForkEventsAreCountedAndIgnored) {
  EngineHarness h;
  w5_process_fork f{};
  f.h = header(W5_EV_PROCESS_FORK, sizeof(f), sec(700), 100, 100);
  f.parent_tgid = 100;
  f.child_tgid = 101;
  set_str(f.comm, "nginx");
  h.feed(f);
  EXPECT_TRUE(h.records().empty());
  EXPECT_EQ(h.engine().stats().events, 1u);
  EXPECT_EQ(h.engine().stats().records, 0u);
}

}  // namespace
}  // namespace why502::test

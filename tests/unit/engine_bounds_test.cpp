// Engine tests. Bounds and expiry of the engine's tables.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "common/age_ordered_map.hpp"
#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineBounds, PendingRequestsAreBoundedOldestFirst) {
  EngineOptions options;
  options.max_pending_requests = 2;
  EngineHarness h(options);
  const uint64_t requests[] = {0x1000, 0x2000, 0x3000};
  // Three connections open at once: three client sockets.
  for (int i = 0; i < 3; ++i)
    h.feed(make_log({.ts = sec(300 + i * 0.1), .request = requests[i], .connection = 1u + i,
                     .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                     .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1 + 0x1000u * i}));
  EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, 2u);
  EXPECT_EQ(stats.evicted_requests, 1u);

  // The oldest request lost its log line; the newest kept it.
  h.feed(make_error_page({.ts = sec(300.5), .request = 0x1000, .connection = 1, .status = 502,
                          .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(300.6), .request = 0x3000, .connection = 3, .status = 502,
                          .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
}

TEST(EngineBounds, PendingRequestsExpire) {
  EngineOptions options;
  options.request_max_age_ns = sec(5);
  EngineHarness h(options);
  h.feed(make_log({.ts = sec(400), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(403), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);  // 3 s old: kept
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(410), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);  // 10 s old: gone
}

// The table's order: least recently touched first, kept through the map's own nodes.
TEST(AgeOrderedMap, OldestIsTheLeastRecentlyTouched) {
  AgeOrderedMap<int, std::string> map;
  EXPECT_EQ(map.oldest_key(), nullptr);
  for (int k : {1, 2, 3}) map.touch(k).value = std::to_string(k);
  ASSERT_NE(map.oldest_key(), nullptr);
  EXPECT_EQ(*map.oldest_key(), 1);
  EXPECT_FALSE(map.touch(1).created);  // 1 is the newest now
  EXPECT_EQ(*map.oldest_key(), 2);
  EXPECT_TRUE(map.erase(3));  // from the middle
  EXPECT_FALSE(map.erase(3));
  EXPECT_TRUE(map.erase(2));
  EXPECT_EQ(*map.oldest_key(), 1);
  EXPECT_EQ(*map.oldest_value(), "1");
  AgeOrderedMap<int, std::string> moved(std::move(map));
  EXPECT_EQ(map.oldest_key(), nullptr);  // NOLINT(bugprone-use-after-move): a moved map is empty
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_TRUE(moved.erase(1));
  EXPECT_EQ(moved.oldest_key(), nullptr);
  EXPECT_TRUE(moved.empty());
}

// A failed attempt of request i (its own address, connection and client
// socket, as for requests all in flight at once).
w5_ngx_log nth_failure(uint64_t i, uint64_t ts) {
  return make_log({.ts = ts, .request = 0x55d0c0000000 + 0x1000 * i, .connection = 1000 + i,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = 0xffff888200000000 + 0x800 * i});
}

// Its error page; the attempt took up to a minute, so any failure logged
// in that minute is its own.
w5_ngx_error_page nth_error_page(uint64_t i, uint64_t ts) {
  return make_error_page({.ts = ts, .request = 0x55d0c0000000 + 0x1000 * i, .connection = 1000 + i,
                          .client_sk = 0xffff888200000000 + 0x800 * i, .status = 502, .peer = kBackendName,
                          .client = kClientA, .states = {connected_no_header(kBackendName, 502, 60'000)}});
}

TEST(EngineBounds, EvictionTakesTheLeastRecentlyLoggedRequest) {
  EngineOptions options = lean();
  options.max_pending_requests = 3;
  EngineHarness h(options);
  h.feed(nth_failure(0, sec(310)));
  h.feed(nth_failure(1, sec(310.1)));
  h.feed(nth_failure(2, sec(310.2)));
  h.feed(nth_failure(0, sec(310.3)));  // request 0 logs again (a second attempt): the newest now
  h.feed(nth_failure(3, sec(310.4)));  // full: request 1 goes
  EXPECT_EQ(h.engine().stats().pending_requests, 3u);
  EXPECT_EQ(h.engine().stats().evicted_requests, 1u);
  for (uint64_t i = 0; i < 4; ++i) h.feed(nth_error_page(i, sec(311 + 0.1 * i)));
  ASSERT_EQ(h.records().size(), 4u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_FALSE(h.records()[2].nginx_error.empty()) << dump(h.records()[2]);
  EXPECT_FALSE(h.records()[3].nginx_error.empty()) << dump(h.records()[3]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

// At the default capacity, 200 000 failures past a full table: each takes
// exactly the oldest entry, and the table neither grows nor loses the newest.
// (Before, each of them scanned all 65 536 entries for the oldest.)
TEST(EngineBounds, AFullTableEvictsExactlyTheOldestAtEveryFailure) {
  EngineHarness h(lean());
  const uint64_t capacity = EngineOptions{}.max_pending_requests;
  ASSERT_EQ(capacity, 65536u);
  constexpr uint64_t kMore = 200'000;
  for (uint64_t i = 0; i < capacity + kMore; ++i) h.feed(nth_failure(i, sec(320) + 1000 * i));
  const EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, capacity);
  EXPECT_EQ(stats.evicted_requests, kMore);
  EXPECT_EQ(stats.superseded_requests, 0u);
  // The last one evicted lost nginx's words; the oldest one kept did not.
  h.feed(nth_error_page(kMore - 1, sec(330)));
  h.feed(nth_error_page(kMore, sec(330.1)));
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[1].nginx_error,
            "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(h.engine().stats().pending_requests, capacity - 1);
}

TEST(EngineBounds, ExpiryTakesTheStaleEndOnly) {
  EngineOptions options = lean();
  options.request_max_age_ns = sec(5);
  EngineHarness h(options);
  h.feed(nth_failure(0, sec(400)));
  h.feed(nth_failure(1, sec(401)));
  h.feed(nth_failure(0, sec(403)));  // request 0's next attempt: 4 s old at 407
  h.feed(nth_failure(2, sec(404)));
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(407), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);  // request 1 (6 s old) expired
  EXPECT_EQ(h.engine().stats().expired_requests, 1u);
  for (uint64_t i = 0; i < 3; ++i) h.feed(nth_error_page(i, sec(407.1 + 0.1 * i)));
  ASSERT_EQ(h.records().size(), 3u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_FALSE(h.records()[2].nginx_error.empty()) << dump(h.records()[2]);
}

TEST(EngineBounds, UpstreamStatusWaitsOnlyForItsOwnThread) {
  EngineHarness h;
  h.feed(make_upstream_status({.ts = sec(500), .tid = 7001, .sk = kUpSk1, .status = 502, .remote = kBackend}));
  // Another thread's unreadable send is not that client.
  h.feed(make_client_response({.ts = sec(500.0001), .tid = 7002, .sk = kClientSk2, .status = 0,
                               .remote = kClientB}));
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  h.feed(make_client_response({.ts = sec(500.0002), .tid = 7001, .sk = kClientSk1, .status = 0,
                               .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].client, "192.0.2.10:51000");
  // Consumed: a second unreadable send on that thread is nothing.
  h.feed(make_client_response({.ts = sec(500.0003), .tid = 7001, .sk = kClientSk1, .status = 0,
                               .remote = kClientA}));
  EXPECT_EQ(h.records().size(), 1u);
}

// A worker's cgroup is read once; thousands of other processes' cgroups
// later (reloads, containers), a worker still sending events keeps its own.
TEST(EngineBounds, ALiveWorkersCgroupOutlastsManyOtherProcesses) {
  EngineHarness h;
  w5_process_cgroup mine{};
  mine.h = header(W5_EV_PROCESS_CGROUP, sizeof(mine), sec(1), kWorker, kWorker);
  set_str(mine.cgroup, "/system.slice/nginx.service");
  h.feed(mine);
  for (uint32_t i = 0; i < 10000; ++i) {
    w5_process_cgroup other{};
    other.h = header(W5_EV_PROCESS_CGROUP, sizeof(other), sec(2), 100000 + i, 100000 + i);
    set_str(other.cgroup, "/system.slice/other.service");
    h.feed(other);
    if (i % 1000 == 0)  // the worker's own events go on meanwhile
      h.feed(make_log({.ts = sec(2), .request = kReq1 + i, .connection = 1, .fmt = "upstream timed out",
                       .err = ETIMEDOUT, .action = kReadingHeader, .peer = kBackendName}));
  }
  h.feed(make_log({.ts = sec(3), .request = kReq2, .connection = 2, .fmt = "connect() failed", .err = ECONNREFUSED,
                   .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.001), .request = kReq2, .connection = 2, .status = 502, .peer = kBackendName,
                          .client = kClientA, .states = {not_connected(kBackendName)}}));
  ASSERT_FALSE(h.records().empty());
  EXPECT_EQ(h.records().back().nginx_cgroup, "/system.slice/nginx.service") << dump(h.records().back());
}

// A table of what waits lets go of its least recently touched entries only.
TEST(AgeOrderedMap, KeepNewestAndTake) {
  AgeOrderedMap<int, std::string> map;
  for (int k : {1, 2, 3, 4}) map.touch(k).value = std::to_string(k);
  ASSERT_NE(map.find_and_touch(1), nullptr);  // 1 is the newest now
  map.keep_newest(2);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_EQ(map.find(2), nullptr);
  EXPECT_EQ(map.find(3), nullptr);
  EXPECT_EQ(map.take(1), std::optional<std::string>("1"));
  EXPECT_EQ(map.take(1), std::nullopt);
  ASSERT_NE(map.oldest_key(), nullptr);
  EXPECT_EQ(*map.oldest_key(), 4);
}

}  // namespace
}  // namespace why502::test

// The table of pending failures under `serve --lean`, through real nginx: a
// retry storm from thousands of client connections (and keep-alive ones that
// send several requests each), each request refused by its first upstream and
// answered by the next. nginx logs every failed attempt; --lean sees nothing
// of the 200 that follows, so the failures leave the table by what nginx shows
// anyway: a request's memory or a client's socket going to a later failing
// request, and the request read in the worker's memory to be over. A small
// table that fills meanwhile evicts its oldest, and must still give every
// gateway error that follows its full evidence, at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using PendingTable = RootTest;

// The value of one exposition line ("name{labels} value"), or -1 when absent.
double metric(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

TEST_F(PendingTable, RetriedFailuresFromManyConnectionsLeaveTheTableUnderLean) {
  constexpr int kCapacity = 256;
  constexpr int kRounds = 40;
  constexpr int kConcurrent = 100;  // connections at once: well under the capacity
  constexpr int kKeepaliveRounds = 5;
  constexpr int kPerConnection = 4;  // requests on each keep-alive connection
  constexpr int kRetried = (kRounds + kKeepaliveRounds * kPerConnection) * kConcurrent;
  constexpr int kGatewayErrors = 20;
  Scenario s;
  const std::string ok = s.start_backend("ok");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx(retried_upstream(refused, ok) +
                    "  server {\n    listen 127.0.0.1:{PORT} backlog=1024;\n" + proxy("/retried", "http://retried") +
                    proxy("/refused", "http://" + refused) + "  }\n",
                2);
  const std::string listen = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve({WHY502_BINARY, "serve", "--lean", "--max-pending", std::to_string(kCapacity), "--listen",
                      listen, "--log", s.dir() + "/serve.jsonl", "--pid", std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();
  const auto scrape = [&] { return run_command({"curl", "-s", "--max-time", "2", "http://" + listen + "/metrics"}); };
  EXPECT_EQ(metric(scrape(), "why502_pending_requests_capacity"), kCapacity);

  const std::string concurrent_get = std::string(WHY502_SOURCE_DIR) + "/tests/backends/concurrent_get.py";
  const std::string port = std::to_string(s.nginx_port());
  double most_pending = 0;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_EQ(run_command({"python3", concurrent_get, "127.0.0.1", port, "/retried", std::to_string(kConcurrent)}),
              "answered " + std::to_string(kConcurrent) + "\n")
        << "round " << round << "\n"
        << s.error_log();
    most_pending = std::max(most_pending, metric(scrape(), "why502_pending_requests"));
  }
  // The next request of a keep-alive connection often gets the memory of the
  // one before it: c->requests tells them apart.
  for (int round = 0; round < kKeepaliveRounds; ++round) {
    ASSERT_EQ(run_command({"python3", concurrent_get, "127.0.0.1", port, "/retried", std::to_string(kConcurrent),
                           "--requests-per-connection", std::to_string(kPerConnection)}),
              "answered " + std::to_string(kConcurrent * kPerConnection) + "\n")
        << "keep-alive round " << round << "\n"
        << s.error_log();
    most_pending = std::max(most_pending, metric(scrape(), "why502_pending_requests"));
  }
  EXPECT_LE(most_pending, kCapacity);

  // All of them are over: the table empties within seconds (each pending
  // request is read once a second when a second old), not 15 minutes.
  const auto storm_end = std::chrono::steady_clock::now();
  double left = -1;
  while (std::chrono::steady_clock::now() < storm_end + 20s) {
    left = metric(scrape(), "why502_pending_requests");
    if (left == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(left, 0) << scrape() << serve.output();

  // Then real gateway errors, each on its own connection.
  ASSERT_EQ(run_command({"python3", concurrent_get, "127.0.0.1", port, "/refused", std::to_string(kGatewayErrors)}),
            "answered 0\n");
  const auto sent = std::chrono::steady_clock::now();
  const std::string want = "why502_gateway_errors_total{status=\"502\",cause=\"refused\",upstream=\"" + refused + "\"}";
  std::string metrics;
  const auto deadline = sent + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = scrape();
    if (metric(metrics, want) == kGatewayErrors) break;
    std::this_thread::sleep_for(20ms);
  }
  const auto took = std::chrono::steady_clock::now() - sent;
  ASSERT_EQ(metric(metrics, want), kGatewayErrors) << metrics << serve.output();
  EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";

  // nginx did fail first for every retried request: two upstreams each.
  int retried_lines = 0;
  for (const AccessLine& line : s.access_log())
    if (line.uri == "/retried" && line.status == 200 && line.upstream_addr == refused + ", " + ok) ++retried_lines;
  EXPECT_EQ(retried_lines, kRetried);

  for (const char* reason : {"ringbuf_full", "map_full", "slot_taken", "undecodable"})
    EXPECT_EQ(metric(metrics, std::string("why502_events_lost_total{reason=\"") + reason + "\"}"), 0) << metrics;
  // Every retried failure entered the table and left it: its memory or
  // client socket went to a later request, it was read to be over, or (while
  // the storm outran the once-a-second reads) the full table evicted it.
  const double pending = metric(metrics, "why502_pending_requests");
  const double superseded = metric(metrics, "why502_pending_requests_dropped_total{reason=\"superseded\"}");
  const double ended = metric(metrics, "why502_pending_requests_dropped_total{reason=\"ended\"}");
  const double evicted = metric(metrics, "why502_pending_requests_dropped_total{reason=\"evicted\"}");
  EXPECT_EQ(metric(metrics, "why502_pending_requests_dropped_total{reason=\"expired\"}"), 0) << metrics;
  EXPECT_EQ(pending, 0) << metrics;
  EXPECT_EQ(superseded + ended + evicted, kRetried) << metrics;
  // Each way does its share here: nginx's allocator and the kernel hand the
  // same request memory and sockets out again, and the last of each round
  // are read to be over.
  EXPECT_GE(superseded, kRetried / 8) << metrics;
  EXPECT_GE(ended, kConcurrent) << metrics;

  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait_exit(10s), 0) << serve.output();
  // The gateway errors, each matched to its access-log line; nothing for the
  // retried requests, whose clients got 200.
  std::vector<nlohmann::json> records;
  std::ifstream log(s.dir() + "/serve.jsonl");
  for (std::string line; std::getline(log, line);)
    if (!line.empty()) records.push_back(nlohmann::json::parse(line));
  EXPECT_EQ(match_records(s.access_log(), records, Causes{{refused, "refused"}}), "") << s.error_log();
  // With nginx's words: the full table made room for each new failure.
  for (const auto& r : records)
    EXPECT_EQ(r.value("nginx_error", ""), "connect() failed (111: Connection refused) while connecting to upstream")
        << r.dump();
}

}  // namespace
}  // namespace why502::testing

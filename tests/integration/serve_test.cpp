// `why502 serve`: the counters by cause reach /metrics while nginx answers 502s.
#include <gtest/gtest.h>

#include <filesystem>

#include <signal.h>
#include <sys/resource.h>

#include <fstream>
#include <map>
#include <thread>

#include "monitoring.hpp"
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Serve = RootTest;

TEST_F(Serve, MetricsCountGatewayErrorsByCause) {
  Scenario s;
  const std::string reset = s.start_backend("reset");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/reset", "http://" + reset) +
                proxy("/refused", "http://" + refused) + "  }\n");
  const std::string listen = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve({WHY502_BINARY, "serve", "--listen", listen, "--log", s.dir() + "/serve.jsonl", "--pid",
                      std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();
  s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/reset"});

  const std::string want_refused =
      "why502_gateway_errors_total{status=\"502\",cause=\"refused\",upstream=\"" + refused + "\"} 2";
  const std::string want_reset = "why502_gateway_errors_total{status=\"502\",cause=\"reset\",upstream=\"" + reset + "\"} 1";
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {  // records leave within ~200 ms
    metrics = run_command({"curl", "-s", "--max-time", "2", "http://" + listen + "/metrics"});
    if (metrics.find(want_refused) != std::string::npos && metrics.find(want_reset) != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_NE(metrics.find(want_refused), std::string::npos) << metrics;
  EXPECT_NE(metrics.find(want_reset), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("why502_events_lost_total{reason=\"ringbuf_full\"} 0"), std::string::npos) << metrics;
  // A failed request's socket reused for the next connection loses nothing.
  EXPECT_NE(metrics.find("why502_events_lost_total{reason=\"slot_taken\"} 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("# TYPE why502_gateway_errors_total counter"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("why502_process_resident_memory_bytes "), std::string::npos) << metrics;
  EXPECT_EQ(run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + listen + "/nope"}), "404");
  // The binary's layout passed its live check on those errors, with no read
  // of nginx's memory failing.
  const std::string binary = "binary=\"" + std::filesystem::canonical(nginx_under_test()).string() + "\"";
  const std::string want_passed = "why502_nginx_layout_check{" + binary + ",state=\"passed\"} 1";
  for (int i = 0; i < 50 && metrics.find(want_passed) == std::string::npos; ++i) {  // health goes out each tick
    std::this_thread::sleep_for(100ms);
    metrics = run_command({"curl", "-s", "--max-time", "2", "http://" + listen + "/metrics"});
  }
  EXPECT_NE(metrics.find(want_passed), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("why502_nginx_read_failures_total{" + binary + "} 0\n"), std::string::npos) << metrics;

  serve.signal(SIGTERM);
  ASSERT_EQ(serve.wait_exit(10s), 0) << serve.output();
  // The JSON log has the same three records.
  int lines = 0;
  std::ifstream log(s.dir() + "/serve.jsonl");
  for (std::string line; std::getline(log, line);) {
    EXPECT_EQ(nlohmann::json::parse(line)["type"], "gateway_error");
    ++lines;
  }
  EXPECT_EQ(lines, 3);
}

// The value of one exposition line ("name{labels} value"), or -1 when absent.
double metric_value(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

// Healthy requests are timed too: per upstream, connect time (TCP only) and
// time to the response header land in the right buckets.
TEST_F(Serve, LatencyHistogramsPerUpstream) {
  Scenario s;
  const std::string fast = s.start_backend("ok");
  const std::string slow = s.start_backend("slow", "127.0.0.1:0", 0.3);
  const std::string sock = s.dir() + "/ok.sock";
  s.start_backend("ok", "unix:" + sock);
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/fast", "http://" + fast) +
                proxy("/slow", "http://" + slow) + proxy("/unix", "http://unix:" + sock + ":") + "  }\n");
  const std::string listen = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve(
      {WHY502_BINARY, "serve", "--listen", listen, "--connect-latency", "--pid", std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();
  const std::vector<int> codes = s.curl({"http://127.0.0.1:{PORT}/fast", "http://127.0.0.1:{PORT}/fast",
                                         "http://127.0.0.1:{PORT}/fast", "http://127.0.0.1:{PORT}/slow",
                                         "http://127.0.0.1:{PORT}/slow", "http://127.0.0.1:{PORT}/unix"});
  ASSERT_EQ(codes, (std::vector<int>{200, 200, 200, 200, 200, 200}));

  const std::string header = "why502_upstream_header_seconds";
  const std::string connect = "why502_upstream_connect_seconds";
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 15s;  // tables are read every 5 s
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = run_command({"curl", "-s", "--max-time", "2", "http://" + listen + "/metrics"});
    if (metric_value(metrics, header + "_count{upstream=\"unix:" + sock + "\"}") == 1 &&
        metric_value(metrics, header + "_count{upstream=\"" + slow + "\"}") == 2 &&
        metric_value(metrics, header + "_count{upstream=\"" + fast + "\"}") == 3)
      break;
    std::this_thread::sleep_for(200ms);
  }
  // nginx opens a connection per request here (no keepalive pool).
  EXPECT_EQ(metric_value(metrics, connect + "_count{upstream=\"" + fast + "\"}"), 3) << metrics;
  EXPECT_EQ(metric_value(metrics, connect + "_bucket{upstream=\"" + fast + "\",le=\"0.25\"}"), 3) << metrics;
  EXPECT_EQ(metric_value(metrics, header + "_count{upstream=\"" + fast + "\"}"), 3) << metrics;
  EXPECT_EQ(metric_value(metrics, header + "_bucket{upstream=\"" + fast + "\",le=\"0.25\"}"), 3) << metrics;
  // The slow upstream answers after 0.3 s: above 0.25, within 0.5.
  EXPECT_EQ(metric_value(metrics, header + "_bucket{upstream=\"" + slow + "\",le=\"0.25\"}"), 0) << metrics;
  EXPECT_EQ(metric_value(metrics, header + "_bucket{upstream=\"" + slow + "\",le=\"0.5\"}"), 2) << metrics;
  EXPECT_EQ(metric_value(metrics, header + "_bucket{upstream=\"" + slow + "\",le=\"+Inf\"}"), 2) << metrics;
  EXPECT_GE(metric_value(metrics, header + "_sum{upstream=\"" + slow + "\"}"), 0.6) << metrics;
  EXPECT_EQ(metric_value(metrics, header + "_count{upstream=\"unix:" + sock + "\"}"), 1) << metrics;
  EXPECT_EQ(metric_value(metrics, connect + "_count{upstream=\"unix:" + sock + "\"}"), -1) << metrics;
  // Map fill levels: three upstreams have histograms.
  EXPECT_EQ(metric_value(metrics, "why502_bpf_map_entries{map=\"latency_ids\"}"), 3) << metrics;
  EXPECT_EQ(metric_value(metrics, "why502_bpf_map_capacity{map=\"latency_ids\"}"), 1024) << metrics;
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait_exit(10s), 0) << serve.output();
}

// Thousands of upstream requests in flight at once (a backend holding every
// response until all have arrived): each keeps its request slot, so each is
// timed and none is counted lost. One slot per hash lost ~15 of 1500 here.
TEST_F(Serve, ThousandsOfRequestsInFlightAtOnceKeepTheirSlots) {
  constexpr int kConcurrent = 1500;
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  // nginx, the backend and the clients inherit it; root may raise the hard
  // limit (not without CAP_SYS_RESOURCE, in a container).
  const rlimit raised{rlim_t{8 * kConcurrent}, rlim_t{8 * kConcurrent}};
  if (files.rlim_max >= raised.rlim_max || setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    files.rlim_cur = files.rlim_max;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &files), 0);
  }
  getrlimit(RLIMIT_NOFILE, &files);
  ASSERT_GE(files.rlim_cur, rlim_t{4 * kConcurrent}) << "the descriptor limit is too low for this test";
  Scenario s;
  const std::string backends = std::string(WHY502_SOURCE_DIR) + "/tests/backends/";
  const std::string held = s.start_helper({"python3", backends + "held.py", "--port", "0", "--hold",
                                           std::to_string(kConcurrent), "--give-up", "60"});
  ChildProcess& backend = s.last_started();
  s.start_nginx("  upstream held { server " + held + "; keepalive " + std::to_string(kConcurrent) + "; }\n" +
                    "  server {\n    listen 127.0.0.1:{PORT} backlog=4096;\n" +
                    proxy("/", "http://held", "proxy_http_version 1.1; proxy_set_header Connection \"\";") + "  }\n",
                1, 4 * kConcurrent);
  const std::string listen = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve({WHY502_BINARY, "serve", "--listen", listen, "--pid", std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();

  const std::string answered = run_command({"python3", backends + "concurrent_get.py", "127.0.0.1",
                                            std::to_string(s.nginx_port()), "/", std::to_string(kConcurrent)});
  // The backend released them all together, not because it gave up waiting.
  ASSERT_TRUE(backend.wait_for_line("held " + std::to_string(kConcurrent), 10s)) << backend.output();
  ASSERT_EQ(answered, "answered " + std::to_string(kConcurrent) + "\n");

  const std::string count = "why502_upstream_header_seconds_count{upstream=\"" + held + "\"}";
  std::string metrics;
  const auto deadline = std::chrono::steady_clock::now() + 15s;  // tables are read every 5 s
  while (std::chrono::steady_clock::now() < deadline) {
    metrics = run_command({"curl", "-s", "--max-time", "2", "http://" + listen + "/metrics"});
    if (metric_value(metrics, count) == kConcurrent) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(metric_value(metrics, count), kConcurrent) << metrics;
  EXPECT_EQ(metric_value(metrics, "why502_events_lost_total{reason=\"slot_taken\"}"), 0) << metrics;
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait_exit(10s), 0) << serve.output();
}

TEST_F(Serve, BadListenAddressIsOneLine) {
  int status = 0;
  const std::string out = run_command({WHY502_BINARY, "serve", "--listen", "nowhere"}, &status);
  EXPECT_EQ(status, 2) << out;
  EXPECT_NE(out.find("--listen nowhere"), std::string::npos) << out;
}

}  // namespace
}  // namespace why502::testing

namespace why502::testing {
namespace {

// A real Prometheus (Debian package) scrapes `why502 serve` on loopback; the
// counters by cause must reach it, read back through its HTTP query API.
TEST_F(Serve, PrometheusScrapesTheCountersByCause) {
  Scenario s;
  const std::string reset = s.start_backend("reset");
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/reset", "http://" + reset) +
                proxy("/refused", "http://" + refused) + "  }\n");
  const std::string metrics = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve({WHY502_BINARY, "serve", "--listen", metrics, "--pid", std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();

  Prometheus prometheus(s.dir(), metrics);
  ASSERT_TRUE(prometheus.wait_ready(30s)) << prometheus.output();

  s.curl({"http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/refused", "http://127.0.0.1:{PORT}/reset"});
  std::map<std::string, std::string> by_cause;
  nlohmann::json result;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    result = prometheus.query("sum by (cause) (why502_gateway_errors_total)");
    by_cause.clear();
    if (result.is_array())
      for (const auto& r : result) by_cause[r["metric"]["cause"].get<std::string>()] = r["value"][1].get<std::string>();
    if (by_cause["refused"] == "2" && by_cause["reset"] == "1") break;
    std::this_thread::sleep_for(250ms);
  }
  EXPECT_EQ(by_cause["refused"], "2") << prometheus.api("/api/v1/targets").dump() << prometheus.output();
  EXPECT_EQ(by_cause["reset"], "1") << result.dump();
  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait_exit(10s), 0);
}

TEST(Packaging, AlertRulesPassPromtool) {
  int status = 0;
  const std::string out = run_command({"promtool", "check", "rules", std::string(WHY502_SOURCE_DIR) + "/packaging/alerts.yml"}, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
}

TEST(Packaging, DashboardIsValidJsonOverOurMetrics) {
  std::ifstream in(std::string(WHY502_SOURCE_DIR) + "/packaging/grafana-dashboard.json");
  const nlohmann::json dash = nlohmann::json::parse(in);
  ASSERT_FALSE(dash["panels"].empty());
  for (const auto& p : dash["panels"])
    EXPECT_NE(p["targets"][0]["expr"].get<std::string>().find("why502_"), std::string::npos) << p.dump();
}

}  // namespace
}  // namespace why502::testing

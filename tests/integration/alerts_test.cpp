// packaging/alerts.yml end to end: a real Prometheus scrapes `why502 serve`,
// evaluates the shipped rules and sends what fires to a real Alertmanager.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include "monitoring.hpp"
#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using namespace std::chrono_literals;
using Alerts = RootTest;

constexpr const char* kRefusedAlert = "NginxUpstreamRefusing";

// The shipped rules wait minutes (`for:`) and average over minutes (range
// selectors), as they should on a real host; this test has seconds. So it
// loads a copy in which only those durations change, read from the text
// line by line (each rule's `for:` and `expr:` are one line in alerts.yml):
// every `for:` becomes 2s (pending, then firing: the wait is still there),
// every range selector of an `expr:` becomes [5s] (five scrapes), so that the
// rate falls to 0 within seconds of the storm's end. Expressions, thresholds,
// labels and annotations are the shipped ones.
std::string with_test_durations(const std::string& rules) {
  static const std::regex for_line(R"(^(\s*)for:\s*\S+\s*$)");
  static const std::regex range(R"(\[[0-9]+[smhdwy]\])");
  std::istringstream in(rules);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, for_line))
      line = std::regex_replace(line, for_line, "$1for: 2s");
    else if (line.find("expr:") != std::string::npos)
      line = std::regex_replace(line, range, "[5s]");
    out += line + "\n";
  }
  return out;
}

// The state of one alerting rule in Prometheus ("inactive", "pending",
// "firing"), or "" before its first evaluation or when it is not loaded.
std::string rule_state(const Prometheus& prometheus, const std::string& name) {
  const nlohmann::json data = prometheus.api("/api/v1/rules", {"type=alert"});
  if (!data.is_object()) return "";
  for (const auto& group : data["groups"])
    for (const auto& rule : group["rules"])
      if (rule["name"] == name && rule["health"] == "ok") return rule["state"].get<std::string>();
  return "";
}

// The alerts Alertmanager lists for rule `name` and this upstream. It lists
// an alert until its endsAt passes: Prometheus sends a resolved alert with
// endsAt set to when it resolved, so a resolved alert leaves the list.
std::vector<nlohmann::json> alerts_for(const Alertmanager& alertmanager, const std::string& name,
                                       const std::string& upstream) {
  std::vector<nlohmann::json> out;
  const nlohmann::json alerts = alertmanager.alerts("alertname=\"" + name + "\"");
  if (!alerts.is_array()) return out;
  for (const auto& a : alerts)
    if (a["labels"].value("upstream", "") == upstream) out.push_back(a);
  return out;
}

bool has_active(const std::vector<nlohmann::json>& alerts) {
  for (const auto& a : alerts)
    if (a["status"]["state"] == "active") return true;
  return false;
}

// A storm of 502s from an upstream nothing listens on makes the refused alert
// fire, reach Alertmanager with the cause and upstream as labels and a
// description naming the upstream and what to check; when the storm stops,
// Prometheus resolves it and Alertmanager no longer lists it.
TEST_F(Alerts, RefusedStormReachesAlertmanagerAndResolvesWhenItStops) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::refused_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");
  const std::string metrics = "127.0.0.1:" + std::to_string(Scenario::free_port());
  ChildProcess serve({WHY502_BINARY, "serve", "--listen", metrics, "--pid", std::to_string(s.nginx_master())});
  ASSERT_TRUE(serve.wait_for_line("ready", 30s)) << serve.output();

  std::ifstream shipped(std::string(WHY502_SOURCE_DIR) + "/packaging/alerts.yml");
  std::ostringstream text;
  text << shipped.rdbuf();
  const std::string rules = s.dir() + "/alerts.yml";
  std::ofstream(rules) << with_test_durations(text.str());
  int status = 0;
  const std::string checked = run_command({"promtool", "check", "rules", rules}, &status);
  ASSERT_EQ(status, 0) << checked;

  Alertmanager alertmanager(s.dir());
  ASSERT_TRUE(alertmanager.wait_ready(30s)) << alertmanager.output();
  Prometheus prometheus(s.dir(), metrics,
                        "rule_files: ['" + rules + "']\nalerting:\n  alertmanagers:\n    - static_configs:\n" +
                            "        - targets: ['" + alertmanager.address() + "']\n");
  ASSERT_TRUE(prometheus.wait_ready(30s)) << prometheus.output();
  // Quiet before the storm: serve is scraped and the rule evaluated, inactive.
  const auto quiet_by = std::chrono::steady_clock::now() + 15s;
  bool quiet = false;
  while (!quiet && std::chrono::steady_clock::now() < quiet_by) {
    const nlohmann::json up = prometheus.query("up{job=\"why502\"}");
    quiet = up.is_array() && up.size() == 1 && up[0]["value"][1] == "1" && rule_state(prometheus, kRefusedAlert) == "inactive";
    if (!quiet) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(quiet) << prometheus.api("/api/v1/rules").dump() << prometheus.output();

  // The storm: 50 requests a second, at most 30 s of it; it stops when the
  // alert has arrived.
  ChildProcess storm({"curl", "-s", "-o", "/dev/null", "--rate", "50/s",
                      "http://127.0.0.1:" + std::to_string(s.nginx_port()) + "/refused?n=[1-1500]"});
  std::vector<nlohmann::json> arrived;
  const auto fire_by = std::chrono::steady_clock::now() + 30s;
  while (!has_active(arrived) && std::chrono::steady_clock::now() < fire_by) {
    std::this_thread::sleep_for(250ms);
    arrived = alerts_for(alertmanager, kRefusedAlert, refused);
  }
  ASSERT_TRUE(has_active(arrived)) << alertmanager.alerts("").dump() << prometheus.api("/api/v1/rules").dump();
  ASSERT_EQ(arrived.size(), 1u) << nlohmann::json(arrived).dump();
  const nlohmann::json& alert = arrived[0];
  EXPECT_EQ(alert["labels"]["cause"], "refused") << alert.dump();
  EXPECT_EQ(alert["labels"]["severity"], "critical") << alert.dump();
  // What a person paged at night reads: the upstream, and what to look at.
  const std::string summary = alert["annotations"].value("summary", "");
  const std::string description = alert["annotations"].value("description", "");
  EXPECT_NE(summary.find(refused), std::string::npos) << summary;
  EXPECT_NE(description.find("refused nginx's connection"), std::string::npos) << description;
  EXPECT_NE(description.find("listens on exactly that address (`ss -ltnp`"), std::string::npos) << description;
  EXPECT_NE(description.find(refused), std::string::npos) << description;
  // The storm is counted by serve as refused 502s, nothing else.
  const nlohmann::json causes = prometheus.query("sum by (cause, status) (why502_gateway_errors_total)");
  ASSERT_EQ(causes.size(), 1u) << causes.dump();
  EXPECT_EQ(causes[0]["metric"]["cause"], "refused") << causes.dump();
  EXPECT_EQ(causes[0]["metric"]["status"], "502") << causes.dump();

  storm.signal(SIGTERM);
  ASSERT_TRUE(storm.wait_exit(5s).has_value());
  std::string state;
  std::vector<nlohmann::json> left;
  const auto resolve_by = std::chrono::steady_clock::now() + 30s;
  do {
    std::this_thread::sleep_for(250ms);
    state = rule_state(prometheus, kRefusedAlert);
    left = alerts_for(alertmanager, kRefusedAlert, refused);
  } while ((state != "inactive" || !left.empty()) && std::chrono::steady_clock::now() < resolve_by);
  EXPECT_EQ(state, "inactive") << prometheus.api("/api/v1/rules").dump();
  EXPECT_TRUE(left.empty()) << nlohmann::json(left).dump();
  // Every 502 of the storm in nginx's access log reached Prometheus as refused.
  // Stopping curl may cut the request it had in flight: nginx logs that last
  // one as 499 (the client went away), which is no gateway error.
  const std::vector<AccessLine> lines = s.access_log();
  int logged = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool cut_by_stopping = i + 1 == lines.size() && lines[i].status == 499;
    if (!cut_by_stopping) {
      EXPECT_EQ(lines[i].status, 502) << lines[i].uri;
    }
    logged += lines[i].status == 502 && lines[i].last_upstream == refused;
  }
  const nlohmann::json counted =
      prometheus.query("sum(why502_gateway_errors_total{cause=\"refused\",upstream=\"" + refused + "\"})");
  ASSERT_EQ(counted.size(), 1u) << counted.dump();
  EXPECT_GT(logged, 0);
  EXPECT_EQ(counted[0]["value"][1], std::to_string(logged)) << counted.dump();

  serve.signal(SIGTERM);
  EXPECT_EQ(serve.wait_exit(10s), 0) << serve.output();
}

}  // namespace
}  // namespace why502::testing

// A real Prometheus and Alertmanager (Debian packages) for a test: each on a
// free 127.0.0.1 port with its storage in the test's directory, waited on
// through its /-/ready endpoint, stopped when the object goes.
#pragma once

#include <signal.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "scenario.hpp"

namespace why502::testing {

// GET url, with each "name=value" of params URL-encoded into the query; the
// parsed JSON answer, or null when there is none (not up yet, not JSON).
inline nlohmann::json get_json(const std::string& url, const std::vector<std::string>& params = {}) {
  std::vector<std::string> argv{"curl", "-s", "--max-time", "2", "-G", url};
  for (const std::string& p : params) argv.insert(argv.end(), {"--data-urlencode", p});
  return nlohmann::json::parse(run_command(argv), nullptr, /*allow_exceptions=*/false);
}

// Waits until GET url answers 200, at most timeout.
inline bool wait_until_ready(const std::string& url, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (run_command({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", url}) == "200")
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// A server of the Prometheus family on a free 127.0.0.1 port, ready when its
// /-/ready endpoint answers 200; stopped with SIGTERM.
class LoopbackServer {
 public:
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  bool wait_ready(std::chrono::milliseconds timeout) const { return wait_until_ready(url("/-/ready"), timeout); }
  std::string url(const std::string& path) const { return "http://" + address_ + path; }
  const std::string& address() const { return address_; }
  const std::string& output() const { return process_->output(); }

 protected:
  LoopbackServer() : address_("127.0.0.1:" + std::to_string(Scenario::free_port())) {}
  ~LoopbackServer() {
    process_->signal(SIGTERM);
    process_->wait_exit(std::chrono::seconds(10));
  }
  void start(std::vector<std::string> argv) { process_ = std::make_unique<ChildProcess>(std::move(argv)); }

 private:
  std::string address_;
  std::unique_ptr<ChildProcess> process_;
};

class Alertmanager : public LoopbackServer {
 public:
  // One receiver that sends nothing anywhere: the test reads alerts back
  // through the API. No clustering (it would listen on every address).
  explicit Alertmanager(const std::string& dir) {
    std::ofstream(dir + "/alertmanager.yml") << "route:\n  receiver: 'null'\n  group_wait: 1s\n  group_interval: 1s\n"
                                             << "receivers:\n  - name: 'null'\n";
    start({"prometheus-alertmanager", "--config.file=" + dir + "/alertmanager.yml", "--storage.path=" + dir + "/alertmanager",
           "--web.listen-address=" + address(), "--cluster.listen-address="});
  }
  // GET /api/v2/alerts with one label matcher, e.g. alertname="X".
  nlohmann::json alerts(const std::string& filter) const { return get_json(url("/api/v2/alerts"), {"filter=" + filter}); }
};

class Prometheus : public LoopbackServer {
 public:
  // Scrapes target as job "why502" and evaluates rules every second; extra
  // is appended to prometheus.yml (rule_files, alerting).
  Prometheus(const std::string& dir, const std::string& target, const std::string& extra = "") {
    std::ofstream(dir + "/prometheus.yml") << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                           << "  evaluation_interval: 1s\n"
                                           << "scrape_configs:\n  - job_name: why502\n    static_configs:\n"
                                           << "      - targets: ['" << target << "']\n"
                                           << extra;
    start({"prometheus", "--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/tsdb",
           "--web.listen-address=" + address()});
  }
  // The "data" of an answer of its HTTP API (null until Prometheus answers).
  nlohmann::json api(const std::string& path, const std::vector<std::string>& params = {}) const {
    const nlohmann::json answer = get_json(url(path), params);
    return answer.is_object() && answer.contains("data") ? answer["data"] : nlohmann::json();
  }
  // The result vector of an instant query (null until Prometheus answers).
  nlohmann::json query(const std::string& promql) const {
    const nlohmann::json data = api("/api/v1/query", {"query=" + promql});
    return data.is_object() ? data["result"] : nlohmann::json();
  }
};

}  // namespace why502::testing

// What every root integration test shares: the privilege check, and small
// builders for nginx config and record lists.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace why502::testing {

using Causes = std::map<std::string, std::string>;

class RootTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(geteuid(), 0u) << "integration tests load BPF programs: run them as root"; }
};

inline std::string location(const std::string& path, const std::string& body) {
  return "    location " + path + " { " + body + " }\n";
}

inline std::string proxy(const std::string& path, const std::string& target, const std::string& extra = "") {
  return location(path, "proxy_pass " + target + "; " + extra);
}

// upstream `retried`: every request goes to first, then to backup. max_fails=0:
// first is never marked failed, so nginx tries it first for every request.
inline std::string retried_upstream(const std::string& first, const std::string& backup) {
  return "  upstream retried { server " + first + " max_fails=0; server " + backup + " backup; }\n";
}

// A record's evidence lines as one JSON text, to search; "" without any.
inline std::string evidence_of(const nlohmann::json& record) {
  return record.contains("evidence") ? record["evidence"].dump() : "";
}

inline std::vector<nlohmann::json> of_type(const std::vector<nlohmann::json>& records, const std::string& type) {
  std::vector<nlohmann::json> out;
  for (const auto& r : records)
    if (r["type"] == type) out.push_back(r);
  return out;
}

}  // namespace why502::testing

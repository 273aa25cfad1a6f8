// keepalive_race against a real nginx with upstream keepalive pools: a
// backend that answers a connection's first request and hangs up (FIN or
// RST) as the next one arrives, as a backend whose idle timeout runs out
// while nginx reuses the connection. nginx does not retry a POST, so the
// client gets a 502; a GET it retries on a new connection is a `retried`
// record with the same cause. Asserted per request against the access log,
// with the default hook set and with --lean (the connection's history comes
// from the error-path uprobe alone).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

class KeepaliveRaces : public RootTest, public ::testing::WithParamInterface<bool> {};

bool evidence_has(const nlohmann::json& record, const std::string& part) {
  for (const auto& line : record["evidence"])
    if (line.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

std::string pooled(const std::string& name, const std::string& backend) {
  return "  upstream " + name + " { server " + backend + "; keepalive 4; }\n";
}

TEST_P(KeepaliveRaces, PostOnAConnectionTheBackendClosedIsAKeepaliveRace) {
  const bool lean = GetParam();
  Scenario s;
  const std::string fin = s.start_backend("keepalive_fin");
  const std::string rst = s.start_backend("keepalive_reset");
  // A fresh connection's close stays what it was.
  const std::string fresh = s.start_backend("close");
  const std::string keepalive = "proxy_http_version 1.1; proxy_set_header Connection \"\";";
  s.start_nginx(pooled("fin_pool", fin) + pooled("rst_pool", rst) + pooled("fresh_pool", fresh) +
                "  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/fin/", "http://fin_pool", keepalive) +
                proxy("/rst/", "http://rst_pool", keepalive) + proxy("/fresh/", "http://fresh_pool", keepalive) +
                "  }\n");
  s.start_tracer(lean ? std::vector<std::string>{"--lean"} : std::vector<std::string>{});
  const std::string base = "http://127.0.0.1:{PORT}";
  const std::vector<std::string> post = {"-X", "POST", "-d", "order=1"};
  std::vector<int> codes;
  // Each pool gets a connection from a GET, which a POST then reuses.
  for (const char* path : {"/fin/", "/rst/"}) {
    for (int code : s.curl({base + path + "first"})) codes.push_back(code);
    for (int code : s.curl({base + path + "order"}, post)) codes.push_back(code);
  }
  for (int code : s.curl({base + "/fresh/order"}, post)) codes.push_back(code);
  // A GET on a reused connection: nginx retries it on a new one.
  for (int code : s.curl({base + "/fin/again", base + "/fin/retried"})) codes.push_back(code);
  const auto all_records = s.stop_tracer();
  EXPECT_EQ(codes, (std::vector<int>{200, 502, 200, 502, 502, 200, 200}));

  const auto records = of_type(all_records, "gateway_error");
  EXPECT_EQ(match_records(s.access_log(), records,
                          Causes{{fin, "keepalive_race"}, {rst, "keepalive_race"}, {fresh, "closed_early"}}),
            "")
      << s.error_log() << s.tracer_output();
  EXPECT_EQ(records.size(), 3u);
  EXPECT_EQ(errors_as_nginx_wrote(all_records, s.error_log()), "") << s.error_log();
  for (const auto& r : records) {
    if (r["cause"] != "keepalive_race") {
      EXPECT_FALSE(evidence_has(r, "keepalive pool")) << r.dump();
      continue;
    }
    EXPECT_TRUE(evidence_has(r, "closed a keepalive connection as nginx reused it")) << r.dump();
    EXPECT_TRUE(evidence_has(r, "nginx took this connection from its keepalive pool: it had carried 1 earlier "
                                "request and sat idle "))
        << r.dump();
    EXPECT_TRUE(evidence_has(r, r["upstream"] == fin ? "the backend closed it (FIN) within "
                                                     : "the backend reset it (RST) within "))
        << r.dump();
    EXPECT_TRUE(evidence_has(r, "fix: make the backend's keep-alive (idle) timeout longer than nginx's upstream "
                                "keepalive_timeout"))
        << r.dump();
  }
  // Under --lean no client response is traced: the recovered GET ends
  // without a record (the liveness check reads it over).
  const auto retried = of_type(all_records, "retried");
  if (lean) {
    EXPECT_EQ(retried.size(), 0u);
    return;
  }
  ASSERT_EQ(retried.size(), 1u) << s.tracer_output();
  EXPECT_EQ(retried[0]["cause"], "keepalive_race") << retried[0].dump();
  EXPECT_EQ(retried[0]["upstream"], fin) << retried[0].dump();
  EXPECT_EQ(retried[0]["status"], 200) << retried[0].dump();
  EXPECT_TRUE(evidence_has(retried[0], "the backend closed it (FIN) within ")) << retried[0].dump();
  // nginx's access log shows the retry: two attempts, the last on a new connection.
  bool retry_logged = false;
  for (const AccessLine& line : s.access_log())
    retry_logged |= line.uri == "/fin/retried" && line.status == 200 && line.upstream_addr == fin + ", " + fin;
  EXPECT_TRUE(retry_logged) << s.error_log();
}

INSTANTIATE_TEST_SUITE_P(HookSets, KeepaliveRaces, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "Lean" : "Default"; });

}  // namespace
}  // namespace why502::testing

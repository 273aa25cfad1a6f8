// Data minimisation: no request data unless asked (--capture-request), client
// addresses cut down on request (--anonymise-clients), recordings 0600.
#include <gtest/gtest.h>

#include "root_test.hpp"
#include "scenario.hpp"

namespace why502::testing {
namespace {

using DataMinimisation = RootTest;

TEST_F(DataMinimisation, RequestLineOnlyWhenAskedAndClientsCutDown) {
  Scenario s;
  const std::string refused = "127.0.0.1:" + std::to_string(Scenario::free_port());
  s.start_nginx("  server {\n    listen 127.0.0.1:{PORT};\n" + proxy("/refused", "http://" + refused) + "  }\n");

  s.start_tracer();
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused?token=secret"}), std::vector<int>{502});
  std::vector<nlohmann::json> plain = s.stop_tracer();
  ASSERT_EQ(plain.size(), 1u) << s.tracer_output();
  EXPECT_FALSE(plain[0].contains("request")) << plain[0].dump();
  EXPECT_EQ(plain[0]["client"].get<std::string>().rfind("127.0.0.1:", 0), 0u) << plain[0].dump();

  s.start_tracer({"--capture-request", "--anonymise-clients"});
  EXPECT_EQ(s.curl({"http://127.0.0.1:{PORT}/refused?token=secret"}), std::vector<int>{502});
  std::vector<nlohmann::json> asked = s.stop_tracer();
  ASSERT_EQ(asked.size(), 1u) << s.tracer_output();
  EXPECT_EQ(asked[0]["request"], "GET /refused?token=secret HTTP/1.1") << asked[0].dump();
  EXPECT_EQ(asked[0]["cause"], "refused") << asked[0].dump();
  const std::string client = asked[0]["client"];
  EXPECT_EQ(client.rfind("127.0.0.0:", 0), 0u) << client;
  // The port is kept (it tells connections apart): it is the access log's.
  EXPECT_EQ(client.substr(client.find(':')), s.access_log().back().client.substr(s.access_log().back().client.find(':')));
}

}  // namespace
}  // namespace why502::testing

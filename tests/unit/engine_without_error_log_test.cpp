// Engine tests. nginx's error_log set above "error": only r->upstream_states is left.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

struct StateOnlyCase {
  const char* name;
  uint32_t status;
  State state;
  Cause cause;
};
void PrintTo(const StateOnlyCase& c, std::ostream* os) { *os << c.name; }  // not its bytes, in test listings

class EngineWithoutErrorLog : public ::testing::TestWithParam<StateOnlyCase> {};

TEST_P(EngineWithoutErrorLog, CauseComesFromTheUpstreamState) {
  const StateOnlyCase& c = GetParam();
  EngineHarness h;
  h.feed(make_error_page({.ts = sec(200), .request = kReq1, .connection = 90, .client_sk = kClientSk1,
                          .status = c.status, .peer = c.state.peer, .client = kClientA, .states = {c.state}}));
  h.feed(make_client_response({.ts = sec(200.0001), .sk = kClientSk1, .status = c.status, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, c.cause) << dump(r);
  EXPECT_EQ(r.status, static_cast<int>(c.status));
  EXPECT_EQ(r.upstream, c.state.peer);
  EXPECT_TRUE(r.nginx_error.empty()) << r.nginx_error;
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, c.cause);
}

INSTANTIATE_TEST_SUITE_P(
    StatesOnly, EngineWithoutErrorLog,
    ::testing::Values(
        StateOnlyCase{"refused", 502, not_connected("127.0.0.1:9000", 502, 0), Cause::refused},
        StateOnlyCase{"connect_timeout", 504, not_connected("10.0.0.9:80", 504, 60000), Cause::connect_timeout},
        StateOnlyCase{"slow_backend", 504, connected_no_header("127.0.0.1:9000", 504, 60000), Cause::slow_backend},
        StateOnlyCase{"closed_early", 502, connected_no_header("127.0.0.1:9000", 502, 3, 0), Cause::closed_early},
        StateOnlyCase{"invalid_response", 502, connected_no_header("127.0.0.1:9000", 502, 3, 812),
                      Cause::invalid_response},
        // proxy_intercept_errors: the upstream's own 503 turned into nginx's page.
        StateOnlyCase{"upstream_status", 503, State{503, 5, 1, 4, 120, 180, "127.0.0.1:9000"},
                      Cause::upstream_status}),
    [](const ::testing::TestParamInfo<StateOnlyCase>& info) { return std::string(info.param.name); });

TEST(EngineWithoutErrorLogRetries, EachAttemptFromItsState) {
  EngineHarness h;
  h.feed(make_error_page({.ts = sec(210), .request = kReq1, .connection = 91, .client_sk = kClientSk1,
                          .status = 504, .peer = kBackend2Name, .client = kClientA,
                          .states = {not_connected(kBackendName, 502, 0),
                                     connected_no_header(kBackend2Name, 504, 60000)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(r.attempts[0].upstream, kBackendName);
  EXPECT_EQ(r.attempts[1].cause, Cause::slow_backend);
  EXPECT_EQ(r.attempts[1].upstream, kBackend2Name);
  EXPECT_EQ(r.attempts[1].ms, 60000);
  EXPECT_EQ(r.cause, Cause::slow_backend);
}

TEST(EngineWithoutErrorLogRetries, InterceptedUpstream5xxIsExplainedByTheUpstreamStatusEvent) {
  EngineHarness h;
  // proxy_intercept_errors on: the backend's 502 is read (kernel event), then
  // nginx makes its own error page; the status line echoes that page.
  h.feed(make_upstream_status({.ts = sec(220), .sk = kUpSk1, .status = 502, .remote = kBackend}));
  h.feed(make_error_page({.ts = sec(220.0001), .request = kReq1, .connection = 92, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {State{502, 5, 1, 4, 120, 180, kBackendName}}}));
  h.feed(make_client_response({.ts = sec(220.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::upstream_status);
  EXPECT_EQ(r.source, RecordSource::uprobe);
  EXPECT_EQ(lines_with(r, "upstream 127.0.0.1:9000 sent status 502"), 1) << dump(r);
}

}  // namespace
}  // namespace why502::test

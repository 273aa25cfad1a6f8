// Engine tests. Addresses as nginx writes them.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

TEST(EngineAddresses, Ipv6ClientAndUpstream) {
  EngineHarness h;
  const w5_addr client6 = ipv6("2001:db8::10", 51000);
  h.feed(make_log({.ts = sec(230), .request = kReq1, .connection = 93, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = "[::1]:9000", .upstream_sk = kUpSk1,
                   .upstream = ipv6("::1", 9000), .client = client6, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(230.0001), .request = kReq1, .connection = 93, .client_sk = kClientSk1,
                          .status = 502, .peer = "[::1]:9000", .client = client6,
                          .states = {not_connected("[::1]:9000")}}));
  // The upstream's own 5xx over IPv6 to an IPv6 client.
  h.feed(make_upstream_status({.ts = sec(231), .sk = kUpSk2, .status = 502, .remote = ipv6("::1", 9000)}));
  h.feed(make_client_response({.ts = sec(231.0001), .sk = kClientSk2, .status = 502,
                               .remote = ipv6("::1", 40000)}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].client, "[2001:db8::10]:51000");
  EXPECT_EQ(h.records()[0].upstream, "[::1]:9000");
  EXPECT_EQ(h.records()[1].client, "[::1]:40000");
  EXPECT_EQ(h.records()[1].upstream, "[::1]:9000");
  EXPECT_EQ(h.records()[1].evidence[0], "upstream [::1]:9000 answered 502 itself");
}

TEST(EngineAddresses, UnixFastCgiUpstreamStatus) {
  EngineHarness h;
  // php-fpm answers "Status: 503" over a unix socket.
  h.feed(make_upstream_status({.ts = sec(240), .sk = kUpSk1, .status = 503, .proto = W5_PROTO_FASTCGI,
                               .remote = unix_sock(), .unix_path = "/run/php.sock"}));
  h.feed(make_client_response({.ts = sec(240.0001), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.upstream, "unix:/run/php.sock");
  EXPECT_EQ(r.attempts.at(0).upstream, "unix:/run/php.sock");
  EXPECT_EQ(r.evidence.at(0), "upstream unix:/run/php.sock answered 503 itself");
  EXPECT_EQ(r.evidence.at(1), "the status came in the upstream's FastCGI Status header; nginx passed it on");
}

}  // namespace
}  // namespace why502::test

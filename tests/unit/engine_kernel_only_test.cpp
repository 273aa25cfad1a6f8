// Engine tests. Kernel-only view: nginx without usable symbols, so no uprobe events.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

EngineOptions kernel_only() {
  EngineOptions o;
  o.kernel_only_fallback = true;
  return o;
}

TEST(EngineKernelOnly, RefusedFromTheWorkersRecentRst) {
  EngineHarness h(kernel_only());
  h.feed(rst(sec(250.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(sock_error(sec(250.00011), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
  h.feed(make_client_response({.ts = sec(250.002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.source, RecordSource::kernel);
  EXPECT_EQ(lines_with(r, "kernel: RST in reply to SYN from 127.0.0.1:9000"), 1) << dump(r);
}

TEST(EngineKernelOnly, RefusedByAFirewallFromAnErrorWithNoRst) {
  EngineHarness h(kernel_only());
  const w5_addr firewalled = ipv4("10.0.0.9", 80);
  h.feed(sock_error(sec(250.0001), kUpSk1, ECONNREFUSED, kTcpSynSent, firewalled));
  h.feed(make_client_response({.ts = sec(250.002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.upstream, "10.0.0.9:80");
  EXPECT_EQ(r.evidence[0].rfind("connect() to 10.0.0.9:80 rejected by a firewall: ICMP answered the SYN", 0), 0u)
      << dump(r);
  EXPECT_EQ(lines_with(r, "kernel: ICMP port unreachable in reply to SYN to 10.0.0.9:80"), 1) << dump(r);
}

TEST(EngineKernelOnly, ConnectTimeoutFromSynRetransmits) {
  EngineHarness h(kernel_only());
  const w5_addr silent = ipv4("10.0.0.9", 80);
  h.feed(syn_retransmit(sec(251), kUpSk1, silent));
  h.feed(syn_retransmit(sec(253), kUpSk1, silent));
  h.feed(make_client_response({.ts = sec(255), .sk = kClientSk1, .status = 504, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::connect_timeout) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].upstream, "10.0.0.9:80");
}

TEST(EngineKernelOnly, OneSocketExplainsOneResponse) {
  EngineHarness h(kernel_only());
  h.feed(rst(sec(256.0001), kUpSk1, kTcpEstablished, kBackend));
  h.feed(make_client_response({.ts = sec(256.001), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  h.feed(make_client_response({.ts = sec(256.002), .sk = kClientSk2, .status = 502, .remote = kClientB}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[1].cause, Cause::unknown) << dump(h.records()[1]);
  EXPECT_EQ(h.records()[1].upstream, "");
}

TEST(EngineKernelOnly, AnotherWorkersSocketDoesNotExplainThisResponse) {
  EngineHarness h(kernel_only());
  h.feed(rst(sec(257.0001), kUpSk1, kTcpSynSent, kBackend, /*owner=*/1001));
  h.feed(make_client_response({.ts = sec(257.001), .pid = 1002, .sk = kClientSk1, .status = 502,
                               .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::unknown) << dump(h.records()[0]);
  EXPECT_EQ(kernel_lines(h.records()[0]), 0) << dump(h.records()[0]);
}

TEST(EngineKernelOnly, OffByDefault) {
  EngineHarness h;
  h.feed(rst(sec(258.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(make_client_response({.ts = sec(258.001), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::unknown);
  EXPECT_EQ(h.records()[0].upstream, "");
  EXPECT_EQ(kernel_lines(h.records()[0]), 0) << dump(h.records()[0]);
}

}  // namespace
}  // namespace why502::test

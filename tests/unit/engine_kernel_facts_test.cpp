// Engine tests. Kernel evidence on reused socket addresses.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"
#include "events/address.hpp"

namespace why502::test {
namespace {

TEST(EngineKernelFacts, SocketReusedForAnotherPeerDoesNotCarryStaleEvidence) {
  EngineHarness h;
  // Request 1: :9000 refuses; the kernel saw the RST on sock kUpSk1.
  h.feed(rst(sec(140.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(make_log({.ts = sec(140.0002), .request = kReq1, .connection = 70, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(140.0003), .request = kReq1, .connection = 70, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  // Request 2: the freed sock is reused for a connection to :9001, which
  // closes without an RST (no kernel event for it).
  h.feed(make_log({.ts = sec(140.5), .request = kReq2, .connection = 71,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackend2Name, .upstream_sk = kUpSk1, .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(140.5001), .request = kReq2, .connection = 71, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 2)}}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(lines_with(h.records()[0], "RST in reply to SYN"), 1) << dump(h.records()[0]);
  const Record& r = h.records()[1];
  EXPECT_EQ(r.cause, Cause::closed_early);
  EXPECT_EQ(kernel_lines(r), 0) << dump(r);
}

TEST(EngineKernelFacts, SocketReusedForAnotherPeerKeepsOnlyTheNewFacts) {
  EngineHarness h;
  h.feed(rst(sec(150.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(sock_error(sec(150.00011), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
  // Reused for :9001, which resets an established connection.
  h.feed(rst(sec(150.3), kUpSk1, kTcpEstablished, kBackend2));
  h.feed(make_log({.ts = sec(150.3001), .request = kReq2, .connection = 72, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk1,
                   .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(150.3002), .request = kReq2, .connection = 72, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 1)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::reset);
  EXPECT_EQ(lines_with(r, "kernel: RST received from 127.0.0.1:9001 on an established connection"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "in reply to SYN"), 0) << dump(r);
  EXPECT_EQ(lines_with(r, "socket error 111"), 0) << dump(r);
}

TEST(EngineKernelFacts, SocketReusedForAnotherPeerAfterAnUnansweredSyn) {
  EngineHarness h;
  const w5_addr silent = ipv4("10.0.0.9", 80);
  // A connect() to a silent host had its SYN retransmitted, then nginx gave
  // up on it; no reset ended that socket.
  h.feed(syn_retransmit(sec(160), kUpSk1, silent));
  // 0.8 s later the sock is reused for :9001, which resets the connection.
  h.feed(rst(sec(160.8), kUpSk1, kTcpEstablished, kBackend2));
  h.feed(make_log({.ts = sec(160.8001), .request = kReq2, .connection = 74, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk1,
                   .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(160.8002), .request = kReq2, .connection = 74, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 10)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::reset);
  EXPECT_EQ(lines_with(r, "kernel: RST received from 127.0.0.1:9001 on an established connection"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "retransmitted"), 0) << dump(r);
}

TEST(EngineKernelFacts, OldEvidenceOnASocketReusedForTheSamePeerIsNotAttached) {
  EngineHarness h;
  // Long ago, a connection on kUpSk1 to :9000 had its SYN retransmitted.
  h.feed(syn_retransmit(sec(160), kUpSk1, kBackend));
  // Now the same sock address connects to :9000 again and the backend
  // closes early: the old SYN retransmit is not part of this attempt.
  h.feed(make_log({.ts = sec(260), .request = kReq1, .connection = 73,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(260.0001), .request = kReq1, .connection = 73, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 3)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(kernel_lines(h.records()[0]), 0) << dump(h.records()[0]);
}

TEST(EngineKernelFacts, SocketReusedForTheSamePeerRefusedAgainGetsFreshEvidence) {
  EngineHarness h;
  // A backend stays down; each request's connect() is refused. The freed
  // sock is handed back by the slab for the next connect(), so both
  // attempts use the same sock address, five seconds apart.
  for (int i = 0; i < 2; ++i) {
    const double t = 170 + 5 * i;
    const uint64_t request = i == 0 ? kReq1 : kReq2;
    h.feed(rst(sec(t + 0.0001), kUpSk1, kTcpSynSent, kBackend));
    h.feed(sock_error(sec(t + 0.00011), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
    h.feed(make_log({.ts = sec(t + 0.0002), .request = request, .connection = 80u + i, .fmt = "connect() failed",
                     .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                     .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
    h.feed(make_error_page({.ts = sec(t + 0.0003), .request = request, .connection = 80u + i,
                            .client_sk = kClientSk1, .status = 502, .peer = kBackendName, .client = kClientA,
                            .states = {not_connected(kBackendName, 502, 0)}}));
  }
  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(lines_with(h.records()[0], "kernel: RST in reply to SYN"), 1) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[1], "kernel: RST in reply to SYN"), 1) << dump(h.records()[1]);
}

// nginx logs an async connect() failure on kUpSk1 for kReq1 and builds its
// 502 page, the attempt having lasted attempt_ms.
void connect_failed(EngineHarness& h, double at_s, int err, const w5_addr& upstream, uint64_t attempt_ms) {
  const std::string peer = format_endpoint(upstream);
  h.feed(make_log({.ts = sec(at_s), .request = kReq1, .connection = 80, .fmt = "connect() failed", .err = err,
                   .action = kConnecting, .peer = peer, .upstream_sk = kUpSk1, .upstream = upstream,
                   .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(at_s + 0.0001), .request = kReq1, .connection = 80, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA,
                          .states = {not_connected(peer, 502, attempt_ms)}}));
}

// ICMP in reply to the SYN (a firewall's reject rule) leads the record, over
// what nginx's errno alone would suggest (EACCES: a local policy).
TEST(EngineKernelFacts, AnIcmpAnswerToTheSynSaysAFirewallRejectedIt) {
  struct Case {
    int err;
    Cause cause;
    const char* first_line;
  };
  for (const Case& c :
       {Case{ECONNREFUSED, Cause::refused, "connect() to 127.0.0.1:9000 rejected by a firewall: ICMP answered"},
        Case{EACCES, Cause::refused, "connect() to 127.0.0.1:9000 rejected by a firewall: ICMP answered"},
        Case{EHOSTUNREACH, Cause::unreachable,
             "127.0.0.1:9000 is unreachable: the first SYN was rejected at once by ICMP"}}) {
    SCOPED_TRACE(c.err);
    EngineHarness h;
    h.feed(sock_error(sec(160.0001), kUpSk1, c.err, kTcpSynSent, kBackend));
    connect_failed(h, 160.0002, c.err, kBackend, 0);
    ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
    const Record& r = h.records()[0];
    EXPECT_EQ(r.cause, c.cause) << dump(r);
    EXPECT_EQ(r.evidence[0].rfind(c.first_line, 0), 0u) << dump(r);
    EXPECT_EQ(lines_with(r, "in reply to"), 1) << dump(r);
    EXPECT_EQ(lines_with(r, "SELinux"), 0) << dump(r);
  }
}

// Seconds of SYNs, then "no route to host": no one has the address.
TEST(EngineKernelFacts, NoRouteToHostAfterRetransmitsIsAHostNoOneAnswersFor) {
  EngineHarness h;
  const w5_addr absent = ipv4("10.0.0.3", 80);
  // connect() at 169; SYNs again at 170 and 171; ARP gave up at 172.
  h.feed(syn_retransmit(sec(170), kUpSk1, absent));
  h.feed(syn_retransmit(sec(171), kUpSk1, absent));
  h.feed(sock_error(sec(172), kUpSk1, EHOSTUNREACH, kTcpSynSent, absent));
  connect_failed(h, 172.0001, EHOSTUNREACH, absent, 3000);
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::unreachable);
  EXPECT_EQ(r.evidence[0].rfind("10.0.0.3:80 is unreachable: no host answered at that address", 0), 0u) << dump(r);
  EXPECT_EQ(lines_with(r, "ICMP"), 0) << dump(r);
}

}  // namespace
}  // namespace why502::test

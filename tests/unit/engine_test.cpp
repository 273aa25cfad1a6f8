// The attribution engine, fed the events the BPF programs emit for real nginx
// failures, in the order they emit them: nginx's log lines for the request
// (ngx_log_error_core), then its error page (ngx_http_special_response_handler),
// then the status line on a plain HTTP/1.x client socket. Kernel evidence
// about upstream sockets arrives before nginx notices the failure.
#include <cerrno>

#include <gtest/gtest.h>

#include "attribution/age_ordered_map.hpp"
#include "attribution/engine.hpp"
#include "attribution/time_window.hpp"
#include "event_builders.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kReq1 = 0x55d0c0a01000;
constexpr uint64_t kReq2 = 0x55d0c0a02400;
constexpr uint64_t kClientSk1 = 0xffff888104a01000;
constexpr uint64_t kClientSk2 = 0xffff888104a02000;
constexpr uint64_t kUpSk1 = 0xffff888105b01000;
constexpr uint64_t kUpSk2 = 0xffff888105b02000;

const w5_addr kClientA = ipv4("192.0.2.10", 51000);
const w5_addr kClientB = ipv4("192.0.2.20", 52000);
const w5_addr kBackend = ipv4("127.0.0.1", 9000);
const w5_addr kBackend2 = ipv4("127.0.0.1", 9001);
const std::string kBackendName = "127.0.0.1:9000";
const std::string kBackend2Name = "127.0.0.1:9001";

// ---------------------------------------------------------------------------
// One test per cause.

TEST(EngineCause, RefusedOverTcpWithKernelRstInSynSent) {
  EngineHarness h;
  // The backend port is closed: the SYN is answered by an RST; the kernel
  // then reports ECONNREFUSED on the socket (state already CLOSE).
  h.feed(rst(sec(10.000100), kUpSk1, kTcpSynSent, kBackend));
  h.feed(sock_error(sec(10.000101), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
  h.feed(make_log({.ts = sec(10.000300), .request = kReq1, .connection = 7, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(10.000400), .request = kReq1, .connection = 7, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName, 502, 0)}}));
  h.feed(make_client_response({.ts = sec(10.000500), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::gateway_error);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.pid, kWorker);
  EXPECT_EQ(r.ts_ns, sec(10.000400));
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.source, RecordSource::uprobe);
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].upstream, kBackendName);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(r.attempts[0].status, 502);
  EXPECT_EQ(r.attempts[0].ms, 0);
  ASSERT_FALSE(r.evidence.empty());
  EXPECT_EQ(r.evidence[0], "connect() to 127.0.0.1:9000 refused: nothing accepted the connection");
  EXPECT_EQ(lines_with(r, "kernel: RST in reply to SYN from 127.0.0.1:9000 (nothing listening)"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "kernel: socket error 111 (Connection refused)"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "nginx: connect() failed (111: Connection refused)"), 1) << dump(r);

  const EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.events, 5u);
  EXPECT_EQ(stats.records, 1u);
  EXPECT_EQ(stats.pending_requests, 0u);
}

TEST(EngineCause, RefusedUnixSocketMissing) {
  EngineHarness h;
  const std::string peer = "unix:/run/php.sock";
  // connect() fails synchronously with ENOENT; nginx logs it at crit.
  h.feed(make_log({.ts = sec(3), .request = kReq1, .connection = 11, .level = kLogCrit,
                   .fmt = "connect() to %V failed", .err = ENOENT, .action = kConnecting, .peer = peer,
                   .upstream_sk = kUpSk1, .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.0001), .request = kReq1, .connection = 11, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA, .states = {not_connected(peer)}}));
  h.feed(make_client_response({.ts = sec(3.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.upstream, peer);
  EXPECT_EQ(r.nginx_error,
            "connect() to unix:/run/php.sock failed (2: No such file or directory) while connecting to upstream");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].upstream, peer);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(r.evidence[0], "connect() to unix:/run/php.sock refused: nothing accepted the connection");
  EXPECT_EQ(kernel_lines(r), 0) << dump(r);
}

TEST(EngineCause, RefusedUnixSocketStale) {
  EngineHarness h;
  const std::string peer = "unix:/run/stale.sock";
  // The socket file exists but nobody listens: ECONNREFUSED, logged at error.
  h.feed(make_log({.ts = sec(3), .request = kReq1, .connection = 12, .fmt = "connect() to %V failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = peer, .upstream_sk = kUpSk1,
                   .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.0001), .request = kReq1, .connection = 12, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA, .states = {not_connected(peer)}}));
  h.feed(make_client_response({.ts = sec(3.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].upstream, peer);
  EXPECT_EQ(h.records()[0].nginx_error,
            "connect() to unix:/run/stale.sock failed (111: Connection refused) while connecting to upstream");
}

TEST(EngineCause, BacklogFullUnixSocketEagain) {
  EngineHarness h;
  const std::string peer = "unix:/run/busy.sock";
  h.feed(make_log({.ts = sec(3), .request = kReq1, .connection = 13, .fmt = "connect() to %V failed",
                   .err = EAGAIN, .action = kConnecting, .peer = peer, .upstream_sk = kUpSk1,
                   .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.0001), .request = kReq1, .connection = 13, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA, .states = {not_connected(peer)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::backlog_full) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].evidence[0], "the listen queue of unix:/run/busy.sock was full");
}

TEST(EngineCause, UnreachableHost) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(3), .request = kReq1, .connection = 14, .fmt = "connect() failed",
                   .err = EHOSTUNREACH, .action = kConnecting, .peer = "10.9.9.9:80", .upstream_sk = kUpSk1,
                   .upstream = ipv4("10.9.9.9", 80), .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.0001), .request = kReq1, .connection = 14, .client_sk = kClientSk1,
                          .status = 502, .peer = "10.9.9.9:80", .client = kClientA,
                          .states = {not_connected("10.9.9.9:80")}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::unreachable) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].evidence[0], "10.9.9.9:80 is unreachable");
}

TEST(EngineCause, ResetByUpstream) {
  EngineHarness h;
  // Connected, request sent; the backend answers with an RST.
  h.feed(rst(sec(20.002), kUpSk1, kTcpEstablished, kBackend));
  h.feed(sock_error(sec(20.0020005), kUpSk1, ECONNRESET, kTcpClose, kBackend));
  h.feed(make_log({.ts = sec(20.0021), .request = kReq1, .connection = 8, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(20.0022), .request = kReq1, .connection = 8, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 2)}}));
  h.feed(make_client_response({.ts = sec(20.0023), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::reset) << dump(r);
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 reset the connection before a full response header");
  EXPECT_EQ(r.nginx_error, "recv() failed (104: Connection reset by peer) while reading response header from upstream");
  EXPECT_EQ(lines_with(r, "kernel: RST received from 127.0.0.1:9000 on an established connection"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "in reply to SYN"), 0) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::reset);
  EXPECT_EQ(r.attempts[0].ms, 2);
}

TEST(EngineCause, ClosedEarly) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(5), .request = kReq1, .connection = 9,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(5.0001), .request = kReq1, .connection = 9, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(5.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 closed the connection before a full response header");
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(kernel_lines(r), 0) << dump(r);
}

TEST(EngineCause, SlowBackend) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(31), .request = kReq1, .connection = 10, .fmt = "upstream timed out",
                   .err = ETIMEDOUT, .action = kReadingHeader, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(31.0001), .request = kReq1, .connection = 10, .client_sk = kClientSk1,
                          .status = 504, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 504, 1000)}}));
  h.feed(make_client_response({.ts = sec(31.0002), .sk = kClientSk1, .status = 504, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 sent no response header within proxy_read_timeout");
  EXPECT_EQ(r.nginx_error,
            "upstream timed out (110: Connection timed out) while reading response header from upstream");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].status, 504);
  EXPECT_EQ(r.attempts[0].ms, 1000);
}

TEST(EngineCause, ConnectTimeoutWithSynRetransmits) {
  EngineHarness h;
  const w5_addr silent = ipv4("10.0.0.9", 80);
  // connect() at t=40; SYN retransmitted at +1s and +3s; nginx gives up at +3.5s.
  h.feed(syn_retransmit(sec(41), kUpSk1, silent));
  h.feed(syn_retransmit(sec(43), kUpSk1, silent));
  h.feed(make_log({.ts = sec(43.5), .request = kReq1, .connection = 15, .fmt = "upstream timed out",
                   .err = ETIMEDOUT, .action = kConnecting, .peer = "10.0.0.9:80", .upstream_sk = kUpSk1,
                   .upstream = silent, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(43.5001), .request = kReq1, .connection = 15, .client_sk = kClientSk1,
                          .status = 504, .peer = "10.0.0.9:80", .client = kClientA,
                          .states = {not_connected("10.0.0.9:80", 504, 3500)}}));
  h.feed(make_client_response({.ts = sec(43.5002), .sk = kClientSk1, .status = 504, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(r.cause, Cause::connect_timeout) << dump(r);
  EXPECT_EQ(r.evidence[0], "connect() to 10.0.0.9:80 got no answer within proxy_connect_timeout");
  EXPECT_EQ(lines_with(r, "kernel: SYN to 10.0.0.9:80 retransmitted 2 time(s), no SYN-ACK"), 1) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::connect_timeout);
  EXPECT_EQ(r.attempts[0].ms, 3500);
}

TEST(EngineCause, InvalidResponseHeader) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(6), .request = kReq1, .connection = 16,
                   .fmt = R"(upstream sent invalid header: "%*s\x%02xd...")", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(6.0001), .request = kReq1, .connection = 16, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1, 57)}}));
  h.feed(make_client_response({.ts = sec(6.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::invalid_response) << dump(r);
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 answered, but nginx rejected the response header");
  EXPECT_EQ(r.nginx_error.rfind("upstream sent invalid header", 0), 0u) << r.nginx_error;
}

TEST(EngineCause, InvalidResponseTooBigHeader) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(6), .request = kReq1, .connection = 17, .fmt = "upstream sent too big header",
                   .action = kReadingHeader, .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend,
                   .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(6.0001), .request = kReq1, .connection = 17, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1, 4096)}}));
  h.feed(make_client_response({.ts = sec(6.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::invalid_response) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].nginx_error, "upstream sent too big header while reading response header from upstream");
}

TEST(EngineCause, UpstreamStatusViaHttp1StatusLine) {
  EngineHarness h;
  // The backend answers 503 itself; nginx passes it on to a plain HTTP/1.1 client.
  h.feed(make_upstream_status({.ts = sec(7), .sk = kUpSk1, .status = 503, .remote = kBackend}));
  h.feed(make_client_response({.ts = sec(7.0001), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.cause, Cause::upstream_status);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.pid, kWorker);
  EXPECT_EQ(r.ts_ns, sec(7.0001));
  EXPECT_EQ(r.source, RecordSource::kernel);
  EXPECT_TRUE(r.nginx_error.empty()) << r.nginx_error;
  ASSERT_EQ(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 answered 503 itself");
  EXPECT_EQ(r.evidence[1], "the status came in the upstream's HTTP status line; nginx passed it on");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].upstream, kBackendName);
  EXPECT_EQ(r.attempts[0].cause, Cause::upstream_status);
  EXPECT_EQ(r.attempts[0].status, 503);
  EXPECT_LT(r.attempts[0].ms, 0);
}

TEST(EngineCause, UpstreamStatusToTlsClient) {
  EngineHarness h;
  // TLS (or HTTP/2) client: the bytes after the upstream's 502 are not a readable status line.
  h.feed(make_upstream_status({.ts = sec(7), .sk = kUpSk1, .status = 502, .remote = kBackend}));
  h.feed(make_client_response({.ts = sec(7.0001), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 502);  // the upstream's status, since the client's is unreadable
  EXPECT_EQ(r.cause, Cause::upstream_status);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
}

TEST(EngineCause, NoLiveUpstreams) {
  EngineHarness h;
  // Every peer of "backend" is marked failed: nginx tries no connection at all.
  h.feed(make_log({.ts = sec(8), .request = kReq1, .connection = 18, .fmt = "no live upstreams",
                   .action = kConnecting, .peer = "backend", .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(8.0001), .request = kReq1, .connection = 18, .client_sk = kClientSk1,
                          .status = 502, .peer = "backend", .client = kClientA,
                          .states = {not_connected("backend", 502, 0)}}));
  h.feed(make_client_response({.ts = sec(8.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::no_live_upstreams) << dump(r);
  EXPECT_EQ(r.upstream, "backend");
  EXPECT_EQ(r.evidence[0], "every peer of backend was marked failed; no connection was tried");
  EXPECT_EQ(r.nginx_error, "no live upstreams while connecting to upstream");
}

TEST(EngineCause, LimitedWithoutUpstream) {
  EngineHarness h;
  // limit_req rejects the request: 503, no upstream involved.
  h.feed(make_log({.ts = sec(9), .request = kReq1, .connection = 19,
                   .fmt = R"(limiting requests, excess: %ui.%03ui by zone "%V")", .client = kClientA}));
  h.feed(make_error_page({.ts = sec(9.0001), .request = kReq1, .connection = 19, .client_sk = kClientSk1,
                          .status = 503, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response({.ts = sec(9.0002), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.cause, Cause::limited) << dump(r);
  EXPECT_EQ(r.upstream, "");
  EXPECT_TRUE(r.attempts.empty());
  EXPECT_EQ(r.evidence[0], "rejected by nginx's own limit_req / limit_conn");
  EXPECT_EQ(r.nginx_error.rfind("limiting requests, excess:", 0), 0u) << r.nginx_error;
}

TEST(EngineCause, DnsFailure) {
  EngineHarness h;
  // The resolver failed before any connection: no upstream state yet.
  h.feed(make_log({.ts = sec(9), .request = kReq1, .connection = 20, .fmt = "%V could not be resolved (%i: %s)",
                   .action = "", .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(9.0001), .request = kReq1, .connection = 20, .client_sk = kClientSk1,
                          .status = 502, .peer = "", .client = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::dns_failure) << dump(h.records()[0]);
  // A resolver that answered badly is configured: nothing says it is missing.
  EXPECT_EQ(lines_with(h.records()[0], "no resolver"), 0) << dump(h.records()[0]);
}

TEST(EngineCause, NoResolverConfiguredIsADnsFailure) {
  EngineHarness h;
  // proxy_pass http://$backend with no resolver: nginx gives up in
  // ngx_http_upstream_init_request, before it connects or records a state.
  h.feed(make_log({.ts = sec(9), .request = kReq1, .connection = 20, .fmt = "no resolver defined to resolve %V",
                   .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(9.0001), .request = kReq1, .connection = 20, .client_sk = kClientSk1,
                          .status = 502, .peer = "", .client = kClientA}));
  h.feed(make_client_response({.ts = sec(9.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::dns_failure) << dump(r);
  EXPECT_EQ(r.upstream, "");
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[0], "nginx could not resolve the upstream's host name");
  EXPECT_EQ(r.evidence[1].rfind("no resolver is configured: ", 0), 0u) << dump(r);
  EXPECT_EQ(r.nginx_error.rfind("no resolver defined to resolve ", 0), 0u) << r.nginx_error;
}

TEST(EngineCause, TlsHandshakeFailure) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(9), .request = kReq1, .connection = 21, .level = kLogCrit,
                   .fmt = "SSL_do_handshake() failed", .action = "SSL handshaking to upstream",
                   .peer = "127.0.0.1:9443", .upstream_sk = kUpSk1, .upstream = ipv4("127.0.0.1", 9443),
                   .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(9.0001), .request = kReq1, .connection = 21, .client_sk = kClientSk1,
                          .status = 502, .peer = "127.0.0.1:9443", .client = kClientA,
                          .states = {connected_no_header("127.0.0.1:9443", 502, 1, 7)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::tls_failure) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].evidence[0], "TLS handshake with 127.0.0.1:9443 failed");
}

TEST(EngineCause, FdExhaustedOnSocketFailure) {
  EngineHarness h;
  // socket() fails with EMFILE inside ngx_event_connect_peer. nginx logs at
  // alert, then finalizes with 500 without setting u->state->peer (it is set
  // only after ngx_event_connect_peer returns something other than NGX_ERROR),
  // so the state carries no peer name and no status.
  h.feed(make_log({.ts = sec(11), .request = kReq1, .connection = 22, .level = kLogAlert,
                   .fmt = "socket() failed", .err = EMFILE, .action = kConnecting, .peer = kBackendName,
                   .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(11.0001), .request = kReq1, .connection = 22, .client_sk = kClientSk1,
                          .status = 500, .peer = kBackendName, .client = kClientA,
                          .states = {State{0, 0, kUnset, kUnset, 0, 0, ""}}}));
  h.feed(make_client_response({.ts = sec(11.0002), .sk = kClientSk1, .status = 500, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.cause, Cause::fd_exhausted) << dump(r);
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.source, RecordSource::uprobe);
  EXPECT_EQ(r.evidence[0], "out of file descriptors while connecting to 127.0.0.1:9000");
  EXPECT_EQ(r.nginx_error, "socket() failed (24: Too many open files) while connecting to upstream");
}

TEST(EngineCause, Plain500IsNotAGatewayError) {
  EngineHarness h;
  // A 500 nginx makes for its own reasons (no upstream): the error page and
  // its status line on the plain HTTP client socket must give no record.
  h.feed(make_error_page({.ts = sec(12), .request = kReq1, .connection = 23, .client_sk = kClientSk1,
                          .status = 500, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response({.ts = sec(12.0001), .sk = kClientSk1, .status = 500, .remote = kClientA}));

  EXPECT_TRUE(h.records().empty()) << dump(h.records());
}

TEST(EngineCause, Plain500OnTlsClientIsNotAGatewayError) {
  EngineHarness h;
  h.feed(make_error_page({.ts = sec(12), .request = kReq1, .connection = 23, .client_sk = kClientSk1,
                          .status = 500, .has_upstream = false, .client = kClientA}));
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
}

TEST(EngineCause, Return502IsNginxsConfiguration) {
  EngineHarness h;
  // "return 502;" in the config: an error page, no log, no upstream.
  h.feed(make_error_page({.ts = sec(13), .request = kReq1, .connection = 24, .client_sk = kClientSk1,
                          .status = 502, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response({.ts = sec(13.0001), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.cause, Cause::unknown);
  EXPECT_EQ(r.upstream, "");
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.source, RecordSource::uprobe);
  EXPECT_TRUE(r.attempts.empty());
  EXPECT_TRUE(r.nginx_error.empty());
  ASSERT_EQ(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[0], "nginx's configuration produced the 502 itself (e.g. `return 502;`): no upstream was involved");
  EXPECT_EQ(r.evidence[1], "the request line (and so the location) is shown with --capture-request");
}

TEST(EngineCause, Return503NamesTheRequestAndTheUnloggedLimits) {
  EngineHarness h;
  h.feed(make_request_line(sec(13), kReq1, 24, "GET /maintenance HTTP/1.1"));
  h.feed(make_error_page({.ts = sec(13), .request = kReq1, .connection = 24, .client_sk = kClientSk1,
                          .status = 503, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response({.ts = sec(13.0001), .sk = kClientSk1, .status = 503, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::unknown);
  EXPECT_EQ(r.request, "GET /maintenance HTTP/1.1");
  ASSERT_EQ(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[0], "nginx's configuration produced the 503 itself (e.g. `return 503;`): no upstream was involved");
  EXPECT_EQ(r.evidence[1], "the location matching \"GET /maintenance HTTP/1.1\" answered so");
  EXPECT_EQ(lines_with(r, "limit_req / limit_conn answer 503 too"), 1) << dump(r);
}

TEST(EngineCause, Return502NamesItsLocation) {
  EngineHarness h;
  h.feed(make_location(sec(14), kReq1, 25, "/maintenance"));
  h.feed(make_error_page({.ts = sec(14), .request = kReq1, .connection = 25, .client_sk = kClientSk1,
                          .status = 502, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response({.ts = sec(14.0001), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::unknown);
  EXPECT_EQ(r.location, "/maintenance");
  ASSERT_EQ(r.evidence.size(), 1u) << dump(r);
  EXPECT_EQ(r.evidence[0], "nginx's configuration returned 502 in location /maintenance; no upstream was involved");
}

TEST(EngineCause, Return503NamesItsLocationAndTheRequest) {
  EngineHarness h;
  h.feed(make_request_line(sec(14), kReq1, 25, "GET /down HTTP/1.1"));
  h.feed(make_location(sec(14), kReq1, 25, "@fallback"));
  h.feed(make_error_page({.ts = sec(14), .request = kReq1, .connection = 25, .client_sk = kClientSk1,
                          .status = 503, .has_upstream = false, .client = kClientA}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.location, "@fallback");
  ASSERT_EQ(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[0], "nginx's configuration returned 503 in location @fallback; no upstream was involved");
  EXPECT_EQ(r.evidence[1], "the request was \"GET /down HTTP/1.1\"");
  EXPECT_EQ(lines_with(r, "limit_req / limit_conn answer 503 too"), 1) << dump(r);
}

// A name read through a wrong offset (control bytes, or a length that does
// not match what was read) is dropped; a long one is cut with "...". A
// location of another request is not this one's.
TEST(EngineCause, ImplausibleOrForeignLocationsAreNotShown) {
  EngineHarness h;
  h.feed(make_location(sec(15), kReq1, 26, "\x01\x02garbage"));
  h.feed(make_location(sec(15), kReq2, 27, "/other"));
  h.feed(make_error_page({.ts = sec(15), .request = kReq1, .connection = 26, .client_sk = kClientSk1,
                          .status = 502, .has_upstream = false, .client = kClientA}));
  h.feed(make_location(sec(16), kReq1, 28, "/short", 400));
  h.feed(make_error_page({.ts = sec(16), .request = kReq1, .connection = 28, .client_sk = kClientSk1,
                          .status = 502, .has_upstream = false, .client = kClientA}));
  const std::string long_name(300, 'a');
  h.feed(make_location(sec(17), kReq1, 29, long_name.substr(0, W5_LOCATION_LEN - 1), 300));
  h.feed(make_error_page({.ts = sec(17), .request = kReq1, .connection = 29, .client_sk = kClientSk1,
                          .status = 502, .has_upstream = false, .client = kClientA}));
  ASSERT_EQ(h.records().size(), 3u) << dump(h.records());
  EXPECT_EQ(h.records()[0].location, "");
  EXPECT_EQ(lines_with(h.records()[0], "produced the 502 itself"), 1) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[1].location, "");
  EXPECT_EQ(h.records()[2].location, long_name.substr(0, W5_LOCATION_LEN - 1) + "...");
}

TEST(EngineCause, UnloggedUpstreamFailureIsNotBlamedOnTheConfiguration) {
  EngineHarness h;
  // An upstream was involved (error_log above "error" hid its failure).
  h.feed(make_error_page({.ts = sec(13), .request = kReq1, .connection = 24, .client_sk = kClientSk1,
                          .status = 502, .peer = "backend", .client = kClientA}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(lines_with(h.records()[0], "configuration"), 0) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].evidence[0], "nginx answered 502; no upstream failure explains it");
}

w5_port_usage port_usage(uint64_t ts, const std::string& peer, w5_addr remote, uint32_t established,
                         uint32_t time_wait) {
  w5_port_usage e{};
  e.h = header(W5_EV_PORT_USAGE, sizeof(e), ts, kWorker, 0);
  e.remote = remote;
  e.port_low = 61000;
  e.port_high = 61003;
  e.established = established;
  e.time_wait = time_wait;
  set_str(e.peer, peer);
  return e;
}

Log no_local_port(uint64_t ts, const std::string& peer) {
  // connect() fails at once: the socket never got a remote end.
  return {.ts = ts, .request = kReq1, .connection = 26, .level = kLogCrit, .fmt = "connect() to %V failed",
          .err = EADDRNOTAVAIL, .action = kConnecting, .peer = peer, .upstream_sk = kUpSk1, .client = kClientA,
          .client_sk = kClientSk1};
}

// nginx logs the failed connect() and answers 502 for the attempt.
void feed_failed_connect(EngineHarness& h, const Log& log) {
  h.feed(make_log(log));
  h.feed(make_error_page({.ts = log.ts + msec(0.1), .request = kReq1, .connection = 26, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
}

TEST(EngineCause, PortsExhaustedWithTheNamespacesPorts) {
  EngineHarness h;
  h.feed(port_usage(sec(16), kBackendName, kBackend, 1, 3));
  feed_failed_connect(h, no_local_port(sec(16), kBackendName));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::ports_exhausted) << dump(r);
  ASSERT_GE(r.evidence.size(), 4u) << dump(r);
  EXPECT_EQ(r.evidence[0], "no free local port to connect to 127.0.0.1:9000 (EADDRNOTAVAIL)");
  EXPECT_EQ(r.evidence[1], "nginx's network namespace has local ports 61000-61003 (4) for outgoing connections "
                           "(net.ipv4.ip_local_port_range)");
  EXPECT_EQ(r.evidence[2], "4 connections to 127.0.0.1:9000 hold a local port: 1 established, 3 in TIME_WAIT, 0 in "
                           "other states");
  EXPECT_EQ(lines_with(r, "keep upstream connections alive"), 1) << dump(r);
  EXPECT_EQ(r.attempts.at(0).cause, Cause::ports_exhausted);
}

TEST(EngineCause, PortsExhaustedWithoutAUsageReadOfItsOwn) {
  EngineHarness h;
  // Read for another upstream, and for this one too long ago: neither is evidence.
  h.feed(port_usage(sec(1), kBackendName, kBackend, 4, 0));
  h.feed(port_usage(sec(16), kBackend2Name, kBackend2, 4, 0));
  feed_failed_connect(h, no_local_port(sec(16), kBackendName));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::ports_exhausted) << dump(r);
  EXPECT_EQ(lines_with(r, "local port"), 1) << dump(r);  // the headline only
}

TEST(EngineCause, RefusedIsNotPortsExhaustedWhateverThePorts) {
  EngineHarness h;
  h.feed(port_usage(sec(16), kBackendName, kBackend, 4, 0));
  Log refused = no_local_port(sec(16), kBackendName);
  refused.err = ECONNREFUSED;
  feed_failed_connect(h, refused);
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_EQ(lines_with(h.records()[0], "local port"), 0) << dump(h.records()[0]);
}

TEST(EngineCause, ProxyBindToAnAbsentAddressIsAConfigurationError) {
  EngineHarness h;
  // bind() fails inside ngx_event_connect_peer: NGX_ERROR, so nginx answers
  // 500, and sets no peer in the state.
  h.feed(make_log({.ts = sec(17), .request = kReq1, .connection = 27, .level = kLogCrit, .fmt = "bind(%V) failed",
                   .err = EADDRNOTAVAIL, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .args = {ngx_string("192.0.2.77")}}));
  h.feed(make_error_page({.ts = sec(17.0001), .request = kReq1, .connection = 27, .client_sk = kClientSk1,
                          .status = 500, .peer = kBackendName, .client = kClientA,
                          .states = {State{0, 0, kUnset, kUnset, 0, 0, ""}}}));
  h.feed(make_client_response({.ts = sec(17.0002), .sk = kClientSk1, .status = 500, .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.cause, Cause::unknown);
  EXPECT_EQ(r.evidence.at(0), "a configuration error: proxy_bind names an address this host does not have, so nginx "
                              "cannot bind its end of the upstream connection to it");
  EXPECT_EQ(r.nginx_error, "bind(192.0.2.77) failed (99: Cannot assign requested address) while connecting to upstream");
}

TEST(EngineCause, UnexplainedStatusLineIsReportedFromTheKernel) {
  EngineHarness h;
  // A 5xx status line with nothing from nginx's side (its symbols unavailable).
  h.feed(make_client_response({.ts = sec(14), .sk = kClientSk1, .status = 503, .remote = kClientA}));
  // Unreadable bytes with no upstream 5xx pending are nothing.
  h.feed(make_client_response({.ts = sec(14.1), .sk = kClientSk2, .status = 0, .remote = kClientB}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.cause, Cause::unknown);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.source, RecordSource::kernel);
  EXPECT_EQ(r.evidence[0], "nginx answered 503; no upstream failure explains it");
}

TEST(EngineCause, TemporarilyDisabledWarningIsEvidenceOnly) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(15), .request = kReq1, .connection = 25, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(15.00001), .request = kReq1, .connection = 25, .level = kLogWarn,
                   .fmt = "upstream server temporarily disabled", .action = kConnecting, .peer = kBackendName,
                   .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(15.0001), .request = kReq1, .connection = 25, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  EXPECT_EQ(lines_with(r, "nginx: upstream server temporarily disabled while connecting to upstream (127.0.0.1:9000)"),
            1)
      << dump(r);
}

// ---------------------------------------------------------------------------
// Several requests at once.

TEST(EngineConcurrency, InterleavedRequestsOnOneWorker) {
  EngineHarness h;
  // Request 1 (client A) is refused by :9000 while request 2 (client B) is
  // reset by :9001; their log lines and error pages interleave.
  h.feed(make_log({.ts = sec(50.001), .request = kReq1, .connection = 101, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(50.002), .request = kReq2, .connection = 102, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk2,
                   .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(50.003), .request = kReq2, .connection = 102, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(50.004), .request = kReq1, .connection = 101, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(50.005), .sk = kClientSk2, .status = 502, .remote = kClientB}));
  h.feed(make_client_response({.ts = sec(50.006), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  const Record& second = h.records()[0];
  const Record& first = h.records()[1];
  EXPECT_EQ(second.cause, Cause::reset) << dump(second);
  EXPECT_EQ(second.client, "192.0.2.20:52000");
  EXPECT_EQ(second.upstream, kBackend2Name);
  EXPECT_EQ(second.attempts.size(), 1u);
  EXPECT_EQ(first.cause, Cause::refused) << dump(first);
  EXPECT_EQ(first.client, "192.0.2.10:51000");
  EXPECT_EQ(first.upstream, kBackendName);
  EXPECT_EQ(first.attempts.size(), 1u);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineConcurrency, TwoWorkersWithTheSameRequestPointerDontMix) {
  EngineHarness h;
  constexpr uint32_t kWorker1 = 1001;
  constexpr uint32_t kWorker2 = 1002;
  // Same address space layout in both workers: same request pointer and, to
  // make it harder, the same connection number.
  h.feed(make_log({.ts = sec(60.001), .pid = kWorker1, .request = kReq1, .connection = 5,
                   .fmt = "connect() failed", .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName,
                   .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(60.002), .pid = kWorker2, .request = kReq1, .connection = 5,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackend2Name, .upstream_sk = kUpSk2, .upstream = kBackend2, .client = kClientB, .client_sk = kClientSk2}));
  h.feed(make_error_page({.ts = sec(60.003), .pid = kWorker2, .request = kReq1, .connection = 5,
                          .client_sk = kClientSk2, .status = 502, .peer = kBackend2Name, .client = kClientB,
                          .states = {connected_no_header(kBackend2Name, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(60.004), .pid = kWorker1, .request = kReq1, .connection = 5,
                          .client_sk = kClientSk1, .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(60.005), .pid = kWorker2, .sk = kClientSk2, .status = 502,
                               .remote = kClientB}));
  h.feed(make_client_response({.ts = sec(60.006), .pid = kWorker1, .sk = kClientSk1, .status = 502,
                               .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  const Record& w2 = h.records()[0];
  const Record& w1 = h.records()[1];
  EXPECT_EQ(w2.pid, kWorker2);
  EXPECT_EQ(w2.cause, Cause::closed_early) << dump(w2);
  EXPECT_EQ(w2.client, "192.0.2.20:52000");
  EXPECT_EQ(w2.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  ASSERT_EQ(w2.attempts.size(), 1u);
  EXPECT_EQ(w1.pid, kWorker1);
  EXPECT_EQ(w1.cause, Cause::refused) << dump(w1);
  EXPECT_EQ(w1.client, "192.0.2.10:51000");
  EXPECT_EQ(w1.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  ASSERT_EQ(w1.attempts.size(), 1u);
}

TEST(EngineConcurrency, KeepaliveClientWithSeveralErrorsInARow) {
  EngineHarness h;
  // One keepalive client connection (same socket, same connection number and,
  // as nginx's allocator likes it, the same request pointer) gets three
  // gateway errors in a row. Each status line echoes one error page.
  struct Step {
    const char* fmt;
    int err;
    const char* action;
    uint32_t status;
    State state;
    Cause cause;
  };
  const Step steps[] = {
      {"connect() failed", ECONNREFUSED, kConnecting, 502, not_connected(kBackendName), Cause::refused},
      {"recv() failed", ECONNRESET, kReadingHeader, 502, connected_no_header(kBackendName, 502, 1), Cause::reset},
      {"upstream timed out", ETIMEDOUT, kReadingHeader, 504, connected_no_header(kBackendName, 504, 1000),
       Cause::slow_backend},
  };
  double t = 70;
  for (const Step& s : steps) {
    h.feed(make_log({.ts = sec(t), .request = kReq1, .connection = 33, .fmt = s.fmt, .err = s.err,
                     .action = s.action, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
    h.feed(make_error_page({.ts = sec(t + 0.0001), .request = kReq1, .connection = 33, .client_sk = kClientSk1,
                            .status = s.status, .peer = kBackendName, .client = kClientA, .states = {s.state}}));
    h.feed(make_client_response({.ts = sec(t + 0.0002), .sk = kClientSk1, .status = s.status, .remote = kClientA}));
    t += 2;
  }
  ASSERT_EQ(h.records().size(), 3u) << dump(h.records());
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(h.records()[i].cause, steps[i].cause) << i << ": " << dump(h.records()[i]);
    EXPECT_EQ(h.records()[i].status, static_cast<int>(steps[i].status)) << i;
    EXPECT_EQ(h.records()[i].attempts.size(), 1u) << i << ": " << dump(h.records()[i]);
    EXPECT_EQ(h.records()[i].source, RecordSource::uprobe);
  }
  // Every echo was consumed exactly once: a further 502 status line with
  // nothing from nginx behind it is a record of its own.
  h.feed(make_client_response({.ts = sec(t), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 4u) << dump(h.records());
  EXPECT_EQ(h.records()[3].cause, Cause::unknown);
  EXPECT_EQ(h.records()[3].source, RecordSource::kernel);
}

TEST(EngineConcurrency, TlsErrorPageThenUpstream5xxOnTheSameConnection) {
  EngineHarness h;
  // Request 1 on a TLS client connection: refused, error page; its status
  // line is encrypted, so the client response event after it says status 0.
  h.feed(make_log({.ts = sec(80), .request = kReq1, .connection = 40, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(80.0001), .request = kReq1, .connection = 40, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(80.0002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  // Request 2 on the same connection: the backend answers 502 itself.
  h.feed(make_upstream_status({.ts = sec(81), .sk = kUpSk2, .status = 502, .remote = kBackend2}));
  h.feed(make_client_response({.ts = sec(81.0001), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_EQ(h.records()[0].source, RecordSource::uprobe);
  EXPECT_EQ(h.records()[1].cause, Cause::upstream_status);
  EXPECT_EQ(h.records()[1].upstream, kBackend2Name);
  EXPECT_EQ(h.records()[1].client, "192.0.2.10:51000");
  EXPECT_EQ(h.records()[1].status, 502);
}

TEST(EngineConcurrency, StaleTlsErrorPageExpectationDoesNotSwallowALaterStatusLine) {
  EngineHarness h;
  // A TLS client gets an error page (no status line is ever seen for it) and
  // goes away. Two seconds later the kernel hands the same sock address to a
  // plain HTTP/1.1 client, whose request the backend answers 503 itself.
  h.feed(make_log({.ts = sec(90), .request = kReq1, .connection = 41, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(90.0001), .request = kReq1, .connection = 41, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(90.0002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  h.feed(make_upstream_status({.ts = sec(92), .sk = kUpSk2, .status = 503, .remote = kBackend2}));
  h.feed(make_client_response({.ts = sec(92.0001), .sk = kClientSk1, .status = 503, .remote = kClientB}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[1].cause, Cause::upstream_status) << dump(h.records()[1]);
  EXPECT_EQ(h.records()[1].status, 503);
  EXPECT_EQ(h.records()[1].client, "192.0.2.20:52000");
}

// ---------------------------------------------------------------------------
// Retries and reuse of identities.

TEST(EngineAttempts, RetryRefusedThenResetKeepsBothAttempts) {
  EngineHarness h;
  // Peer :9000 refuses; nginx retries on :9001, which resets the connection.
  h.feed(rst(sec(100.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(sock_error(sec(100.00011), kUpSk1, ECONNREFUSED, kTcpClose, kBackend));
  h.feed(make_log({.ts = sec(100.0002), .request = kReq1, .connection = 50, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(rst(sec(100.004), kUpSk2, kTcpEstablished, kBackend2));
  h.feed(sock_error(sec(100.0040001), kUpSk2, ECONNRESET, kTcpClose, kBackend2));
  h.feed(make_log({.ts = sec(100.0041), .request = kReq1, .connection = 50, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .upstream_sk = kUpSk2,
                   .upstream = kBackend2, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(100.0042), .request = kReq1, .connection = 50, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackend2Name, .client = kClientA,
                          .states = {not_connected(kBackendName, 502, 0),
                                     connected_no_header(kBackend2Name, 502, 4)}}));
  h.feed(make_client_response({.ts = sec(100.0043), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::reset) << dump(r);
  EXPECT_EQ(r.upstream, kBackend2Name);
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].upstream, kBackendName);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(r.attempts[0].status, 502);
  EXPECT_EQ(r.attempts[0].ms, 0);
  EXPECT_EQ(r.attempts[1].upstream, kBackend2Name);
  EXPECT_EQ(r.attempts[1].cause, Cause::reset);
  EXPECT_EQ(r.attempts[1].ms, 4);
  EXPECT_EQ(r.nginx_error, "recv() failed (104: Connection reset by peer) while reading response header from upstream");
  EXPECT_EQ(lines_with_all(r, {"attempt 1", "127.0.0.1:9000 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 2", "127.0.0.1:9001 reset"}), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "kernel: RST received from 127.0.0.1:9001 on an established connection"), 1) << dump(r);
}

TEST(EngineAttempts, MoreAttemptsThanTheEventCarries) {
  EngineHarness h;
  // Five peers refused; the event carries the last W5_MAX_STATES states.
  std::vector<State> states;
  for (int i = 0; i < 5; ++i) {
    const std::string peer = "127.0.0.1:" + std::to_string(9000 + i);
    h.feed(make_log({.ts = sec(110 + i * 0.001), .request = kReq1, .connection = 51, .fmt = "connect() failed",
                     .err = ECONNREFUSED, .action = kConnecting, .peer = peer, .client = kClientA, .client_sk = kClientSk1}));
    states.push_back(not_connected(peer, 502, i));
  }
  h.feed(make_error_page({.ts = sec(110.01), .request = kReq1, .connection = 51, .client_sk = kClientSk1,
                          .status = 502, .peer = "127.0.0.1:9004", .client = kClientA, .states = states,
                          .n_states = 5}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  ASSERT_EQ(r.attempts.size(), 4u) << dump(r);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(r.attempts[i].upstream, "127.0.0.1:" + std::to_string(9001 + i)) << dump(r);
    EXPECT_EQ(r.attempts[i].cause, Cause::refused);
    EXPECT_EQ(r.attempts[i].ms, 1 + i);
  }
  EXPECT_EQ(r.cause, Cause::refused);
  EXPECT_EQ(r.upstream, "127.0.0.1:9004");
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  // The evidence still says how many attempts there were in all.
  EXPECT_EQ(lines_with_all(r, {"attempt 5 of 5", "127.0.0.1:9004 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 2 of 5", "127.0.0.1:9001 refused"}), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "127.0.0.1:9000 refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedAfterAFailedRequest) {
  EngineHarness h;
  // Request 1 is refused and answered 502; request 2, same keepalive
  // connection and the same ngx_http_request_t address, is closed early.
  h.feed(make_log({.ts = sec(120), .request = kReq1, .connection = 60, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(120.0001), .request = kReq1, .connection = 60, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  h.feed(make_client_response({.ts = sec(120.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  h.feed(make_log({.ts = sec(121), .request = kReq1, .connection = 60,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(121.0001), .request = kReq1, .connection = 60, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(121.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  const Record& r = h.records()[1];
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::closed_early);
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedAfterARequestThatSucceededOnRetry) {
  EngineHarness h;
  // Request 1: :9000 refuses (nginx logs it), the retry on :9001 succeeds:
  // no error page; the first response on that client after the failure is
  // reported anyway (a readable 200 here). Request 2 on the same keepalive
  // connection gets the same ngx_http_request_t address; :9000 accepts it
  // and closes early.
  h.feed(make_log({.ts = sec(130), .request = kReq1, .connection = 61, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_client_response({.ts = sec(130.002), .sk = kClientSk1, .status = 200, .remote = kClientA}));
  h.feed(make_log({.ts = sec(131), .request = kReq1, .connection = 61,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(131.0001), .request = kReq1, .connection = 61, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(131.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(h.records()[0].type, RecordType::retried);
  const Record& r = h.records()[1];
  EXPECT_EQ(r.type, RecordType::gateway_error);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedOnTlsAfterARequestThatSucceededOnRetry) {
  EngineHarness h;
  // As above on a TLS client: the 200 after the retry is unreadable (status
  // 0), so request 1's logged failure stays pending under the same key.
  h.feed(make_log({.ts = sec(132), .request = kReq1, .connection = 63, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_client_response({.ts = sec(132.002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  h.feed(make_log({.ts = sec(133), .request = kReq1, .connection = 63,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(133.0001), .request = kReq1, .connection = 63, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(133.0002), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RequestPointerReusedOnTlsThenInterceptedUpstream5xxDoesNotInheritAnOldFailure) {
  EngineHarness h;
  // Request 1 on a TLS client: :9000 refuses (logged), the retry on :9001
  // succeeds; its 200 is unreadable. Request 2, same connection and request
  // address, 4 s later: :9000 is back and answers 502 itself;
  // proxy_intercept_errors with "error_page 502 /50x.html" makes nginx build
  // its own page. nginx logs nothing for request 2.
  h.feed(make_log({.ts = sec(135), .request = kReq1, .connection = 62, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_client_response({.ts = sec(135.002), .sk = kClientSk1, .status = 0, .remote = kClientA}));
  h.feed(make_upstream_status({.ts = sec(139.003), .sk = kUpSk1, .status = 502, .remote = kBackend}));
  h.feed(make_error_page({.ts = sec(139.0031), .request = kReq1, .connection = 62, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {State{502, 3, 1, 3, 150, 180, kBackendName}}}));
  h.feed(make_client_response({.ts = sec(139.0032), .sk = kClientSk1, .status = 0, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::upstream_status) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::upstream_status) << dump(r);
  EXPECT_TRUE(r.nginx_error.empty()) << r.nginx_error;
  EXPECT_EQ(lines_with(r, "Connection refused"), 0) << dump(r);
}

TEST(EngineAttempts, RetriedFailureTheClientNeverSawIsReportedAsRetried) {
  EngineHarness h;
  h.feed(rst(sec(137.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(make_log({.ts = sec(137.0002), .request = kReq1, .connection = 64, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  // The retry on :9001 works; the client gets a readable 200.
  h.feed(make_client_response({.ts = sec(137.003), .sk = kClientSk1, .status = 200, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::retried);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.cause, Cause::refused);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.nginx_error, "connect() failed (111: Connection refused) while connecting to upstream");
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().retried, 1u);
  // The failure is reported once: the next response on that connection is nothing.
  h.feed(make_client_response({.ts = sec(138), .sk = kClientSk1, .status = 200, .remote = kClientA}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
}

TEST(EngineAttempts, ResponseCutOffAfterTheHeaderIsTruncated) {
  EngineHarness h;
  // The header (a 200) was already sent when the backend closed mid-body.
  h.feed(make_log({.ts = sec(138.5), .request = kReq1, .connection = 65,
                   .fmt = "upstream prematurely closed connection", .action = "reading upstream",
                   .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::truncated);
  EXPECT_EQ(r.cause, Cause::closed_early);
  EXPECT_EQ(r.client, "192.0.2.10:51000");
  EXPECT_EQ(r.upstream, kBackendName);
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading upstream");
  EXPECT_EQ(h.engine().stats().truncated, 1u);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

// ---------------------------------------------------------------------------
// Kernel evidence on reused socket addresses.

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

// ---------------------------------------------------------------------------
// nginx's error_log set above "error": only r->upstream_states is left.

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

// ---------------------------------------------------------------------------
// Addresses as nginx writes them.

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

// ---------------------------------------------------------------------------
// The process at the other end died: fatal signals and the sockets held.

const w5_addr kNginxEnd = ipv4("127.0.0.1", 40000);  // nginx's end of its upstream connection

// The backend's end of nginx's connection, and its inherited listener.
std::vector<w5_held_socket> backend_sockets() {
  return {held(kTcpEstablished, kBackend, kNginxEnd), held(kHeldListen, ipv4("0.0.0.0", 9000))};
}

TEST(EngineBackendDeath, CrashWhileHoldingTheConnection) {
  EngineHarness h;
  // The gunicorn worker holding nginx's connection segfaults; the kernel
  // closes its sockets and nginx sees the connection closed early.
  h.feed(make_signal({.ts = sec(300.010), .sender = 3001, .sender_comm = "gunicorn", .sig = 11, .code = 1,
                      .target = 3001, .target_parent = 3000, .target_comm = "gunicorn",
                      .sockets = backend_sockets()}));
  h.feed(make_death(sec(300.011), 3001, 11, "gunicorn"));
  h.feed(make_log({.ts = sec(300.012), .request = kReq1, .connection = 95,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                   .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(300.0121), .request = kReq1, .connection = 95, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 12)}}));
  h.feed(make_client_response({.ts = sec(300.0122), .sk = kClientSk1, .status = 502, .remote = kClientA}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::backend_crashed) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::backend_crashed);
  EXPECT_EQ(r.evidence[0], "the backend process behind 127.0.0.1:9000 died");
  EXPECT_EQ(lines_with_all(r, {"pid 3001 (gunicorn)", "SIGSEGV", "from the kernel"}), 1) << dump(r);
  // nginx's own words are still there.
  EXPECT_EQ(r.nginx_error, "upstream prematurely closed connection while reading response header from upstream");
}

// The kernel SIGKILLs the backend holding nginx's connection (as the OOM
// killer does), marked as an OOM kill or not, and nginx reads a reset.
Record backend_killed_by_the_kernel(bool oom_mark_seen) {
  EngineHarness h;
  h.feed(make_signal({.ts = sec(301.5), .sender = 2500, .sender_comm = "python3", .sig = 9, .code = 128,
                      .target = 3002, .target_parent = 3000, .target_comm = "gunicorn",
                      .sockets = backend_sockets()}));
  if (oom_mark_seen) h.feed(make_oom_victim(sec(301.5000001), 3002));
  h.feed(rst(sec(301.501), kUpSk1, kTcpEstablished, kBackend));
  h.feed(make_log({.ts = sec(301.502), .request = kReq1, .connection = 96, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(301.5021), .request = kReq1, .connection = 96, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 900)}}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
  return h.records().empty() ? Record{} : h.records()[0];
}

TEST(EngineBackendDeath, OomKilledBackendResetTheConnection) {
  const Record r = backend_killed_by_the_kernel(/*oom_mark_seen=*/true);
  EXPECT_EQ(r.cause, Cause::backend_crashed) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"pid 3002 (gunicorn)", "OOM killer"}), 1) << dump(r);
}

TEST(EngineBackendDeath, KernelSigkillWithoutAnOomMarkClaimsNoFault) {
  // As when the OOM probe could not attach: not a fault, and not an OOM kill.
  const Record r = backend_killed_by_the_kernel(/*oom_mark_seen=*/false);
  EXPECT_EQ(r.cause, Cause::backend_crashed) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"pid 3002 (gunicorn)", "SIGKILL from the kernel, not from a process"}), 1) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"fault"}), 0) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"OOM killer"}), 1) << dump(r);  // only as what kills this way
  EXPECT_EQ(lines_with_all(r, {"was killed by the OOM killer"}), 0) << dump(r);
}

TEST(EngineBackendDeath, SupervisorKillingASlowWorkerIsASlowBackend) {
  EngineHarness h;
  // gunicorn's master SIGKILLs a worker stuck past its timeout.
  h.feed(make_signal({.ts = sec(330), .sender = 3000, .sender_comm = "gunicorn", .sig = 9, .code = 0,
                      .target = 3003, .target_parent = 3000, .target_comm = "gunicorn",
                      .sockets = backend_sockets()}));
  h.feed(make_log({.ts = sec(330.001), .request = kReq1, .connection = 97,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                   .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(330.0011), .request = kReq1, .connection = 97, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 30001)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"supervisor", "pid 3003 (gunicorn)", "pid 3000 (gunicorn)"}), 1) << dump(r);
  // nginx did not time out: the headline says what happened instead.
  ASSERT_FALSE(r.evidence.empty());
  EXPECT_EQ(r.evidence[0],
            "the backend behind 127.0.0.1:9000 was killed by its supervisor for taking too long; nginx saw the "
            "connection end")
      << dump(r);
  EXPECT_EQ(lines_with(r, "within proxy_read_timeout"), 0) << dump(r);
}

// Found by fuzzing (event_decoder): the attempt's duration comes from nginx's
// memory and may be any value; a huge one overflowed the conversion to a time
// window (undefined behaviour: built with g++ the window became 0 and the kill
// was missed) and the printed duration (it became negative).
TEST(EngineBackendDeath, AnyDurationNginxRecordsStillFindsTheKill) {
  EngineHarness h;
  h.feed(make_signal({.ts = sec(330), .sender = 3000, .sender_comm = "gunicorn", .sig = 9, .code = 0,
                      .target = 3003, .target_parent = 3000, .target_comm = "gunicorn",
                      .sockets = backend_sockets()}));
  h.feed(make_log({.ts = sec(330.001), .request = kReq1, .connection = 97,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                   .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(330.0011), .request = kReq1, .connection = 97, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1ull << 63)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  EXPECT_EQ(lines_with(r, "after nginx had waited 9223372036854775808 ms"), 1) << dump(r);
}

TEST(AttemptWindow, SaturatesInsteadOfOverflowing) {
  EXPECT_EQ(attempt_window_ns(1.5, 1000, 7), 1'001'500'000u);
  EXPECT_EQ(attempt_window_ns(-1, 1000, 7), 7u);
  EXPECT_EQ(attempt_window_ns(18446744073709551615.0, 2000, 7), UINT64_MAX);
  EXPECT_EQ(attempt_window_ns(1e300, 2000, 7), UINT64_MAX);
}

TEST(EngineBackendDeath, RefusedBecauseTheListenerWasKilledEarlier) {
  EngineHarness h;
  h.feed(make_signal({.ts = sec(310), .sender = 777, .sender_comm = "kill", .sig = 9, .code = 0, .target = 4000,
                      .target_parent = 1, .target_comm = "uvicorn",
                      .sockets = {held(kHeldListen, ipv4("127.0.0.1", 9000))}}));
  h.feed(make_death(sec(310.001), 4000, 9, "uvicorn"));
  h.feed(rst(sec(313.0001), kUpSk1, kTcpSynSent, kBackend));
  h.feed(make_log({.ts = sec(313.0002), .request = kReq1, .connection = 98, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(313.0003), .request = kReq1, .connection = 98, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"was stopped 3.0 s earlier", "pid 4000 (uvicorn)", "SIGKILL", "pid 777 (kill)"}), 1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "kernel: RST in reply to SYN"), 1) << dump(r);
}

TEST(EngineBackendDeath, AnotherBackendsDeathChangesNothing) {
  EngineHarness h;
  // A process serving :9001 dies; nginx's failure is on :9000.
  h.feed(make_signal({.ts = sec(320), .sender = 5000, .sender_comm = "app", .sig = 11, .code = 1, .target = 5000,
                      .target_parent = 1, .target_comm = "app",
                      .sockets = {held(kTcpEstablished, kBackend2, ipv4("127.0.0.1", 40001)),
                                  held(kHeldListen, ipv4("0.0.0.0", 9001))}}));
  h.feed(make_log({.ts = sec(320.001), .request = kReq1, .connection = 99,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                   .client_sk = kClientSk1, .upstream_local = kNginxEnd}));
  h.feed(make_error_page({.ts = sec(320.0011), .request = kReq1, .connection = 99, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 5)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::closed_early) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[0], "pid 5000"), 0) << dump(h.records()[0]);
}

TEST(EngineBackendDeath, UnixSocketBackendCrash) {
  EngineHarness h;
  const std::string peer = "unix:/run/php.sock";
  // php-fpm's child holds the accepted unix connection (named by the listener's path).
  h.feed(make_signal({.ts = sec(340), .sender = 6001, .sender_comm = "php-fpm", .sig = 11, .code = 1,
                      .target = 6001, .target_parent = 6000, .target_comm = "php-fpm",
                      .sockets = {held(kTcpEstablished, unix_sock(), {}, "/run/php.sock")}}));
  h.feed(make_log({.ts = sec(340.001), .request = kReq1, .connection = 100,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader, .peer = peer,
                   .upstream_sk = kUpSk1, .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1,
                   .upstream_local = unix_sock()}));
  h.feed(make_error_page({.ts = sec(340.0011), .request = kReq1, .connection = 100, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA,
                          .states = {connected_no_header(peer, 502, 3)}}));

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::backend_crashed) << dump(h.records()[0]);
  EXPECT_EQ(lines_with_all(h.records()[0], {"pid 6001 (php-fpm)", "SIGSEGV"}), 1) << dump(h.records()[0]);
}

// php-fpm's master stops children past request_terminate_timeout with
// SIGTERM; every child holds the pool's listener and each connection it
// accepted carries the listener's path. Two requests in a row, one child each:
// the second request's record names its own child, not the one killed for the
// first request a moment before (the unix peer tells their connections apart).
void feed_fpm_kill(EngineHarness& h, double at, uint32_t child, uint64_t nginx_sk, uint64_t request,
                   uint64_t connection, uint64_t client_sk, const w5_addr& client, uint64_t waited_ms) {
  const std::string peer = "unix:/run/php.sock";
  h.feed(make_signal({.ts = sec(at), .sender = 6000, .sender_comm = "php-fpm", .sig = 15, .code = 0,
                      .target = child, .target_parent = 6000, .target_comm = "php-fpm",
                      .sockets = {held(kHeldListen, unix_sock(), {}, "/run/php.sock"),
                                  held(kTcpEstablished, unix_sock(), unix_peer(nginx_sk), "/run/php.sock")}}));
  // PHP's signal handler raises SIGTERM again, itself.
  h.feed(make_signal({.ts = sec(at + 0.0001), .sender = child, .sender_comm = "php-fpm", .sig = 15, .code = 0,
                      .target = child, .target_parent = 6000, .target_comm = "php-fpm",
                      .sockets = {held(kHeldListen, unix_sock(), {}, "/run/php.sock"),
                                  held(kTcpEstablished, unix_sock(), unix_peer(nginx_sk), "/run/php.sock")}}));
  h.feed(make_log({.ts = sec(at + 0.001), .request = request, .connection = connection, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = peer, .upstream_sk = nginx_sk,
                   .upstream = unix_sock(), .client = client, .client_sk = client_sk, .upstream_local = unix_sock()}));
  h.feed(make_error_page({.ts = sec(at + 0.0011), .request = request, .connection = connection,
                          .client_sk = client_sk, .status = 502, .peer = peer, .client = client,
                          .states = {connected_no_header(peer, 502, waited_ms)}}));
}

TEST(EngineBackendDeath, PhpFpmKillsTwoRequestsInARowEachNamesItsChild) {
  EngineHarness h;
  feed_fpm_kill(h, 400, 6001, kUpSk1, kReq1, 101, kClientSk1, kClientA, 1140);
  // The second request waited in the listener's queue while 6001 was killed.
  feed_fpm_kill(h, 401.3, 6002, kUpSk2, kReq2, 102, kClientSk2, kClientB, 2440);
  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  for (size_t i = 0; i < 2; ++i) {
    const Record& r = h.records()[i];
    const std::string child = i == 0 ? "pid 6001 (php-fpm)" : "pid 6002 (php-fpm)";
    const std::string other = i == 0 ? "pid 6002" : "pid 6001";
    EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
    EXPECT_EQ(lines_with_all(r, {"stopped by its supervisor", child, "SIGTERM from pid 6000 (php-fpm), its parent"}),
              1)
        << dump(r);
    EXPECT_EQ(lines_with(r, other), 0) << dump(r);
  }
}

// The second request's nginx socket got the first one's freed address: the
// earlier child held "the" connection too, but the latest kill is this one's.
TEST(EngineBackendDeath, PhpFpmKillOfTheChildBeforeASocketAddressReuseIsNotTheNextRequests) {
  EngineHarness h;
  feed_fpm_kill(h, 400, 6001, kUpSk1, kReq1, 101, kClientSk1, kClientA, 1140);
  feed_fpm_kill(h, 401.3, 6002, kUpSk1, kReq2, 102, kClientSk2, kClientB, 2440);
  ASSERT_EQ(h.records().size(), 2u) << dump(h.records());
  EXPECT_EQ(lines_with(h.records()[1], "pid 6002 (php-fpm)"), 1) << dump(h.records()[1]);
  EXPECT_EQ(lines_with(h.records()[1], "pid 6001"), 0) << dump(h.records()[1]);
}

// A child killed holding another client's connection, and not the listener:
// not this request's death.
TEST(EngineBackendDeath, UnixConnectionOfAnotherClientIsNotTheDeath) {
  EngineHarness h;
  const std::string peer = "unix:/run/php.sock";
  h.feed(make_signal({.ts = sec(420), .sender = 6000, .sender_comm = "php-fpm", .sig = 15, .code = 0,
                      .target = 6003, .target_parent = 6000, .target_comm = "php-fpm",
                      .sockets = {held(kTcpEstablished, unix_sock(), unix_peer(kUpSk2), "/run/php.sock")}}));
  h.feed(make_log({.ts = sec(420.001), .request = kReq1, .connection = 103, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = peer, .upstream_sk = kUpSk1,
                   .upstream = unix_sock(), .client = kClientA, .client_sk = kClientSk1,
                   .upstream_local = unix_sock()}));
  h.feed(make_error_page({.ts = sec(420.0011), .request = kReq1, .connection = 103, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA,
                          .states = {connected_no_header(peer, 502, 900)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[0], "pid 6003"), 0) << dump(h.records()[0]);
}

// ---------------------------------------------------------------------------
// Kernel-only view: nginx without usable symbols, so no uprobe events.

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

// ---------------------------------------------------------------------------
// Bounds, expiry and robustness.

TEST(EngineBounds, PendingRequestsAreBoundedOldestFirst) {
  EngineOptions options;
  options.max_pending_requests = 2;
  EngineHarness h(options);
  const uint64_t requests[] = {0x1000, 0x2000, 0x3000};
  // Three connections open at once: three client sockets.
  for (int i = 0; i < 3; ++i)
    h.feed(make_log({.ts = sec(300 + i * 0.1), .request = requests[i], .connection = 1u + i,
                     .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                     .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1 + 0x1000u * i}));
  EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, 2u);
  EXPECT_EQ(stats.evicted_requests, 1u);

  // The oldest request lost its log line; the newest kept it.
  h.feed(make_error_page({.ts = sec(300.5), .request = 0x1000, .connection = 1, .status = 502,
                          .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_error_page({.ts = sec(300.6), .request = 0x3000, .connection = 3, .status = 502,
                          .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
}

TEST(EngineBounds, PendingRequestsExpire) {
  EngineOptions options;
  options.request_max_age_ns = sec(5);
  EngineHarness h(options);
  h.feed(make_log({.ts = sec(400), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(403), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);  // 3 s old: kept
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(410), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);  // 10 s old: gone
}

// The table's order: least recently touched first, kept through the map's own nodes.
TEST(AgeOrderedMap, OldestIsTheLeastRecentlyTouched) {
  AgeOrderedMap<int, std::string> map;
  EXPECT_EQ(map.oldest_key(), nullptr);
  for (int k : {1, 2, 3}) map.touch(k).value = std::to_string(k);
  ASSERT_NE(map.oldest_key(), nullptr);
  EXPECT_EQ(*map.oldest_key(), 1);
  EXPECT_FALSE(map.touch(1).created);  // 1 is the newest now
  EXPECT_EQ(*map.oldest_key(), 2);
  EXPECT_TRUE(map.erase(3));  // from the middle
  EXPECT_FALSE(map.erase(3));
  EXPECT_TRUE(map.erase(2));
  EXPECT_EQ(*map.oldest_key(), 1);
  EXPECT_EQ(*map.oldest_value(), "1");
  AgeOrderedMap<int, std::string> moved(std::move(map));
  EXPECT_EQ(map.oldest_key(), nullptr);  // NOLINT(bugprone-use-after-move): a moved map is empty
  EXPECT_EQ(moved.size(), 1u);
  EXPECT_TRUE(moved.erase(1));
  EXPECT_EQ(moved.oldest_key(), nullptr);
  EXPECT_TRUE(moved.empty());
}

// No client echo to wait for (as with --lean): each record comes out at once, in order.
EngineOptions lean() { return EngineOptions{.client_echo_expected = false}; }

// A failed attempt of request i (its own address, connection and client
// socket, as for requests all in flight at once).
w5_ngx_log nth_failure(uint64_t i, uint64_t ts) {
  return make_log({.ts = ts, .request = 0x55d0c0000000 + 0x1000 * i, .connection = 1000 + i,
                   .fmt = "upstream prematurely closed connection", .action = kReadingHeader,
                   .peer = kBackendName, .client = kClientA, .client_sk = 0xffff888200000000 + 0x800 * i});
}

// Its error page; the attempt took up to a minute, so any failure logged
// in that minute is its own.
w5_ngx_error_page nth_error_page(uint64_t i, uint64_t ts) {
  return make_error_page({.ts = ts, .request = 0x55d0c0000000 + 0x1000 * i, .connection = 1000 + i,
                          .client_sk = 0xffff888200000000 + 0x800 * i, .status = 502, .peer = kBackendName,
                          .client = kClientA, .states = {connected_no_header(kBackendName, 502, 60'000)}});
}

TEST(EngineBounds, EvictionTakesTheLeastRecentlyLoggedRequest) {
  EngineOptions options = lean();
  options.max_pending_requests = 3;
  EngineHarness h(options);
  h.feed(nth_failure(0, sec(310)));
  h.feed(nth_failure(1, sec(310.1)));
  h.feed(nth_failure(2, sec(310.2)));
  h.feed(nth_failure(0, sec(310.3)));  // request 0 logs again (a second attempt): the newest now
  h.feed(nth_failure(3, sec(310.4)));  // full: request 1 goes
  EXPECT_EQ(h.engine().stats().pending_requests, 3u);
  EXPECT_EQ(h.engine().stats().evicted_requests, 1u);
  for (uint64_t i = 0; i < 4; ++i) h.feed(nth_error_page(i, sec(311 + 0.1 * i)));
  ASSERT_EQ(h.records().size(), 4u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_FALSE(h.records()[2].nginx_error.empty()) << dump(h.records()[2]);
  EXPECT_FALSE(h.records()[3].nginx_error.empty()) << dump(h.records()[3]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

// At the default capacity, 200 000 failures past a full table: each takes
// exactly the oldest entry, and the table neither grows nor loses the newest.
// (Before, each of them scanned all 65 536 entries for the oldest.)
TEST(EngineBounds, AFullTableEvictsExactlyTheOldestAtEveryFailure) {
  EngineHarness h(lean());
  const uint64_t capacity = EngineOptions{}.max_pending_requests;
  ASSERT_EQ(capacity, 65536u);
  constexpr uint64_t kMore = 200'000;
  for (uint64_t i = 0; i < capacity + kMore; ++i) h.feed(nth_failure(i, sec(320) + 1000 * i));
  const EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, capacity);
  EXPECT_EQ(stats.evicted_requests, kMore);
  EXPECT_EQ(stats.superseded_requests, 0u);
  // The last one evicted lost nginx's words; the oldest one kept did not.
  h.feed(nth_error_page(kMore - 1, sec(330)));
  h.feed(nth_error_page(kMore, sec(330.1)));
  ASSERT_EQ(h.records().size(), 2u);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[1].nginx_error,
            "upstream prematurely closed connection while reading response header from upstream");
  EXPECT_EQ(h.engine().stats().pending_requests, capacity - 1);
}

TEST(EngineBounds, ExpiryTakesTheStaleEndOnly) {
  EngineOptions options = lean();
  options.request_max_age_ns = sec(5);
  EngineHarness h(options);
  h.feed(nth_failure(0, sec(400)));
  h.feed(nth_failure(1, sec(401)));
  h.feed(nth_failure(0, sec(403)));  // request 0's next attempt: 4 s old at 407
  h.feed(nth_failure(2, sec(404)));
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(407), kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);  // request 1 (6 s old) expired
  EXPECT_EQ(h.engine().stats().expired_requests, 1u);
  for (uint64_t i = 0; i < 3; ++i) h.feed(nth_error_page(i, sec(407.1 + 0.1 * i)));
  ASSERT_EQ(h.records().size(), 3u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[1].nginx_error.empty()) << dump(h.records()[1]);
  EXPECT_FALSE(h.records()[2].nginx_error.empty()) << dump(h.records()[2]);
}

// ---------------------------------------------------------------------------
// Failures nginx recovered from leave the table, with no client echo (--lean).


TEST(EngineRecovery, RequestMemoryReusedByAnotherConnectionEndsTheEarlierRequest) {
  EngineHarness h(lean());
  // Connection 1: :9000 refuses; the retry on :9001 works (nothing seen).
  h.feed(make_log({.ts = sec(450), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  // Connection 2's request got the same memory: request 1 was freed.
  h.feed(make_log({.ts = sec(451), .request = kReq1, .connection = 2, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = kBackendName, .client = kClientB, .client_sk = kClientSk2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  h.feed(make_error_page({.ts = sec(451.001), .request = kReq1, .connection = 2, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackendName, .client = kClientB,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(h.records()[0].client, "192.0.2.20:52000");
  EXPECT_EQ(lines_with(h.records()[0], "refused"), 0) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineRecovery, ErrorPageAtAReusedAddressEndsTheEarlierRequest) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(460), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  // Another connection's request at that address: nginx logged nothing for
  // it (no error_log line), and answered 502.
  h.feed(make_error_page({.ts = sec(461), .request = kReq1, .connection = 2, .client_sk = kClientSk2,
                          .status = 502, .peer = kBackendName, .client = kClientB,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::closed_early) << dump(h.records()[0]);
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
}

TEST(EngineRecovery, ClientSocketReusedByAnotherConnectionEndsTheEarlierRequest) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(470), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  // Connection 1 closed; the kernel gave its sock to connection 2.
  h.feed(make_log({.ts = sec(471), .request = kReq2, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  // And once more, seen first at the error page of connection 3.
  h.feed(make_error_page({.ts = sec(472), .request = 0x55d0c0a03800, .connection = 3, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}}));
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 2u);
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_TRUE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
}

// HTTP/2: the streams of one connection are requests at different addresses
// with the same connection number and client socket, all in flight at once
// (subrequests look the same). Stream 3's failure ends nothing of stream 1.
TEST(EngineRecovery, AnotherStreamOnTheSameHttp2ConnectionDoesNotEndAFailure) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(480), .request = kReq1, .connection = 7, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(480.001), .request = kReq2, .connection = 7, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
  // Stream 1's second attempt fails too: its error page has both attempts' words.
  h.feed(make_log({.ts = sec(480.004), .request = kReq1, .connection = 7, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackend2Name, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(480.005), .request = kReq1, .connection = 7, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackend2Name, .client = kClientA,
                          .states = {not_connected(kBackendName), connected_no_header(kBackend2Name, 502, 3)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  ASSERT_EQ(r.attempts.size(), 2u) << dump(r);
  EXPECT_EQ(r.attempts[0].cause, Cause::refused) << dump(r);
  EXPECT_EQ(r.attempts[1].cause, Cause::reset) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"attempt 1", "127.0.0.1:9000 refused"}), 1) << dump(r);
  // Stream 3 (retried, or still going) stays pending: nothing says it ended.
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

TEST(EngineRecovery, TheNextRequestOfAKeepaliveConnectionAtTheSameAddressEndsTheEarlierOne) {
  EngineHarness h(lean());
  // Request 1 of connection 1 fails once, and its retry works (nothing seen).
  h.feed(make_log({.ts = sec(490), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 1}));
  // Request 2 of the same connection, in the same memory, is reset.
  h.feed(make_log({.ts = sec(491), .request = kReq1, .connection = 1, .fmt = "recv() failed", .err = ECONNRESET,
                   .action = kReadingHeader, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1,
                   .requests = 2}));
  EXPECT_EQ(h.engine().stats().superseded_requests, 1u);
  h.feed(make_error_page({.ts = sec(491.001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}, .requests = 2}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[0], "refused"), 0) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().pending_requests, 0u);
}

TEST(EngineRecovery, ARequestNumberNotKnownOnOneSideMatchesAsBefore) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(492), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(492.001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}, .requests = 5}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::refused) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

TEST(EngineRecovery, ARequestReadToBeOverLeavesTheTable) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(493), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 3}));
  h.feed(make_log({.ts = sec(493), .request = kReq2, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk2, .requests = 1}));
  ASSERT_EQ(h.engine().stats().pending_requests, 2u);
  h.feed(make_request_ended(sec(494.5), kReq1, 1, 3));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().ended_requests, 1u);
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  // Its client socket is free for the next connection: nothing is superseded.
  h.feed(make_log({.ts = sec(495), .request = kReq1, .connection = 9, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 1}));
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
}

TEST(EngineRecovery, AnAnswerAboutAnEarlierRequestLeavesTheOneNowAtItsAddress) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(496), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 3}));
  h.feed(make_log({.ts = sec(496.5), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1, .requests = 4}));
  // The check read request 3 to be over; request 4 has its memory now.
  h.feed(make_request_ended(sec(497), kReq1, 1, 3));
  h.feed(make_request_ended(sec(497), kReq1, 2, 4));  // another connection's request 4: not this one
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  EXPECT_EQ(h.engine().stats().ended_requests, 0u);
  h.feed(make_error_page({.ts = sec(497.1), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {not_connected(kBackendName)}, .requests = 4}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_FALSE(h.records()[0].nginx_error.empty()) << dump(h.records()[0]);
}

TEST(EngineRecovery, ThePendingRequestsToCheckAreTheOldestPastTheirAge) {
  Engine engine(lean());
  std::vector<Record> out;
  for (uint64_t i = 0; i < 5; ++i)
    engine.handle(make_log({.ts = sec(500 + static_cast<double>(i)), .request = kReq1 + i * 0x1000,
                            .connection = 10 + i, .fmt = "connect() failed", .err = ECONNREFUSED,
                            .action = kConnecting, .peer = kBackendName, .client = kClientA,
                            .requests = static_cast<uint32_t>(i + 1)}),
                  out);
  // At 504.5 s, those logged 2 s ago or more: 500, 501, 502; at most 2.
  const auto due = engine.pending_older_than(sec(504.5), sec(2), 2);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].request, kReq1);
  EXPECT_EQ(due[0].connection, 10u);
  EXPECT_EQ(due[0].requests, 1u);
  EXPECT_EQ(due[0].tgid, kWorker);
  EXPECT_EQ(due[1].request, kReq1 + 0x1000);
  EXPECT_EQ(engine.pending_older_than(sec(504.5), sec(2), 100).size(), 3u);
  EXPECT_TRUE(engine.pending_older_than(sec(500.5), sec(2), 100).empty());
}

TEST(EngineRecovery, TheSameAddressInAnotherWorkerEndsNothing) {
  EngineHarness h(lean());
  h.feed(make_log({.ts = sec(490), .pid = 1001, .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA,
                   .client_sk = kClientSk1}));
  h.feed(make_log({.ts = sec(490.1), .pid = 1002, .request = kReq1, .connection = 2, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientB,
                   .client_sk = kClientSk1}));
  EXPECT_EQ(h.engine().stats().pending_requests, 2u);
  EXPECT_EQ(h.engine().stats().superseded_requests, 0u);
}

// A retry storm from many short connections, four requests in flight at a
// time: nginx's allocator hands the four request addresses out again and
// again, so the table holds the last four, not one entry per failure.
TEST(EngineRecovery, RetryStormOverManyConnectionsKeepsTheTableAtItsConcurrency) {
  EngineHarness h(lean());
  constexpr uint64_t kConnections = 10'000;
  for (uint64_t c = 0; c < kConnections; ++c)
    h.feed(make_log({.ts = sec(500) + 100'000 * c, .request = 0x55d0c0000000 + 0x1000 * (c % 4),
                     .connection = 5000 + c, .fmt = "connect() failed", .err = ECONNREFUSED, .action = kConnecting,
                     .peer = kBackendName, .client = kClientA, .client_sk = 0xffff888200000000 + 0x800 * (c % 16)}));
  const EngineStats stats = h.engine().stats();
  EXPECT_EQ(stats.pending_requests, 4u);
  EXPECT_EQ(stats.superseded_requests, kConnections - 4);
  EXPECT_EQ(stats.evicted_requests, 0u);
}

TEST(EngineBounds, UpstreamStatusWaitsOnlyForItsOwnThread) {
  EngineHarness h;
  h.feed(make_upstream_status({.ts = sec(500), .tid = 7001, .sk = kUpSk1, .status = 502, .remote = kBackend}));
  // Another thread's unreadable send is not that client.
  h.feed(make_client_response({.ts = sec(500.0001), .tid = 7002, .sk = kClientSk2, .status = 0,
                               .remote = kClientB}));
  EXPECT_TRUE(h.records().empty()) << dump(h.records());
  h.feed(make_client_response({.ts = sec(500.0002), .tid = 7001, .sk = kClientSk1, .status = 0,
                               .remote = kClientA}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].client, "192.0.2.10:51000");
  // Consumed: a second unreadable send on that thread is nothing.
  h.feed(make_client_response({.ts = sec(500.0003), .tid = 7001, .sk = kClientSk1, .status = 0,
                               .remote = kClientA}));
  EXPECT_EQ(h.records().size(), 1u);
}

TEST(EngineRobustness, SlightlyOutOfOrderTimestampsDoNotDropAPendingRequest) {
  EngineHarness h;
  // The ring buffer is shared by all CPUs and the timestamp is taken after
  // the reservation, so an event can follow one stamped a few hundred ns
  // later. Here nginx's log line is the first event after a quiet second,
  // and the next event (another CPU) is stamped 500 ns before it.
  h.feed(make_log({.ts = sec(600), .request = kReq1, .connection = 1, .fmt = "recv() failed",
                   .err = ECONNRESET, .action = kReadingHeader, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_kernel({W5_EV_TCP_RESET, sec(600) - 500, kUpSk2, kTcpEstablished, 0, kBackend2}));
  EXPECT_EQ(h.engine().stats().pending_requests, 1u);
  h.feed(make_error_page({.ts = sec(600.0001), .request = kReq1, .connection = 1, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::reset) << dump(h.records()[0]);
  EXPECT_FALSE(h.records()[0].nginx_error.empty());
}

TEST(EngineRobustness, FirstEventsNearBootTime) {
  EngineHarness h;
  // CLOCK_MONOTONIC starts at boot: timestamps below one second are valid.
  h.feed(make_log({.ts = msec(300), .request = kReq1, .connection = 1, .fmt = "connect() failed",
                   .err = ECONNREFUSED, .action = kConnecting, .peer = kBackendName, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = msec(301), .request = kReq1, .connection = 1, .status = 502,
                          .peer = kBackendName, .client = kClientA, .states = {not_connected(kBackendName)}}));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::refused);
  EXPECT_FALSE(h.records()[0].nginx_error.empty());
}

TEST(EngineRobustness, ProcessForkEventsAreCountedAndIgnored) {
  EngineHarness h;
  w5_process_fork f{};
  f.h = header(W5_EV_PROCESS_FORK, sizeof(f), sec(700), 100, 100);
  f.parent_tgid = 100;
  f.child_tgid = 101;
  set_str(f.comm, "nginx");
  h.feed(f);
  EXPECT_TRUE(h.records().empty());
  EXPECT_EQ(h.engine().stats().events, 1u);
  EXPECT_EQ(h.engine().stats().records, 0u);
}

}  // namespace
}  // namespace why502::test

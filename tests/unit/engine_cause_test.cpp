// Engine tests. One test per cause.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>
#include <cstdio>

#include <gtest/gtest.h>

#include "engine_test_events.hpp"

namespace why502::test {
namespace {

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

// connect() failing at once (a unix socket's, or a local refusal): nginx
// logs "connect() to %V failed" (at crit but for a few errnos), builds its
// 502 page, and sends it.
void feed_immediate_connect_failure(EngineHarness& h, const std::string& peer, const w5_addr& upstream, int err) {
  h.feed(make_log({.ts = sec(3), .request = kReq1, .connection = 11, .level = kLogCrit,
                   .fmt = "connect() to %V failed", .err = err, .action = kConnecting, .peer = peer,
                   .upstream_sk = kUpSk1, .upstream = upstream, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(3.0001), .request = kReq1, .connection = 11, .client_sk = kClientSk1,
                          .status = 502, .peer = peer, .client = kClientA, .states = {not_connected(peer)}}));
  h.feed(make_client_response({.ts = sec(3.0002), .sk = kClientSk1, .status = 502, .remote = kClientA}));
}

// nginx gives up on kBackend after 1 s on a connected socket, in action.
void feed_timeout_after_connect(EngineHarness& h, const char* action) {
  h.feed(make_log({.ts = sec(31), .request = kReq1, .connection = 10, .fmt = "upstream timed out",
                   .err = ETIMEDOUT, .action = action, .peer = kBackendName, .upstream_sk = kUpSk1,
                   .upstream = kBackend, .client = kClientA, .client_sk = kClientSk1}));
  h.feed(make_error_page({.ts = sec(31.0001), .request = kReq1, .connection = 10, .client_sk = kClientSk1,
                          .status = 504, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 504, 1000)}}));
  h.feed(make_client_response({.ts = sec(31.0002), .sk = kClientSk1, .status = 504, .remote = kClientA}));
}

TEST(EngineCause, RefusedUnixSocketMissing) {
  EngineHarness h;
  const std::string peer = "unix:/run/php.sock";
  feed_immediate_connect_failure(h, peer, unix_sock(), ENOENT);

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
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "there is no socket file at that path: the backend is not running, or listens at another path");
  EXPECT_EQ(kernel_lines(r), 0) << dump(r);
}

// The commonest php-fpm misconfiguration: the socket's mode keeps nginx's
// user out. Nothing refused anything; the record must not say so.
TEST(EngineCause, UnixSocketNginxMayNotOpenSaysPermissionsNotRefused) {
  EngineHarness h;
  const std::string peer = "unix:/run/php/php8.2-fpm.sock";
  // What the live session read of the socket file when nginx logged it.
  w5_socket_file file{};
  file.h = header(W5_EV_SOCKET_FILE, sizeof(file), sec(3) - 1000, kWorker, kWorker);
  file.worker_uid = file.worker_gid = 101;
  file.uid = file.gid = 33;
  file.mode = 0140660;
  file.denied = 1;
  std::snprintf(file.path, sizeof(file.path), "/run/php/php8.2-fpm.sock");
  std::snprintf(file.peer, sizeof(file.peer), "%s", peer.c_str());
  h.feed(file);
  feed_immediate_connect_failure(h, peer, unix_sock(), EACCES);

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::refused) << dump(r);
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  ASSERT_EQ(r.evidence.size(), 3u) << dump(r);
  EXPECT_EQ(r.evidence[0].rfind("the kernel denied nginx's worker permission to connect (EACCES), ", 0), 0u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "the socket file /run/php/php8.2-fpm.sock is 33:33, mode 0660; nginx's worker runs as uid 101, gid 101 "
            "and may not connect to it (no write permission)");
  EXPECT_EQ(r.evidence[2],
            "nginx: connect() to unix:/run/php/php8.2-fpm.sock failed (13: Permission denied) while connecting to "
            "upstream");
  EXPECT_EQ(lines_with(r, "nothing accepted"), 0) << dump(r);
}

// A security policy (a cgroup BPF program's connect hook) makes connect()
// fail at once with EPERM: the peer is unreachable from here, and the record
// says why.
TEST(EngineCause, ConnectDeniedLocallyIsUnreachableByPolicy) {
  EngineHarness h;
  feed_immediate_connect_failure(h, kBackendName, kBackend, EPERM);

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::unreachable) << dump(r);
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[0].rfind("the kernel denied nginx's connect() (EPERM) before any packet left: ", 0), 0u) << dump(r);
  EXPECT_EQ(r.evidence[1],
            "nginx: connect() to 127.0.0.1:9000 failed (1: Operation not permitted) while connecting to upstream");
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
  feed_timeout_after_connect(h, kReadingHeader);

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

// A send timeout: the backend left the request unread. Same cause as a late
// response header, but the first line must not send the reader to
// proxy_read_timeout.
TEST(EngineCause, SendTimeoutSaysTheBackendStoppedReading) {
  EngineHarness h;
  feed_timeout_after_connect(h, "sending request to upstream");

  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::slow_backend) << dump(r);
  EXPECT_EQ(r.evidence[0],
            "the backend stopped reading the request: nginx could not send the rest of it within proxy_send_timeout "
            "(fastcgi_send_timeout, uwsgi_send_timeout, ...)")
      << dump(r);
  EXPECT_EQ(lines_with(r, "proxy_read_timeout"), 0) << dump(r);
  EXPECT_EQ(r.nginx_error, "upstream timed out (110: Connection timed out) while sending request to upstream");
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
  // What nginx's words leave unsaid: which buffer, and the usual culprit.
  EXPECT_EQ(h.records()[0].evidence[0], "upstream 127.0.0.1:9000 answered, but nginx rejected the response header");
  EXPECT_EQ(h.records()[0].evidence[1],
            "the response header did not fit in proxy_buffer_size (fastcgi_buffer_size, uwsgi_buffer_size, ...): "
            "many or large headers, often Set-Cookie; raise the buffer size or have the backend send less")
      << dump(h.records()[0]);
}

// The same failure, whatever nginx's client speaks.
class EngineCauseOnEitherClient : public ::testing::TestWithParam<ClientSocket> {};
INSTANTIATE_TEST_SUITE_P(PlainAndTls, EngineCauseOnEitherClient, ::testing::Values(kPlainClient, kTlsClient),
                         client_socket_name);

TEST_P(EngineCauseOnEitherClient, UpstreamStatusPassedOn) {
  const ClientSocket client = GetParam();
  EngineHarness h;
  // The backend answers 503 itself; nginx passes it on. On TLS (or HTTP/2)
  // the bytes after it are no readable status line: the upstream's status is
  // all there is.
  h.feed(make_upstream_status({.ts = sec(7), .sk = kUpSk1, .status = 503, .remote = kBackend}));
  h.feed(make_client_response({.ts = sec(7.0001), .sk = kClientSk1, .status = client.status_line(503), .remote = kClientA}));

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

TEST_P(EngineCauseOnEitherClient, Plain500IsNotAGatewayError) {
  EngineHarness h;
  // A 500 nginx makes for its own reasons (no upstream): the error page and
  // its status line on the client socket must give no record.
  h.feed(make_error_page({.ts = sec(12), .request = kReq1, .connection = 23, .client_sk = kClientSk1,
                          .status = 500, .has_upstream = false, .client = kClientA}));
  h.feed(make_client_response(
      {.ts = sec(12.0001), .sk = kClientSk1, .status = GetParam().status_line(500), .remote = kClientA}));

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

TEST(EngineCause, EaddrnotavailWhereIpv6IsDisabledIsUnreachableNotPortsExhausted) {
  EngineHarness h;
  const std::string v6 = "[::1]:9000";
  w5_port_usage usage = port_usage(sec(16), v6, ipv6("::1", 9000), 0, 0);
  usage.flags = W5_PORTS_NO_SOURCE_ADDRESS;
  h.feed(usage);
  h.feed(make_log(no_local_port(sec(16), v6)));
  h.feed(make_error_page({.ts = sec(16.0001), .request = kReq1, .connection = 26, .client_sk = kClientSk1,
                          .status = 502, .peer = v6, .client = kClientA, .states = {not_connected(v6)}}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::unreachable) << dump(r);
  EXPECT_EQ(r.attempts.at(0).cause, Cause::unreachable);
  EXPECT_EQ(lines_with(r, "has no IPv6 address to connect to it from"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "keep upstream connections alive"), 0) << dump(r);
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


// An HTTP/2 upstream (proxy_http_version 2, grpc_pass) resets the request's
// stream or closes the connection: nginx names the frame and its error code,
// which the evidence spells out.
Record h2_failure(const char* fmt, uint64_t code) {
  EngineHarness h;
  h.feed(make_log({.ts = sec(4.000300), .request = kReq1, .connection = 7, .fmt = fmt, .action = kReadingHeader,
                   .peer = kBackendName, .upstream_sk = kUpSk1, .upstream = kBackend, .client = kClientA,
                   .client_sk = kClientSk1, .args = {num(code)}}));
  h.feed(make_error_page({.ts = sec(4.000400), .request = kReq1, .connection = 7, .client_sk = kClientSk1,
                          .status = 502, .peer = kBackendName, .client = kClientA,
                          .states = {connected_no_header(kBackendName, 502, 1)}}));
  h.feed(make_client_response({.ts = sec(4.000500), .sk = kClientSk1, .status = 502, .remote = kClientA}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
  return h.records().empty() ? Record{} : h.records()[0];
}

TEST(EngineCause, Http2StreamResetNamesItsErrorCode) {
  const Record r = h2_failure("upstream rejected request with error %ui", 7);
  EXPECT_EQ(r.cause, Cause::h2_stream_reset) << dump(r);
  ASSERT_GE(r.evidence.size(), 2u) << dump(r);
  EXPECT_EQ(r.evidence[0],
            "upstream 127.0.0.1:9000 reset the request's HTTP/2 stream (RST_STREAM) before a full response header");
  EXPECT_EQ(lines_with(r, "RST_STREAM error 7, REFUSED_STREAM: the backend refused the stream before doing any of its "
                          "work"),
            1)
      << dump(r);
  EXPECT_EQ(r.nginx_error, "upstream rejected request with error 7 while reading response header from upstream");
}

TEST(EngineCause, Http2GoawayNamesItsErrorCode) {
  const Record r = h2_failure("upstream sent goaway with error %ui", 0);
  EXPECT_EQ(r.cause, Cause::h2_goaway) << dump(r);
  EXPECT_EQ(lines_with(r, "GOAWAY error 0, NO_ERROR: no error: the backend is shutting down or draining"), 1)
      << dump(r);
  // A code RFC 9113 does not define is said to be one, not named.
  const Record odd = h2_failure("upstream sent goaway with error %ui", 4242);
  EXPECT_EQ(lines_with(odd, "GOAWAY with an error code RFC 9113 does not define"), 1) << dump(odd);
}

}  // namespace
}  // namespace why502::test

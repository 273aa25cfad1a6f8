// Engine tests. The process at the other end died: fatal signals and the sockets held.
// (What they share, and the order events come in: engine_test_events.hpp.)
#include <cerrno>

#include <gtest/gtest.h>

#include "attribution/time_window.hpp"
#include "engine_test_events.hpp"

namespace why502::test {
namespace {

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

}  // namespace
}  // namespace why502::test

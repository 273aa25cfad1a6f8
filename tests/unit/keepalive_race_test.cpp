// keepalive_race: a failure on an upstream connection nginx took from its
// keepalive pool, told from a plain close or reset by when the backend's FIN
// or RST came relative to nginx's send (W5_EV_UPSTREAM_REUSE, sent before the
// log line). Times are jiffies at 1000 Hz here, so one jiffy is one ms.
#include <cerrno>

#include <gtest/gtest.h>

#include "attribution/engine.hpp"
#include "attribution/keepalive_race.hpp"
#include "event_builders.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kReq = 0x55d0c0a01000;
constexpr uint64_t kClientSk = 0xffff888104a01000;
constexpr uint64_t kUpSk = 0xffff888105b01000;
const w5_addr kClient = ipv4("192.0.2.10", 51000);
const w5_addr kBackend = ipv4("127.0.0.1", 9000);
const std::string kBackendName = "127.0.0.1:9000";
constexpr const char* kClosedEarly = "upstream prematurely closed connection";
constexpr const char* kSending = "sending request to upstream";

// nginx's log line of a failure on kUpSk, after the history reuse gave.
void fail(EngineHarness& h, const std::optional<Reuse>& reuse, const char* fmt, int err,
          const char* action = kReadingHeader) {
  if (reuse) h.feed(make_reuse(*reuse));
  h.feed(make_log({.ts = sec(20), .request = kReq, .connection = 7, .fmt = fmt, .err = err, .action = action,
                   .peer = kBackendName, .upstream_sk = kUpSk, .upstream = kBackend, .client = kClient,
                   .client_sk = kClientSk}));
}

// The 502 nginx answers a POST with (it does not retry one).
const Record& answer_502(EngineHarness& h) {
  h.feed(make_error_page({.ts = sec(20.001), .request = kReq, .connection = 7, .client_sk = kClientSk,
                          .status = 502, .peer = kBackendName, .client = kClient,
                          .states = {connected_no_header(kBackendName, 502, 0)}}));
  h.feed(make_client_response({.ts = sec(20.002), .sk = kClientSk, .status = 502, .remote = kClient}));
  EXPECT_EQ(h.records().size(), 1u) << dump(h.records());
  return h.records().back();
}

Reuse pooled(uint32_t data_in, uint32_t sent, uint32_t ack_in, uint32_t now, uint32_t state = 8) {
  return Reuse{.ts = sec(20), .request = kReq, .connection = 7, .upstream_sk = kUpSk, .upstream_requests = 3,
               .tcp_state = state, .data_in = data_in, .sent = sent, .ack_in = ack_in, .now = now};
}

TEST(KeepaliveRace, FinAsTheRequestArrivedOnAPooledConnection) {
  EngineHarness h;
  // Idle 4 s after the last response; the FIN came 1 ms after nginx's send.
  fail(h, pooled(1000, 5000, 5001, 5001), kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::keepalive_race) << dump(r);
  ASSERT_FALSE(r.evidence.empty());
  EXPECT_EQ(r.evidence[0], "upstream 127.0.0.1:9000 closed a keepalive connection as nginx reused it");
  EXPECT_EQ(lines_with(r, "it had carried 2 earlier requests and sat idle 4000 ms before this one"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend closed it (FIN) within 1 ms of nginx's send"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "fix: make the backend's keep-alive (idle) timeout longer than nginx's upstream "
                          "keepalive_timeout"),
            1)
      << dump(r);
  EXPECT_EQ(lines_with(r, "only for idempotent requests"), 1) << dump(r);
  ASSERT_EQ(r.attempts.size(), 1u);
  EXPECT_EQ(r.attempts[0].cause, Cause::keepalive_race);
}

TEST(KeepaliveRace, ResetAsTheRequestArrived) {
  EngineHarness h;
  fail(h, pooled(1000, 2000, 1990, 2002, kTcpClose), "recv() failed", ECONNRESET);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::keepalive_race) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend reset it (RST) within 2 ms of nginx's send"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "it had carried 2 earlier requests and sat idle 1000 ms"), 1) << dump(r);
}

TEST(KeepaliveRace, FinBeforeTheSendNginxHadNotNoticed) {
  EngineHarness h;
  fail(h, pooled(1000, 3000, 2995, 3001), kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::keepalive_race) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend closed it (FIN) 5 ms before nginx sent the request"), 1) << dump(r);
}

TEST(KeepaliveRace, RequestThatCouldNotBeSentOnADeadPooledConnection) {
  EngineHarness h;
  // The last send was the previous request's: this one never left.
  fail(h, pooled(1000, 900, 1000, 4000, kTcpClose), "writev() failed", EPIPE, kSending);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::keepalive_race) << dump(r);
  EXPECT_EQ(lines_with(r, "sat idle 3000 ms before this one"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend had reset it (RST) already: nginx's request could not be sent"), 1) << dump(r);
}

TEST(KeepaliveRace, CloseOnAFreshConnectionIsClosedEarly) {
  EngineHarness h;
  fail(h, std::nullopt, kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(lines_with(r, "keepalive"), 0) << dump(r);
}

TEST(KeepaliveRace, CloseLongAfterTheSendIsNoRace) {
  EngineHarness h;
  // The backend had the request for 3 s before it hung up: it failed on it.
  fail(h, pooled(1000, 2000, 5000, 5000), kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend closed it (FIN) 3000 ms after nginx's send"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "not a keepalive race"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "fix:"), 0) << dump(r);
}

TEST(KeepaliveRace, WindowGrowsWithTheRoundTrip) {
  Reuse far = pooled(1000, 2000, 2150, 2150);
  far.srtt_us = 80'000;  // a far backend: its FIN comes a round trip later
  EXPECT_TRUE(judge_reused_connection(make_reuse(far), Cause::closed_early, false).race);
  far.srtt_us = 50;
  EXPECT_FALSE(judge_reused_connection(make_reuse(far), Cause::closed_early, false).race);
}

TEST(KeepaliveRace, ResponseBegunOnThePooledConnectionIsNoRace) {
  EngineHarness h;
  // Data came after nginx's send: the backend had started answering.
  fail(h, pooled(2500, 2000, 2500, 2600), kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
  EXPECT_EQ(lines_with(r, "the backend began a response, so this is no keepalive race"), 1) << dump(r);
}

TEST(KeepaliveRace, UnknownTimesNameNoRace) {
  EngineHarness h;
  Reuse unknown = pooled(0, 0, 0, 0, kTcpClose);
  unknown.hz = 0;
  fail(h, unknown, "recv() failed", ECONNRESET);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::reset) << dump(r);
  EXPECT_EQ(lines_with(r, "a keepalive race is not established"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "it carried 2 earlier requests"), 1) << dump(r);
}

TEST(KeepaliveRace, HistoryOfAnotherSocketIsIgnored) {
  EngineHarness h;
  Reuse other = pooled(1000, 5000, 5001, 5001);
  other.upstream_sk = kUpSk + 0x800;
  fail(h, other, kClosedEarly, 0);
  const Record& r = answer_502(h);
  EXPECT_EQ(r.cause, Cause::closed_early) << dump(r);
}

TEST(KeepaliveRace, OtherFailuresOnAPooledConnectionKeepTheirCause) {
  EngineHarness h;
  fail(h, pooled(1000, 5000, 5001, 5001), "upstream timed out", ETIMEDOUT);
  h.feed(make_error_page({.ts = sec(20.001), .request = kReq, .connection = 7, .client_sk = kClientSk,
                          .status = 504, .peer = kBackendName, .client = kClient,
                          .states = {connected_no_header(kBackendName, 504, 1000)}}));
  h.feed(make_client_response({.ts = sec(20.002), .sk = kClientSk, .status = 504, .remote = kClient}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  EXPECT_EQ(h.records()[0].cause, Cause::slow_backend) << dump(h.records()[0]);
  EXPECT_EQ(lines_with(h.records()[0], "keepalive pool"), 0) << dump(h.records()[0]);
}

TEST(KeepaliveRace, RetriedGetCarriesTheCause) {
  EngineHarness h;
  fail(h, pooled(1000, 5000, 5001, 5001), kClosedEarly, 0);
  // nginx retried the GET on a new connection; the client got a 200.
  h.feed(make_client_response({.ts = sec(20.01), .sk = kClientSk, .status = 200, .remote = kClient}));
  ASSERT_EQ(h.records().size(), 1u) << dump(h.records());
  const Record& r = h.records()[0];
  EXPECT_EQ(r.type, RecordType::retried);
  EXPECT_EQ(r.cause, Cause::keepalive_race) << dump(r);
  EXPECT_EQ(lines_with(r, "nginx retried after keepalive_race on 127.0.0.1:9000; the client got 200"), 1) << dump(r);
  EXPECT_EQ(lines_with(r, "nginx took this connection from its keepalive pool"), 1) << dump(r);
}

}  // namespace
}  // namespace why502::test

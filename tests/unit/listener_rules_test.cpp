// The engine's rules for timeouts explained by a listener's state (read by
// why502 through sock_diag and /proc when nginx timed out).
#include <gtest/gtest.h>

#include "event_builders.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kReq = 0x55d0c0a02000;
constexpr uint64_t kUpSk = 0xffff888105b02000;
const w5_addr kClient = ipv4("192.0.2.30", 53000);
const w5_addr kUpstream = ipv4("127.0.0.1", 9100);
const std::string kUpstreamName = "127.0.0.1:9100";

w5_listener_state listener(uint64_t ts, w5_addr addr, uint32_t queued, uint32_t backlog, uint32_t fds_open,
                           uint32_t fd_limit) {
  w5_listener_state e{};
  e.h = header(W5_EV_LISTENER_STATE, sizeof(e), ts, 0, 0);
  e.addr = addr;
  e.queued = queued;
  e.backlog = backlog;
  e.owner_pid = 777;
  e.owners = 1;
  e.fds_open = fds_open;
  e.fd_limit = fd_limit;
  e.listen_overflows = 12;
  std::memcpy(e.owner_comm, "python3", 8);
  return e;
}

// nginx timed out (connecting, or reading the header) on kUpstream.
void timeout(EngineHarness& h, uint64_t ts, const char* action, uint32_t status, State state) {
  h.feed(make_log({.ts = ts, .request = kReq, .connection = 7, .fmt = "upstream timed out", .err = 110,
                   .action = action, .peer = kUpstreamName, .upstream_sk = kUpSk, .upstream = kUpstream,
                   .client = kClient}));
  h.feed(make_error_page({.ts = ts + 100, .request = kReq, .connection = 7, .status = status, .peer = kUpstreamName,
                          .client = kClient, .states = {state}}));
}

TEST(ListenerRules, ConnectTimeoutOnAFullQueueIsBacklogFull) {
  EngineHarness h;
  h.feed(listener(sec(10), kUpstream, 2, 1, 10, 1024));
  timeout(h, sec(10.001), kConnecting, 504, not_connected(kUpstreamName, 504, 2500));
  ASSERT_EQ(h.records().size(), 1u);
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::backlog_full) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"accept queue of 127.0.0.1:9100", "pid 777 (python3)", "2 waiting, backlog 1"}), 1)
      << dump(r);
}

TEST(ListenerRules, ConnectTimeoutWithRoomInTheQueueStaysConnectTimeout) {
  EngineHarness h;
  h.feed(listener(sec(10), kUpstream, 1, 128, 10, 1024));
  timeout(h, sec(10.001), kConnecting, 504, not_connected(kUpstreamName, 504, 2500));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::connect_timeout) << dump(h.records()[0]);
}

TEST(ListenerRules, ReadTimeoutAtTheDescriptorLimitIsFdExhausted) {
  EngineHarness h;
  h.feed(listener(sec(20), kUpstream, 1, 128, 64, 64));
  timeout(h, sec(20.001), kReadingHeader, 504, connected_no_header(kUpstreamName, 504, 1000));
  ASSERT_EQ(h.records().size(), 1u);
  const Record& r = h.records()[0];
  EXPECT_EQ(r.cause, Cause::fd_exhausted) << dump(r);
  EXPECT_EQ(lines_with_all(r, {"pid 777 (python3)", "64 of its 64 descriptors", "EMFILE"}), 1) << dump(r);
}

TEST(ListenerRules, AStateFromLongAgoOrAnotherPortChangesNothing) {
  EngineHarness h;
  h.feed(listener(sec(30), kUpstream, 5, 1, 64, 64));                    // minutes before
  h.feed(listener(sec(299), ipv4("127.0.0.1", 9101), 5, 1, 64, 64));   // another listener
  timeout(h, sec(300), kReadingHeader, 504, connected_no_header(kUpstreamName, 504, 1000));
  ASSERT_EQ(h.records().size(), 1u);
  EXPECT_EQ(h.records()[0].cause, Cause::slow_backend) << dump(h.records()[0]);
}

}  // namespace
}  // namespace why502::test

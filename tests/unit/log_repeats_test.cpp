// A failure that repeats on a thread comes whole once and then as its
// differences (W5_EV_NGX_LOG_REPEAT): made whole again, each repeat must be
// exactly the event the kernel would otherwise have sent, and one whose
// template is not the one kept must be refused, never made from another.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "attribution/event_pump.hpp"
#include "event_builders.hpp"
#include "events/address.hpp"
#include "events/anonymise.hpp"
#include "events/log_repeats.hpp"

namespace why502::test {
namespace {

const w5_addr kBackend = ipv4("10.9.9.9", 8080);

// The refused connection of request `request` from client port `port`.
w5_ngx_log refused(double at, uint64_t request, uint16_t port, uint32_t tid = kWorker) {
  w5_ngx_log e = make_log({.ts = sec(at), .request = request, .connection = request & 0xff,
                           .fmt = "connect() failed", .err = ECONNREFUSED, .action = kConnecting,
                           .peer = "10.9.9.9:8080", .upstream_sk = 0xffff0000a000 + request,
                           .upstream = kBackend, .client = ipv4("203.0.113.77", port),
                           .client_sk = 0xffff0000c000 + request, .upstream_local = ipv4("127.0.0.1", 40000 + port % 1000),
                           .requests = 3});
  e.h.tid = tid;
  return e;
}

bool same_bytes(const w5_ngx_log& a, const w5_ngx_log& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

TEST(LogRepeats, ARepeatIsItsTemplateWithWhatDiffersPerRequest) {
  LogRepeats repeats;
  const w5_ngx_log first = refused(1.0, 0x10, 51000);
  const w5_ngx_log second = refused(1.5, 0x20, 51001);
  repeats.remember(first);
  const Result<w5_ngx_log> whole = repeats.expand(make_log_repeat(first, second));
  ASSERT_TRUE(whole.ok()) << whole.error();
  EXPECT_TRUE(same_bytes(whole.value(), second));
}

TEST(LogRepeats, ARepeatOfATemplateNotKeptIsRefused) {
  LogRepeats repeats;
  const w5_ngx_log lost = refused(1.0, 0x10, 51000);
  const w5_ngx_log kept = refused(2.0, 0x20, 51001);
  const w5_ngx_log later = refused(3.0, 0x30, 51002);
  EXPECT_FALSE(repeats.expand(make_log_repeat(lost, later)).ok()) << "no template yet";
  repeats.remember(kept);
  const Result<w5_ngx_log> of_lost = repeats.expand(make_log_repeat(lost, later));
  ASSERT_FALSE(of_lost.ok());
  EXPECT_NE(of_lost.error().find("was not seen"), std::string::npos) << of_lost.error();
  // The same thread id in another process is another thread.
  w5_ngx_log elsewhere = later;
  elsewhere.h.tgid = kWorker + 1;
  EXPECT_FALSE(repeats.expand(make_log_repeat(kept, elsewhere)).ok());
  EXPECT_TRUE(repeats.expand(make_log_repeat(kept, later)).ok());
}

TEST(LogRepeats, EachThreadRepeatsItsOwnTemplate) {
  LogRepeats repeats;
  w5_ngx_log a = refused(1.0, 0x10, 51000, kWorker);
  w5_ngx_log b = refused(1.1, 0x11, 51001, kWorker + 7);
  set_str(b.fmt, "upstream timed out");
  b.err = ETIMEDOUT;
  repeats.remember(a);
  repeats.remember(b);
  w5_ngx_log a2 = refused(2.0, 0x20, 51002, kWorker);
  w5_ngx_log b2 = b;
  b2.h.ts_ns = sec(2.1);
  b2.request = 0x21;
  const Result<w5_ngx_log> whole_b = repeats.expand(make_log_repeat(b, b2));
  const Result<w5_ngx_log> whole_a = repeats.expand(make_log_repeat(a, a2));
  ASSERT_TRUE(whole_a.ok() && whole_b.ok());
  EXPECT_TRUE(same_bytes(whole_a.value(), a2));
  EXPECT_TRUE(same_bytes(whole_b.value(), b2));
  EXPECT_STREQ(whole_b.value().fmt, "upstream timed out");
}

TEST(LogRepeats, PastTheirLimitTheOldestThreadsTemplateGoes) {
  LogRepeats repeats;
  std::vector<w5_ngx_log> firsts;
  for (uint32_t i = 0; i <= LogRepeats::kMaxThreads; ++i) {
    firsts.push_back(refused(1.0 + i * 1e-6, 0x10, 51000, 10000 + i));
    repeats.remember(firsts.back());
  }
  EXPECT_EQ(repeats.threads(), LogRepeats::kMaxThreads);
  w5_ngx_log oldest_again = firsts.front();
  oldest_again.h.ts_ns = sec(5);
  EXPECT_FALSE(repeats.expand(make_log_repeat(firsts.front(), oldest_again)).ok());
  w5_ngx_log newest_again = firsts.back();
  newest_again.h.ts_ns = sec(5);
  EXPECT_TRUE(repeats.expand(make_log_repeat(firsts.back(), newest_again)).ok());
}

std::vector<uint8_t> bytes_of(const Event& e) {
  const std::span<const uint8_t> b = event_bytes(e);
  return {b.begin(), b.end()};
}

TEST(EventPump, ARepeatReachesTheHookAndTheEngineWholeAndAnonymised) {
  for (const bool anonymise : {false, true}) {
    SCOPED_TRACE(anonymise ? "anonymised" : "as they are");
    Engine engine;
    std::vector<Event> hooked;
    EventPump pump(engine, {.anonymise_clients = anonymise, .on_event = [&](std::span<const uint8_t> bytes) {
                              const Result<Event> decoded = decode_event(bytes);
                              ASSERT_TRUE(decoded.ok()) << decoded.error();
                              hooked.push_back(decoded.value());
                            }});
    const w5_ngx_log first = refused(10.0, 0x10, 51000);
    const w5_ngx_log second = refused(10.5, 0x20, 51001);
    std::vector<Event> stream = {
        first,
        make_error_page({.ts = sec(10.0001), .request = 0x10, .connection = 0x10, .client_sk = first.client_sk,
                         .status = 502, .peer = "10.9.9.9:8080", .client = first.client,
                         .states = {not_connected("10.9.9.9:8080", 502, 0)}}),
        make_log_repeat(first, second),
        make_error_page({.ts = sec(10.5001), .request = 0x20, .connection = 0x20, .client_sk = second.client_sk,
                         .status = 502, .peer = "10.9.9.9:8080", .client = second.client,
                         .states = {not_connected("10.9.9.9:8080", 502, 0)}})};
    for (const Event& event : stream) {
      const std::vector<uint8_t> bytes = bytes_of(event);
      const std::optional<EventPump::Taken> taken = pump.take(bytes);
      ASSERT_TRUE(taken) << pump.decode_error();
      pump.deliver(taken->event, taken->bytes);
    }
    pump.finish();
    ASSERT_EQ(hooked.size(), 4u);
    ASSERT_TRUE(std::holds_alternative<w5_ngx_log>(hooked[2])) << "the recording sees the whole event";
    w5_ngx_log expected = second;
    if (anonymise) anonymise_address(expected.client), anonymise_address(expected.upstream_local);
    EXPECT_TRUE(same_bytes(std::get<w5_ngx_log>(hooked[2]), expected));
    const std::vector<Record> records = pump.take_records();
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(records[1].cause, Cause::refused);
    EXPECT_EQ(records[1].client, anonymise ? "203.0.113.0:51001" : "203.0.113.77:51001");
    EXPECT_EQ(pump.undecodable(), 0u);
    EXPECT_EQ(pump.repeats(), 1u);
  }
}

TEST(EventPump, ARepeatWhoseTemplateWasLostIsCountedNotAttributed) {
  Engine engine;
  std::vector<std::string> warnings;
  EventPump pump(engine, {.on_first_undecodable = [&](const std::string& error) { warnings.push_back(error); }});
  const w5_ngx_log lost = refused(10.0, 0x10, 51000);
  const std::vector<uint8_t> bytes = bytes_of(make_log_repeat(lost, refused(10.5, 0x20, 51001)));
  EXPECT_FALSE(pump.take(bytes));
  EXPECT_EQ(pump.undecodable(), 1u);
  EXPECT_EQ(pump.repeats(), 0u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("was not seen"), std::string::npos) << warnings[0];
}

}  // namespace
}  // namespace why502::test

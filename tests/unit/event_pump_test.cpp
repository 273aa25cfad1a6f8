// The one path from bytes to the engine that live, replay and the fuzzers
// share: what each stage does, and in which order.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attribution/event_pump.hpp"
#include "event_builders.hpp"
#include "events/address.hpp"
#include "events/anonymise.hpp"

namespace why502::test {
namespace {

const w5_addr kBackend = ipv4("10.9.9.9", 8080);
const w5_addr kClient = ipv4("203.0.113.77", 51000);
constexpr uint64_t kUpSk = 0xffff0000a1;
constexpr uint64_t kClientSk = 0xffff0000c1;
constexpr uint64_t kReq = 0x55d0c0b0d000;

// A refused connection, as nginx logs it, its error page and the client's 502.
std::vector<Event> refused_request() {
  return {make_log({.ts = sec(10.0003), .request = kReq, .connection = 7, .fmt = "connect() failed",
                    .err = ECONNREFUSED, .action = kConnecting, .peer = "10.9.9.9:8080", .upstream_sk = kUpSk,
                    .upstream = kBackend, .client = kClient, .client_sk = kClientSk}),
          make_error_page({.ts = sec(10.0004), .request = kReq, .connection = 7, .client_sk = kClientSk,
                           .status = 502, .peer = "10.9.9.9:8080", .client = kClient,
                           .states = {not_connected("10.9.9.9:8080", 502, 0)}}),
          make_client_response({.ts = sec(10.0005), .sk = kClientSk, .status = 502, .remote = kClient})};
}

// Each event taken as bytes and delivered straight on.
void pump_through(EventPump& pump, const std::vector<Event>& events) {
  for (const Event& event : events) {
    const std::vector<uint8_t> bytes(event_bytes(event).begin(), event_bytes(event).end());
    const std::optional<EventPump::Taken> taken = pump.take(bytes);
    ASSERT_TRUE(taken) << pump.decode_error();
    pump.deliver(taken->event, taken->bytes);
  }
}

TEST(EventPump, TheHookSeesEachEventBeforeTheEngineTakesIt) {
  Engine engine;
  std::vector<uint64_t> engine_events_at_hook;
  std::vector<uint32_t> hooked_types;
  EventPump pump(engine, {.on_event = [&](std::span<const uint8_t> bytes) {
                            engine_events_at_hook.push_back(engine.stats().events);
                            const Result<Event> decoded = decode_event(bytes);
                            ASSERT_TRUE(decoded.ok()) << decoded.error();
                            hooked_types.push_back(header_of(decoded.value()).type);
                          }});
  pump_through(pump, refused_request());
  EXPECT_EQ(engine_events_at_hook, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(hooked_types, (std::vector<uint32_t>{W5_EV_NGX_LOG, W5_EV_NGX_ERROR_PAGE, W5_EV_CLIENT_RESPONSE}));
  EXPECT_EQ(engine.stats().events, 3u);
}

TEST(EventPump, RecordsCollectUntilTakenAndFinishGivesWhatTheEngineHeld) {
  Engine engine;
  EventPump pump(engine, {});
  pump_through(pump, refused_request());
  pump.finish();
  const std::vector<Record> records = pump.take_records();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].status, 502);
  EXPECT_EQ(records[0].cause, Cause::refused);
  EXPECT_TRUE(pump.take_records().empty());  // taken once
}

TEST(EventPump, UndecodableBytesAreCountedAndOnlyTheFirstIsWarnedOf) {
  Engine engine;
  std::vector<std::string> warnings;
  int hooked = 0;
  EventPump pump(engine, {.on_event = [&](std::span<const uint8_t>) { ++hooked; },
                          .on_first_undecodable = [&](const std::string& error) { warnings.push_back(error); }});
  const std::vector<uint8_t> short_bytes = {1, 2, 3};
  w5_ngx_log log = make_log({.ts = sec(1), .client = kClient});
  log.h.size = sizeof(log) - 1;  // claims a size other than its type's
  const Event wrong_size_event = log;
  const std::span<const uint8_t> wrong_size = event_bytes(wrong_size_event);
  const std::vector<uint8_t> wrong_size_bytes(wrong_size.begin(), wrong_size.end());

  EXPECT_FALSE(pump.take(short_bytes));
  EXPECT_FALSE(pump.decode_error().empty());
  EXPECT_FALSE(pump.take(wrong_size_bytes));
  EXPECT_EQ(pump.undecodable(), 2u);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], decode_event(short_bytes).error());
  EXPECT_EQ(hooked, 0);  // nothing undecodable is delivered
  EXPECT_EQ(engine.stats().events, 0u);

  pump_through(pump, refused_request());
  EXPECT_EQ(pump.undecodable(), 2u);
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(EventPump, ClientsAreAnonymisedBeforeTheHookAndTheEngine) {
  for (const bool anonymise : {false, true}) {
    SCOPED_TRACE(anonymise ? "anonymised" : "as they are");
    Engine engine;
    std::vector<std::string> hooked_clients;
    EventPump pump(engine, {.anonymise_clients = anonymise, .on_event = [&](std::span<const uint8_t> bytes) {
                              const Result<Event> decoded = decode_event(bytes);
                              ASSERT_TRUE(decoded.ok()) << decoded.error();
                              hooked_clients.push_back(format_endpoint(std::get<w5_ngx_log>(decoded.value()).client));
                            }});
    const Event log = refused_request()[0];
    const std::vector<uint8_t> bytes(event_bytes(log).begin(), event_bytes(log).end());
    const std::optional<EventPump::Taken> taken = pump.take(bytes);
    ASSERT_TRUE(taken);
    const std::string expected = anonymise ? "203.0.113.0:51000" : "203.0.113.77:51000";
    EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(taken->event).client), expected);
    EXPECT_EQ(format_endpoint(std::get<w5_ngx_log>(taken->event).upstream), "10.9.9.9:8080");  // upstreams stay
    pump.deliver(taken->event, taken->bytes);
    EXPECT_EQ(hooked_clients, std::vector<std::string>{expected});
  }
}

TEST(EventPump, LagIsMeasuredAgainstTheClockGivenAndNotWithoutOne) {
  Engine engine;
  EventPump measured(engine, {.lag_clock = [] { return sec(10.0003) + msec(3); }});
  const std::vector<Event> events = refused_request();
  pump_through(measured, {events[0]});
  EXPECT_EQ(measured.lag().count(), 1u);
  EXPECT_EQ(measured.lag().max_ns(), msec(3));

  Engine other;
  EventPump unmeasured(other, {});
  pump_through(unmeasured, {events[0]});
  EXPECT_EQ(unmeasured.lag().count(), 0u);
}

}  // namespace
}  // namespace why502::test

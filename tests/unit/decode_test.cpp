// decode_event: ring-buffer bytes are checked for type and size before use.
#include <cstring>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "event_builders.hpp"
#include "events/address.hpp"
#include "events/event.hpp"

namespace why502::test {
namespace {

std::vector<uint8_t> header_bytes(uint32_t type, uint32_t size, size_t total) {
  std::vector<uint8_t> bytes(total, 0xab);
  w5_header h = header(type, size, 123, 1, 1);
  std::memcpy(bytes.data(), &h, std::min(sizeof(h), total));
  return bytes;
}

size_t wire_size(uint32_t type) {
  switch (type) {
#define W5_SIZE_CASE(type_number, type) \
  case type_number:                     \
    return sizeof(type);
    W5_EVENT_TYPES(W5_SIZE_CASE)
#undef W5_SIZE_CASE
    default: return 0;
  }
}

#define W5_TYPE_NUMBER(type_number, type) type_number,
const uint32_t kAllTypes[] = {W5_EVENT_TYPES(W5_TYPE_NUMBER)};
#undef W5_TYPE_NUMBER

// The list names every type number from 1 up, each once: a type left out
// would never decode.
TEST(EventTypes, TheListHasEveryTypeNumberOnce) {
  std::set<uint32_t> numbers(std::begin(kAllTypes), std::end(kAllTypes));
  EXPECT_EQ(numbers.size(), std::size(kAllTypes));
  EXPECT_EQ(*numbers.begin(), 1u);
  EXPECT_EQ(*numbers.rbegin(), std::size(kAllTypes));
  EXPECT_EQ(*numbers.rbegin(), static_cast<uint32_t>(W5_EV_NGX_ERROR_PAGE_TARGET)) << "the newest type is not listed";
}

TEST(DecodeEvent, RejectsAnEmptyBuffer) {
  Result<Event> r = decode_event({});
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("0 bytes"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("shorter than its header"), std::string::npos) << r.error();
}

TEST(DecodeEvent, RejectsABufferShorterThanTheHeader) {
  const std::vector<uint8_t> bytes = header_bytes(W5_EV_NGX_LOG, sizeof(w5_ngx_log), sizeof(w5_header) - 1);
  Result<Event> r = decode_event(bytes);
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find(std::to_string(sizeof(w5_header) - 1) + " bytes"), std::string::npos) << r.error();
}

TEST(DecodeEvent, AcceptsABareHeaderOnlyToRejectItsSize) {
  // Exactly a header: long enough to read the type, too short for any event.
  for (uint32_t type : kAllTypes) {
    const std::vector<uint8_t> bytes = header_bytes(type, sizeof(w5_header), sizeof(w5_header));
    Result<Event> r = decode_event(bytes);
    EXPECT_FALSE(r.ok()) << type;
    EXPECT_NE(r.error().find("expected " + std::to_string(wire_size(type))), std::string::npos)
        << type << ": " << r.error();
  }
}

TEST(DecodeEvent, RejectsTruncatedEventsOfEveryType) {
  for (uint32_t type : kAllTypes) {
    const size_t size = wire_size(type);
    // The header claims the right size, but the bytes stop short.
    const std::vector<uint8_t> bytes = header_bytes(type, static_cast<uint32_t>(size), size - 1);
    Result<Event> r = decode_event(bytes);
    EXPECT_FALSE(r.ok()) << type;
    EXPECT_NE(r.error().find("event type " + std::to_string(type)), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("expected " + std::to_string(size)), std::string::npos) << r.error();
  }
}

TEST(DecodeEvent, RejectsAWrongClaimedSizeOfEveryType) {
  for (uint32_t type : kAllTypes) {
    const size_t size = wire_size(type);
    for (uint32_t claimed : {static_cast<uint32_t>(size - 8), static_cast<uint32_t>(size + 8), 0u, ~0u}) {
      const std::vector<uint8_t> bytes = header_bytes(type, claimed, size);
      Result<Event> r = decode_event(bytes);
      EXPECT_FALSE(r.ok()) << "type " << type << " claimed " << claimed;
      EXPECT_FALSE(r.error().empty());
    }
  }
}

TEST(DecodeEvent, WrongClaimedSizeMessageNamesTheClaimedSize) {
  // The bytes are the right length but the header claims 999: the message
  // must say so, not "has size N, expected N".
  const size_t size = sizeof(w5_ngx_log);
  const std::vector<uint8_t> bytes = header_bytes(W5_EV_NGX_LOG, 999, size);
  Result<Event> r = decode_event(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("999"), std::string::npos) << r.error();
}

TEST(DecodeEvent, RejectsUnknownTypes) {
  for (uint32_t type : {0u, 99u, 1000u, 0xffffffffu}) {
    const std::vector<uint8_t> bytes = header_bytes(type, sizeof(w5_sock_evidence), sizeof(w5_sock_evidence));
    Result<Event> r = decode_event(bytes);
    EXPECT_FALSE(r.ok()) << type;
    EXPECT_EQ(r.error(), "unknown event type " + std::to_string(type));
  }
}

template <typename T>
void expect_round_trip(const T& event) {
  const std::vector<uint8_t> bytes = to_bytes(event);
  Result<Event> r = decode_event(bytes);
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_TRUE(std::holds_alternative<T>(r.value())) << "variant index " << r.value().index();
  EXPECT_EQ(std::memcmp(&std::get<T>(r.value()), &event, sizeof(T)), 0);
  EXPECT_EQ(header_of(r.value()).type, event.h.type);
  EXPECT_EQ(header_of(r.value()).ts_ns, event.h.ts_ns);
  EXPECT_EQ(header_of(r.value()).tgid, event.h.tgid);
  EXPECT_EQ(header_of(r.value()).tid, event.h.tid);
}

TEST(DecodeEvent, DecodesEveryTypeIntoItsOwnStruct) {
  expect_round_trip(make_log({.ts = 11, .pid = 77, .request = 0x1234, .connection = 9, .fmt = "connect() failed",
                              .err = 111, .action = kConnecting, .peer = "127.0.0.1:9000", .upstream_sk = 0x99,
                              .upstream = ipv4("127.0.0.1", 9000), .client = ipv4("10.0.0.1", 5555)}));
  expect_round_trip(make_error_page({.ts = 12, .pid = 77, .request = 0x1234, .connection = 9, .client_sk = 0x42,
                                     .status = 504, .peer = "backend", .client = ipv6("::1", 1),
                                     .states = {not_connected("a", 504, 3), connected_no_header("b", 502, 4, 5)}}));
  expect_round_trip(make_client_response({.ts = 13, .pid = 77, .tid = 78, .sk = 0x42, .status = 502,
                                          .remote = ipv4("10.0.0.1", 5555)}));
  expect_round_trip(make_upstream_status({.ts = 14, .pid = 77, .tid = 78, .sk = 0x43, .status = 503,
                                          .proto = W5_PROTO_FASTCGI, .remote = unix_sock(),
                                          .unix_path = "/run/php.sock"}));
  expect_round_trip(rst(15, 0x44, kTcpSynSent, ipv4("127.0.0.1", 1)));
  expect_round_trip(sock_error(16, 0x44, 111, kTcpClose, ipv4("127.0.0.1", 1)));
  expect_round_trip(syn_retransmit(17, 0x44, ipv4("127.0.0.1", 1)));
  w5_process_fork f{};
  f.h = header(W5_EV_PROCESS_FORK, sizeof(f), 18, 5, 5);
  f.parent_tgid = 5;
  f.child_tgid = 6;
  set_str(f.comm, "nginx");
  expect_round_trip(f);
  expect_round_trip(make_signal({.ts = 19, .sender = 8, .sender_comm = "kill", .sig = 9, .target = 9,
                                 .target_parent = 1, .target_comm = "gunicorn",
                                 .sockets = {held(kHeldListen, ipv4("0.0.0.0", 9000))}}));
  expect_round_trip(make_death(20, 9, 9, "gunicorn"));
  w5_oom_victim oom{};
  oom.h = header(W5_EV_OOM_VICTIM, sizeof(oom), 21, 0, 0);
  oom.pid = 9;
  expect_round_trip(oom);
}

TEST(DecodeEvent, KernelEvidenceTypesShareOneStructAndKeepTheirType) {
  for (uint32_t type : {W5_EV_TCP_RESET, W5_EV_SOCK_ERROR, W5_EV_SYN_RETRANSMIT}) {
    w5_sock_evidence e = make_kernel({type, 1, 0x55, kTcpSynSent, 0, ipv4("127.0.0.1", 9)});
    const std::vector<uint8_t> bytes = to_bytes(e);
    Result<Event> r = decode_event(bytes);
    ASSERT_TRUE(r.ok()) << r.error();
    ASSERT_TRUE(std::holds_alternative<w5_sock_evidence>(r.value()));
    EXPECT_EQ(std::get<w5_sock_evidence>(r.value()).h.type, type);
  }
}

TEST(DecodeEvent, DecodesFromAnUnalignedBuffer) {
  // Events are copied out, so the bytes need no particular alignment.
  const w5_ngx_log log = make_log({.ts = 5, .request = 0x77, .fmt = "recv() failed", .err = 104});
  std::vector<uint8_t> storage(sizeof(log) + 1);
  std::memcpy(storage.data() + 1, &log, sizeof(log));
  Result<Event> r = decode_event(std::span<const uint8_t>(storage.data() + 1, sizeof(log)));
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(std::get<w5_ngx_log>(r.value()).request, 0x77u);
  // And a rejected one from an unaligned buffer still names its type.
  Result<Event> bad = decode_event(std::span<const uint8_t>(storage.data() + 1, sizeof(log) - 1));
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("event type 1"), std::string::npos) << bad.error();
}

TEST(DecodeEvent, NeverCrashesOnArbitraryBytes) {
  std::mt19937 rng(502);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    // Half the buffers have exactly the size of some event.
    const size_t length = rng() % 2 ? wire_size(kAllTypes[rng() % std::size(kAllTypes)]) : rng() % 520;
    std::vector<uint8_t> bytes(length);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    // Most buffers get a plausible header so the size checks are exercised.
    if (bytes.size() >= sizeof(w5_header) && rng() % 4 != 0) {
      w5_header h{};
      std::memcpy(&h, bytes.data(), sizeof(h));
      h.type = rng() % 21;  // every known type, and a few unknown ones (0, 17, 20)
      if (rng() % 2) h.size = static_cast<uint32_t>(bytes.size());
      if (rng() % 4 != 0) h.ts_ns = rng();  // mostly a time a monotonic clock can show
      std::memcpy(bytes.data(), &h, sizeof(h));
    }
    Result<Event> r = decode_event(bytes);
    if (bytes.size() < sizeof(w5_header)) {
      EXPECT_FALSE(r.ok());
      continue;
    }
    w5_header h{};
    std::memcpy(&h, bytes.data(), sizeof(h));
    const size_t expected = wire_size(h.type);
    const bool should_accept =
        expected != 0 && h.size == expected && bytes.size() >= expected && h.ts_ns < kMaxMonotonicNs;
    EXPECT_EQ(r.ok(), should_accept) << "type " << h.type << " size " << h.size << " bytes " << bytes.size();
    if (!r.ok()) {
      EXPECT_FALSE(r.error().empty());
    }
    accepted += r.ok();
  }
  EXPECT_GT(accepted, 100);  // the generator does reach the accepting path
}

// Found by fuzzing (event_decoder): a time past any monotonic clock overflowed
// the wall-clock sum of every record made from the event (undefined behaviour).
TEST(DecodeEvent, RejectsATimeNoMonotonicClockShows) {
  w5_oom_victim e{};
  e.h = header(W5_EV_OOM_VICTIM, sizeof(e), kMaxMonotonicNs, 0, 0);
  Result<Event> r = decode_event(to_bytes(e));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no CLOCK_MONOTONIC"), std::string::npos) << r.error();
  e.h.ts_ns = kMaxMonotonicNs - 1;
  EXPECT_TRUE(decode_event(to_bytes(e)).ok());
}

// ---------------------------------------------------------------------------
// Addresses as nginx prints them.

TEST(FormatAddress, Ipv4) {
  EXPECT_EQ(format_endpoint(ipv4("127.0.0.1", 9000)), "127.0.0.1:9000");
  EXPECT_EQ(format_endpoint(ipv4("192.0.2.255", 65535)), "192.0.2.255:65535");
  EXPECT_EQ(format_ip(ipv4("10.1.2.3", 80)), "10.1.2.3");
}

TEST(FormatAddress, Ipv6InBracketsWithPort) {
  EXPECT_EQ(format_endpoint(ipv6("::1", 9000)), "[::1]:9000");
  EXPECT_EQ(format_endpoint(ipv6("2001:db8::10", 443)), "[2001:db8::10]:443");
  EXPECT_EQ(format_endpoint(ipv6("::ffff:127.0.0.1", 80)), "[::ffff:127.0.0.1]:80");
  EXPECT_EQ(format_ip(ipv6("2001:db8::10", 443)), "2001:db8::10");
}

TEST(FormatAddress, UnixAndUnknown) {
  EXPECT_EQ(format_endpoint(unix_sock()), "unix:");
  EXPECT_EQ(format_ip(unix_sock()), "unix:");
  EXPECT_EQ(format_endpoint(w5_addr{}), "");
  w5_addr odd{};
  odd.family = 17;  // AF_PACKET
  EXPECT_EQ(format_endpoint(odd), "");
}

TEST(FormatAddress, WireStringStopsAtNulOrAtTheEnd) {
  char full[4] = {'a', 'b', 'c', 'd'};  // no NUL at all
  EXPECT_EQ(wire_string(full), "abcd");
  char part[8] = {'u', 'n', 'i', 'x', '\0', 'z', 'z', 'z'};
  EXPECT_EQ(wire_string(part), "unix");
}

}  // namespace
}  // namespace why502::test

// Record writers (JSON lines, text) and the wall clock they print.
#include <ctime>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "attribution/record.hpp"
#include "event_builders.hpp"
#include "output/clock.hpp"
#include "output/record_sink.hpp"

namespace why502::test {
namespace {

using nlohmann::json;

// 2023-11-14T22:13:20Z
constexpr int64_t kEpoch2023 = 1'700'000'000'000'000'000;

Record sample_record() {
  Record r;
  r.ts_ns = 5'000'000'000;  // monotonic
  r.pid = 4242;
  r.status = 502;
  r.cause = Cause::reset;
  r.client = "192.0.2.10:51000";
  r.upstream = "127.0.0.1:9001";
  r.evidence = {"upstream 127.0.0.1:9001 reset the connection before a full response header",
                "nginx: recv() failed (104: Connection reset by peer)", "attempt 1: 127.0.0.1:9000 refused",
                "attempt 2: 127.0.0.1:9001 reset"};
  r.attempts = {Attempt{"127.0.0.1:9000", Cause::refused, 502, 0},
                Attempt{"127.0.0.1:9001", Cause::reset, 502, 12.5}};
  r.nginx_error = "recv() failed (104: Connection reset by peer) while reading response header from upstream";
  r.source = RecordSource::uprobe;
  return r;
}

// A clock that maps monotonic 5 s to 2023-11-14T22:13:20.123456789Z.
WallClock sample_clock() { return WallClock(kEpoch2023 + 123'456'789 - 5'000'000'000); }

// ---------------------------------------------------------------------------

TEST(FormatRfc3339, KnownInstants) {
  EXPECT_EQ(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339_us(kEpoch2023), "2023-11-14T22:13:20.000000Z");
  EXPECT_EQ(format_rfc3339_us(kEpoch2023 + 123'456'789), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(format_rfc3339_us(1'709'208'000'000'001'000), "2024-02-29T12:00:00.000001Z");  // leap day
  EXPECT_EQ(format_rfc3339_us(1'767'225'599'999'999'000), "2025-12-31T23:59:59.999999Z");
  // The same second again, and the next one: the cached date must not stick.
  EXPECT_EQ(format_rfc3339_us(1'767'225'599'000'001'000), "2025-12-31T23:59:59.000001Z");
  EXPECT_EQ(format_rfc3339_us(1'767'225'600'000'000'000), "2026-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_rfc3339_us(0), "1970-01-01T00:00:00.000000Z");
}

TEST(FormatRfc3339, TruncatesToTheMicrosecond) {
  EXPECT_EQ(format_rfc3339_us(1'999'999'999), "1970-01-01T00:00:01.999999Z");
  EXPECT_EQ(format_rfc3339_us(kEpoch2023 + 999), "2023-11-14T22:13:20.000000Z");
}

TEST(FormatRfc3339, BeforeTheEpochBorrowsASecond) {
  EXPECT_EQ(format_rfc3339_us(-1'000'000), "1969-12-31T23:59:59.999000Z");
  EXPECT_EQ(format_rfc3339_us(-1'500'000'000), "1969-12-31T23:59:58.500000Z");
}

TEST(WallClock, AddsTheOffsetToMonotonicTime) {
  const WallClock clock(kEpoch2023);
  EXPECT_EQ(clock.offset_ns(), kEpoch2023);
  EXPECT_EQ(clock.to_realtime_ns(0), kEpoch2023);
  EXPECT_EQ(clock.to_realtime_ns(1'500'000), kEpoch2023 + 1'500'000);
}

TEST(WallClock, DefaultSamplesTheRealOffset) {
  timespec rt{}, mono{};
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mono);
  const int64_t expected = (int64_t(rt.tv_sec) - int64_t(mono.tv_sec)) * 1'000'000'000 + (rt.tv_nsec - mono.tv_nsec);
  const WallClock clock;
  EXPECT_LT(std::llabs(clock.offset_ns() - expected), 100'000'000) << clock.offset_ns() << " vs " << expected;
}

// ---------------------------------------------------------------------------

TEST(RecordJson, IsValidJsonWithTheDocumentedKeys) {
  const std::string text = record_to_json(sample_record(), sample_clock());
  EXPECT_EQ(text.find('\n'), std::string::npos) << "one record is one line";
  const json j = json::parse(text);  // throws (fails the test) if invalid
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("type"), "gateway_error");
  EXPECT_EQ(j.at("ts"), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(j.at("pid"), 4242);
  EXPECT_EQ(j.at("status"), 502);
  EXPECT_EQ(j.at("cause"), "reset");
  EXPECT_EQ(j.at("client"), "192.0.2.10:51000");
  EXPECT_EQ(j.at("upstream"), "127.0.0.1:9001");
  EXPECT_EQ(j.at("source"), "uprobe");
  EXPECT_EQ(j.at("nginx_error"),
            "recv() failed (104: Connection reset by peer) while reading response header from upstream");

  ASSERT_TRUE(j.at("evidence").is_array());
  ASSERT_EQ(j.at("evidence").size(), 4u);
  EXPECT_EQ(j["evidence"][0], "upstream 127.0.0.1:9001 reset the connection before a full response header");
  EXPECT_EQ(j["evidence"][3], "attempt 2: 127.0.0.1:9001 reset");

  ASSERT_TRUE(j.at("attempts").is_array());
  ASSERT_EQ(j.at("attempts").size(), 2u);
  const json& a0 = j["attempts"][0];
  const json& a1 = j["attempts"][1];
  EXPECT_EQ(a0.at("upstream"), "127.0.0.1:9000");
  EXPECT_EQ(a0.at("cause"), "refused");
  EXPECT_EQ(a0.at("status"), 502);
  ASSERT_TRUE(a0.at("ms").is_number());
  EXPECT_DOUBLE_EQ(a0.at("ms").get<double>(), 0.0);
  EXPECT_EQ(a1.at("upstream"), "127.0.0.1:9001");
  EXPECT_EQ(a1.at("cause"), "reset");
  EXPECT_DOUBLE_EQ(a1.at("ms").get<double>(), 12.5);
}

TEST(RecordJson, UnknownAttemptDurationIsNull) {
  Record r = sample_record();
  r.attempts = {Attempt{"127.0.0.1:9000", Cause::upstream_status, 503, -1}};
  const json j = json::parse(record_to_json(r, sample_clock()));
  ASSERT_EQ(j.at("attempts").size(), 1u);
  EXPECT_TRUE(j["attempts"][0].at("ms").is_null()) << j.dump();
}

TEST(RecordJson, EmptyRecordIsStillValidWithEmptyArrays) {
  Record r;
  const json j = json::parse(record_to_json(r, WallClock(0)));
  EXPECT_EQ(j.at("ts"), "1970-01-01T00:00:00.000000Z");
  EXPECT_TRUE(j.at("status").is_null()) << j.dump();  // unknown status
  EXPECT_EQ(j.at("cause"), "unknown");
  EXPECT_EQ(j.at("client"), "");
  EXPECT_TRUE(j.at("upstream").is_null()) << j.dump();
  EXPECT_TRUE(j.at("evidence").is_array());
  EXPECT_TRUE(j.at("evidence").empty());
  EXPECT_TRUE(j.at("attempts").is_array());
  EXPECT_TRUE(j.at("attempts").empty());
  EXPECT_FALSE(j.contains("nginx_error")) << j.dump();
}

TEST(RecordJson, ALimitedRequestHasNullForUpstream) {
  // limit_req / limit_conn reject before any upstream: null, not "" (which
  // would read as an upstream with an empty name); the text writer says "-".
  Record r = sample_record();
  r.status = 503;
  r.cause = Cause::limited;
  r.upstream.clear();
  r.attempts.clear();
  const json j = json::parse(record_to_json(r, sample_clock()));
  ASSERT_TRUE(j.contains("upstream")) << "every record has the same keys";
  EXPECT_TRUE(j.at("upstream").is_null()) << j.dump();
  EXPECT_TRUE(j.at("attempts").empty());
}

TEST(RecordJson, EscapesQuotesBackslashesAndControlCharacters) {
  Record r = sample_record();
  const std::string nasty = std::string("say \"hi\"\\path\nline2\r\tend") + '\x01' + '\x1f' + '\x7f';
  r.client = nasty;
  r.evidence = {nasty};
  r.attempts = {Attempt{nasty, Cause::refused, 502, 1}};
  r.nginx_error = nasty;
  const std::string text = record_to_json(r, sample_clock());
  for (unsigned char c : text) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "raw byte " << int(c) << " in " << text;
  EXPECT_NE(text.find(R"(say \"hi\"\\path\nline2\r\tend\u0001\u001f\u007f)"), std::string::npos) << text;
  const json j = json::parse(text);
  EXPECT_EQ(j.at("client"), nasty);
  EXPECT_EQ(j.at("evidence")[0], nasty);
  EXPECT_EQ(j.at("attempts")[0].at("upstream"), nasty);
  EXPECT_EQ(j.at("nginx_error"), nasty);
}

TEST(RecordJson, EscapesEveryNonAsciiByteOnItsOwn) {
  // Bytes from nginx's memory are not trusted to be UTF-8: each byte >= 0x80
  // becomes \u00XX, so the output is ASCII and always parses.
  Record r = sample_record();
  r.upstream = "caf\xc3\xa9 \xff\xfe";  // valid UTF-8 "é", then two invalid bytes
  const std::string text = record_to_json(r, sample_clock());
  for (unsigned char c : text) EXPECT_LT(c, 0x80) << text;
  EXPECT_NE(text.find(R"("caf\u00c3\u00a9 \u00ff\u00fe")"), std::string::npos) << text;
  const json j = json::parse(text);
  EXPECT_EQ(j.at("upstream"), "caf\u00c3\u00a9 \u00ff\u00fe");  // each byte as its own code point
}

TEST(RecordJson, EveryCauseNameAppearsVerbatim) {
  for (int i = 0; i < 16; ++i) {
    Record r;
    r.cause = static_cast<Cause>(i);
    const json j = json::parse(record_to_json(r, WallClock(0)));
    EXPECT_EQ(j.at("cause"), std::string(cause_name(r.cause)));
  }
}

TEST(JsonSink, WritesABatchAtFlushOneLinePerRecord) {
  std::ostringstream out;
  auto sink = make_json_sink(out, sample_clock());
  Record first = sample_record();
  Record second = sample_record();
  second.cause = Cause::limited;
  second.ts_ns += 1'000;  // 1 µs later
  sink->write(first);
  sink->write(second);
  EXPECT_TRUE(out.str().empty()) << "written before the batch's flush";
  sink->flush();
  const std::string text = out.str();
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  std::istringstream lines(text);
  std::string line;
  std::vector<json> parsed;
  while (std::getline(lines, line)) parsed.push_back(json::parse(line));
  ASSERT_EQ(parsed.size(), 2u) << text;
  EXPECT_EQ(parsed[0].at("cause"), "reset");
  EXPECT_EQ(parsed[1].at("cause"), "limited");
  EXPECT_EQ(parsed[1].at("ts"), "2023-11-14T22:13:20.123457Z");
}

TEST(JsonSink, WritesWhatIsPendingWhenItGoes) {
  std::ostringstream out;
  {
    auto sink = make_json_sink(out, sample_clock());
    sink->write(sample_record());
  }
  ASSERT_FALSE(out.str().empty());
  EXPECT_EQ(json::parse(out.str()).at("cause"), "reset");
}

TEST(TextSink, OneHeadlineLineThenIndentedEvidence) {
  std::ostringstream out;
  auto sink = make_text_sink(out, sample_clock());
  Record r = sample_record();
  r.evidence = {"first line", "second line", "third line"};
  sink->write(r);
  EXPECT_EQ(out.str(),
            "2023-11-14T22:13:20.123456Z 502 reset client=192.0.2.10:51000 upstream=127.0.0.1:9001 pid=4242"
            " — first line\n"
            "    second line\n"
            "    third line\n");
}

TEST(TextSink, DashesForMissingClientAndUpstream) {
  std::ostringstream out;
  auto sink = make_text_sink(out, WallClock(0));
  Record r;
  r.status = 503;
  r.cause = Cause::limited;
  r.pid = 7;
  sink->write(r);
  EXPECT_EQ(out.str(), "1970-01-01T00:00:00.000000Z 503 limited client=- upstream=- pid=7\n");
}

TEST(TextSink, OtherRecordTypesAreNamedAndAMissingStatusIsADash) {
  std::ostringstream out;
  auto sink = make_text_sink(out, WallClock(0));
  Record r;
  r.type = RecordType::truncated;
  r.cause = Cause::closed_early;
  r.client = "192.0.2.10:51000";
  r.upstream = "127.0.0.1:9000";
  r.pid = 7;
  r.evidence = {"cut off"};
  sink->write(r);
  EXPECT_EQ(out.str(),
            "1970-01-01T00:00:00.000000Z truncated - closed_early client=192.0.2.10:51000 upstream=127.0.0.1:9000 "
            "pid=7 — cut off\n");
}

// ---------------------------------------------------------------------------

TEST(EngineToJson, RefusedStoryRendersAsDocumented) {
  EngineHarness h;
  const w5_addr backend = ipv4("127.0.0.1", 9000);
  h.feed(rst(sec(5), 0xa1, kTcpSynSent, backend));
  h.feed(make_log({.ts = sec(5.0001), .request = 0xb1, .connection = 1, .fmt = "connect() failed",
                   .err = 111, .action = kConnecting, .peer = "127.0.0.1:9000", .upstream_sk = 0xa1,
                   .upstream = backend, .client = ipv6("::1", 40000)}));
  h.feed(make_error_page({.ts = sec(5.0002), .request = 0xb1, .connection = 1, .client_sk = 0xc1, .status = 502,
                          .peer = "127.0.0.1:9000", .client = ipv6("::1", 40000),
                          .states = {not_connected("127.0.0.1:9000", 502, 0)}}));
  ASSERT_EQ(h.records().size(), 1u);
  const json j = json::parse(record_to_json(h.records()[0], WallClock(kEpoch2023)));
  EXPECT_EQ(j.at("ts"), "2023-11-14T22:13:25.000200Z");
  EXPECT_EQ(j.at("cause"), "refused");
  EXPECT_EQ(j.at("client"), "[::1]:40000");
  EXPECT_EQ(j.at("upstream"), "127.0.0.1:9000");
  EXPECT_EQ(j.at("pid"), kWorker);
  ASSERT_EQ(j.at("attempts").size(), 1u);
  EXPECT_EQ(j["attempts"][0].at("cause"), "refused");
  EXPECT_DOUBLE_EQ(j["attempts"][0].at("ms").get<double>(), 0.0);
  bool has_kernel_line = false;
  for (const auto& line : j.at("evidence"))
    has_kernel_line |= line.get<std::string>().find("RST in reply to SYN") != std::string::npos;
  EXPECT_TRUE(has_kernel_line) << j.dump(2);
}

}  // namespace
}  // namespace why502::test

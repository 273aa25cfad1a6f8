// The report summary, the top view and the small parsers behind the CLI.
#include <gtest/gtest.h>

#include "output/report.hpp"
#include "output/top_view.hpp"

namespace why502 {
namespace {

Record gateway_error(uint64_t ts_ns, Cause cause, const std::string& upstream, int status = 502) {
  Record r;
  r.ts_ns = ts_ns;
  r.cause = cause;
  r.upstream = upstream;
  r.status = status;
  r.client = "127.0.0.1:40000";
  r.evidence = {"headline for " + upstream, "nginx: something"};
  return r;
}

TEST(Report, SummarisesByCauseStatusUpstreamAndSecond) {
  Report report;
  report.clock = WallClock(1'000'000'000'000'000'000);  // monotonic 0 = 2001-09-09T01:46:40Z
  report.records = {gateway_error(1'000'000'000, Cause::refused, "a:1"),
                    gateway_error(1'500'000'000, Cause::refused, "a:1"),
                    gateway_error(2'100'000'000, Cause::reset, "b:2", 504)};
  Record retried = gateway_error(2'200'000'000, Cause::refused, "a:1", 200);
  retried.type = RecordType::retried;
  report.records.push_back(retried);
  summarise(report);
  EXPECT_EQ(report.by_cause.at("refused"), 2u);
  EXPECT_EQ(report.by_cause.at("reset"), 1u);
  EXPECT_EQ(report.by_status.at("504"), 1u);
  EXPECT_EQ(report.by_upstream.at("a:1"), 2u);
  EXPECT_EQ(report.by_type.at("retried"), 1u);
  ASSERT_EQ(report.per_second.size(), 2u);  // seconds 1 and 2 after the start
  EXPECT_EQ(report.per_second.begin()->second.at("refused"), 2u);
  ASSERT_FALSE(report.top_evidence.empty());
  EXPECT_EQ(report.top_evidence[0].first, "nginx: something");
  EXPECT_EQ(report.top_evidence[0].second, 3u);
  const std::string json = report_json(report);
  EXPECT_NE(json.find("\"by_cause\":{\"refused\":2,\"reset\":1}"), std::string::npos) << json;
  const std::string html = report_html(report);
  EXPECT_NE(html.find("<svg id=\"timeline\""), std::string::npos);
  EXPECT_NE(html.find("<title>01:46:41 UTC: 2 refused (2 in all)</title>"), std::string::npos) << html;
}

TEST(Report, TextRoundsItsNumbersForPeople) {
  Report report;
  report.clock = WallClock(1'000'000'000'000'000'000);
  report.first_ns = 1'000'000'000'000'000'000;
  report.last_ns = *report.first_ns + 2'742'761'000;  // 2.742761 s
  report.events = 99;
  for (int i = 0; i < 15; ++i) report.records.push_back(gateway_error(i * 100'000'000ull, Cause::refused, "a:1"));
  summarise(report);
  const std::string text = report_text(report);
  EXPECT_NE(text.find("(2.743 s, 99 events)"), std::string::npos) << text;
  EXPECT_NE(text.find("errors per second (average): 5.47\n"), std::string::npos) << text;  // not 5.46895
}

TEST(Report, DurationsScaleTheirUnit) {
  EXPECT_EQ(format_duration(0), "0.000 s");
  EXPECT_EQ(format_duration(2.742761), "2.743 s");
  EXPECT_EQ(format_duration(42.66), "42.7 s");
  EXPECT_EQ(format_duration(252.9), "4 min 12 s");
  EXPECT_EQ(format_duration(3 * 3600 + 5 * 60 + 59), "3 h 5 min");
}

TEST(Report, ParsesRfc3339) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_FALSE(parse_rfc3339("yesterday"));
  EXPECT_FALSE(parse_rfc3339("1970-01-01T00:00:01"));  // no zone: ambiguous
}

// Found by the command-line fuzzer (--since/--until): a year past 2262
// overflowed the nanoseconds (undefined behaviour) into some other time.
TEST(Report, Rfc3339TimesBeyondNanosecondsInInt64AreRejected) {
  EXPECT_FALSE(parse_rfc3339("6510-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("9999-12-31T23:59:59.999999999+23:59"));
  EXPECT_FALSE(parse_rfc3339("1600-01-01T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2261-12-31T23:59:59Z"));
  EXPECT_TRUE(parse_rfc3339("1700-01-01T00:00:00-05:00"));
  EXPECT_FALSE(parse_rfc3339("2026-11-21T23:30:00+99:99"));  // offsets end at 23:59
}

TEST(TopView, RatesOverTheWindowAndLatestFirst) {
  TopView view(WallClock(0), 10);
  view.add(gateway_error(1'000'000'000, Cause::refused, "127.0.0.1:9000"));
  view.add(gateway_error(2'000'000'000, Cause::refused, "127.0.0.1:9000"));
  view.add(gateway_error(3'000'000'000, Cause::slow_backend, "127.0.0.1:9001", 504));
  const std::string screen = view.render(5'000'000'000, 42, 0, 160, 40);
  EXPECT_NE(screen.find("events 42  lost 0"), std::string::npos) << screen;
  EXPECT_NE(screen.find("over the last 10 s: 0.3"), std::string::npos) << screen;
  EXPECT_NE(screen.find("refused                  0.2000"), std::string::npos) << screen;
  // Newest first among the latest records.
  EXPECT_LT(screen.find("slow_backend 127.0.0.1:9001"), screen.find("refused 127.0.0.1:9000")) << screen;

  // Twenty seconds on, the window is empty; lost events are shouted.
  const std::string later = view.render(25'000'000'000, 42, 3, 160, 40);
  EXPECT_NE(later.find("over the last 10 s: 0.0"), std::string::npos) << later;
  EXPECT_NE(later.find("EVENTS LOST"), std::string::npos) << later;
  // Narrow, short terminals get clipped lines and no more lines than fit.
  const std::string narrow = view.render(25'000'000'000, 42, 3, 30, 5);
  size_t lines = 0;
  for (size_t start = 0, end; (end = narrow.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(end - start, 30u) << narrow;
    ++lines;
  }
  EXPECT_EQ(lines, 5u) << narrow;
}

}  // namespace
}  // namespace why502

#include "output/metrics.hpp"

namespace why502 {
namespace {

TEST(Metrics, CountsByCauseAndCapsUpstreamLabels) {
  Metrics metrics(3);  // a:1, z:9 (an attempt), b"2 — then c:3 is "other"
  Record first = gateway_error(1, Cause::refused, "a:1");
  first.attempts = {Attempt{"z:9", Cause::reset, 502, 1}, Attempt{"a:1", Cause::refused, 502, 0}};
  metrics.add(first);
  metrics.add(gateway_error(2, Cause::refused, "b\"2"));   // a quote needs escaping
  metrics.add(gateway_error(3, Cause::refused, "c:3"));    // past the cap
  Record retried = gateway_error(4, Cause::reset, "a:1", 200);
  retried.type = RecordType::retried;
  retried.attempts = {Attempt{"a:1", Cause::reset, 0, -1}};
  metrics.add(retried);
  const std::string text = metrics.render(ProbeHealth{10, 1, 0, 0});
  EXPECT_NE(text.find("why502_gateway_errors_total{status=\"502\",cause=\"refused\",upstream=\"a:1\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("upstream=\"other\"} 1"), std::string::npos) << text;  // c:3 folded
  EXPECT_NE(text.find("upstream=\"b\\\"2\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_upstream_failures_total{cause=\"reset\",upstream=\"z:9\",outcome=\"retried\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("why502_upstream_failures_total{cause=\"reset\",upstream=\"a:1\",outcome=\"retried\"} 1"),
            std::string::npos) << text;
  EXPECT_NE(text.find("why502_events_lost_total{reason=\"ringbuf_full\"} 1"), std::string::npos) << text;
  EXPECT_EQ(text.find("c:3"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_records_total{type=\"retried\"} 1"), std::string::npos) << text;
}

TEST(Metrics, ThePendingTableItsFillAndWhatLeftIt) {
  ProbeHealth health;
  health.pending = PendingTable{.requests = 3, .capacity = 256, .evicted = 2, .superseded = 4000, .expired = 1};
  const std::string text = Metrics().render(health);
  EXPECT_NE(text.find("# TYPE why502_pending_requests gauge\nwhy502_pending_requests 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nwhy502_pending_requests_capacity 256\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE why502_pending_requests_dropped_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_pending_requests_dropped_total{reason=\"superseded\"} 4000\n"), std::string::npos);
  EXPECT_NE(text.find("why502_pending_requests_dropped_total{reason=\"expired\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("why502_pending_requests_dropped_total{reason=\"evicted\"} 2\n"), std::string::npos);
}

TEST(Metrics, LatencyHistogramsAreCumulativeAndCapped) {
  Metrics metrics(1);
  KernelTables tables;
  UpstreamLatency a;
  a.upstream = "a:1";
  a.buckets[0] = 2;   // <= 0.5 ms
  a.buckets[3] = 1;   // <= 5 ms
  a.buckets[15] = 1;  // beyond 30 s
  a.sum_ns = 31'000'000'000ULL;
  UpstreamLatency b = a;  // past the cap: folded into "other" with c
  b.upstream = "b:2";
  UpstreamLatency c = a;
  c.upstream = "c:3";
  UpstreamLatency connect = a;
  connect.kind = W5_LATENCY_CONNECT;
  tables.latencies = {a, b, c, connect};
  tables.maps = {{"awaiting_response", 7, 65536}};
  metrics.set_kernel_tables(tables);
  const std::string text = metrics.render(ProbeHealth{});
  EXPECT_NE(text.find("# TYPE why502_upstream_header_seconds histogram"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_upstream_header_seconds_bucket{upstream=\"a:1\",le=\"0.0005\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("why502_upstream_header_seconds_bucket{upstream=\"a:1\",le=\"0.001\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("why502_upstream_header_seconds_bucket{upstream=\"a:1\",le=\"0.005\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("why502_upstream_header_seconds_bucket{upstream=\"a:1\",le=\"30\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("why502_upstream_header_seconds_bucket{upstream=\"a:1\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("why502_upstream_header_seconds_sum{upstream=\"a:1\"} 31\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_upstream_header_seconds_count{upstream=\"other\"} 8\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_upstream_connect_seconds_count{upstream=\"a:1\"} 4\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("b:2"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_bpf_map_entries{map=\"awaiting_response\"} 7\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_bpf_map_capacity{map=\"awaiting_response\"} 65536\n"), std::string::npos) << text;
  // A second read replaces the first (the kernel's histograms are cumulative).
  metrics.set_kernel_tables(tables);
  EXPECT_NE(metrics.render(ProbeHealth{}).find("why502_upstream_header_seconds_count{upstream=\"other\"} 8\n"),
            std::string::npos);
}

}  // namespace
}  // namespace why502

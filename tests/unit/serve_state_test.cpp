// serve reads the kernel's tables at scrape time, on the endpoint's thread;
// the tracer's hooks must not wait for that read.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "cli/serve_state.hpp"
#include "gate.hpp"

namespace why502 {
namespace {

// A table reader that blocks at a gate until the test lets it finish.
KernelTables gated_read(test::Gate& gate) {
  gate.pass();
  KernelTables tables;
  tables.maps.push_back({"watched_sockets", 3, 16384});
  return tables;
}

TEST(ServeState, AScrapeReadingTheTablesDoesNotHoldUpTheTracer) {
  ServeState state(50);
  test::Gate reader;
  state.set_tables_reader([&] { return gated_read(reader); });
  std::string text;
  std::thread scraper([&] { text = state.scrape(); });
  reader.wait_arrived(1);

  // What on_record and on_tick do, while the scrape is in the middle of its read.
  auto tracer = std::async(std::launch::async, [&] {
    Record r;
    r.status = 504;
    r.cause = Cause::backlog_full;
    r.upstream = "127.0.0.1:9100";
    state.add(r);
    ProbeHealth health;
    health.events = 5;
    state.set_health(health);
  });
  // Returns at once when the hooks do not wait; the bound only turns a hang into a failure.
  const std::future_status tracer_status = tracer.wait_for(std::chrono::seconds(30));
  reader.open();
  scraper.join();
  tracer.wait();
  ASSERT_EQ(tracer_status, std::future_status::ready) << "on_record/on_tick waited for the scrape's table read";

  // The scrape shows what the tracer added during its read, and the tables.
  EXPECT_NE(text.find("why502_gateway_errors_total{status=\"504\",cause=\"backlog_full\",upstream=\"127.0.0.1:9100\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("why502_events_total 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_bpf_map_entries{map=\"watched_sockets\"} 3\n"), std::string::npos) << text;
}

TEST(ServeState, ARevokedReaderIsNotCalled) {
  ServeState state(50);
  int calls = 0;
  state.set_tables_reader([&] {
    ++calls;
    return KernelTables{};
  });
  state.scrape();
  state.set_tables_reader({});
  const std::string text = state.scrape();
  EXPECT_EQ(calls, 1);
  EXPECT_NE(text.find("why502_events_total 0\n"), std::string::npos);
}

TEST(ConsumerLag, QuantilesAreBucketBoundsAndTheHistogramIsExported) {
  ConsumerLag lag;
  for (int i = 0; i < 98; ++i) lag.add(1'000'000'000, 1'000'000'000 + 30'000);  // 30 µs
  lag.add(1'000'000'000, 1'000'000'000 + 300'000'000);                           // 300 ms
  lag.add(1'000'000'000, 1'000'000'000 + 20'000'000'000ull);                     // 20 s: past the last bound
  EXPECT_EQ(lag.quantile_bound_ns(0.5), 50'000u);
  EXPECT_EQ(lag.quantile_bound_ns(0.99), 500'000'000u);
  EXPECT_EQ(lag.quantile_bound_ns(1.0), UINT64_MAX);
  EXPECT_EQ(lag.max_ns(), 20'000'000'000ull);
  lag.add(2'000, 1'000);  // stamped a hair after our clock: no lag, not a wrap
  EXPECT_EQ(lag.buckets()[0], 1u);

  ProbeHealth health;
  health.lag = lag;
  const std::string text = Metrics().render(health);
  EXPECT_NE(text.find("why502_consumer_lag_seconds_bucket{le=\"5e-05\"} 99\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_consumer_lag_seconds_bucket{le=\"+Inf\"} 101\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_consumer_lag_seconds_count 101\n"), std::string::npos) << text;
}

TEST(Metrics, EachNginxBinaryHasItsReadFailuresAndLayoutCheckState) {
  ProbeHealth health;
  health.nginx_binaries = {{"/usr/sbin/nginx", 3, 10, false},
                           {"/opt/nginx/sbin/nginx", 0, 0, false},
                           {"/srv/odd\"nginx", 7, 1, true}};
  const std::string text = Metrics().render(health);
  EXPECT_NE(text.find("why502_nginx_read_failures_total{binary=\"/usr/sbin/nginx\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("why502_nginx_layout_check{binary=\"/usr/sbin/nginx\",state=\"passed\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("why502_nginx_layout_check{binary=\"/usr/sbin/nginx\",state=\"failed\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("why502_nginx_layout_check{binary=\"/opt/nginx/sbin/nginx\",state=\"unchecked\"} 1\n"),
            std::string::npos);
  // A failed binary is failed, whatever passed before; its label is escaped.
  EXPECT_NE(text.find("why502_nginx_layout_check{binary=\"/srv/odd\\\"nginx\",state=\"failed\"} 1\n"),
            std::string::npos) << text;
  EXPECT_NE(text.find("why502_nginx_layout_check{binary=\"/srv/odd\\\"nginx\",state=\"passed\"} 0\n"),
            std::string::npos);
}

}  // namespace
}  // namespace why502

// The attribution engine alone (Google Benchmark): how many events per second
// one core attributes when a recording is replayed, how much memory it holds
// for 10k upstream connections with a failure in progress, and what one more
// failure costs as the table of pending failures fills.
//
//   why502_engine_bench [--recording FILE] [benchmark flags]
// The recording should hold gateway errors (scripts/bench.py records a 502
// storm for it); the events are decoded once, then fed to a fresh engine per
// iteration, as `why502 report` does. Without one, only the synthetic
// benchmarks run.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "events/event.hpp"
#include "output/record_sink.hpp"
#include "recording/reader.hpp"

namespace {

std::vector<why502::Event> g_events;

void replay_recording(benchmark::State& state) {
  std::vector<why502::Record> records;
  uint64_t gateway_errors = 0;
  for (auto _ : state) {
    why502::Engine engine;
    for (const why502::Event& e : g_events) {
      engine.handle(e, records);
      gateway_errors += records.size();  // handed on and dropped, as the live loop does
      records.clear();
    }
    engine.finish(records);
    gateway_errors += records.size();
    records.clear();
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(g_events.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["records_per_replay"] = static_cast<double>(gateway_errors) / static_cast<double>(state.iterations());
}

// The recording's records written as JSON lines, as `serve --log` and
// `trace --format json` write them: most of why502's own CPU in a storm.
void records_as_json(benchmark::State& state) {
  std::vector<why502::Record> records;
  why502::Engine engine;
  for (const why502::Event& e : g_events) engine.handle(e, records);
  engine.finish(records);
  const why502::WallClock clock(0);
  std::string out;
  size_t bytes = 0;
  for (auto _ : state) {
    for (const why502::Record& r : records) {
      why502::append_record_json(out, r, clock);
      out += '\n';
    }
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
    out.clear();
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(records.size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["bytes_per_record"] = static_cast<double>(bytes) / static_cast<double>(std::max<size_t>(records.size(), 1));
}

// Clones of the recording's first nginx error log line and socket error, each
// for another request and socket, none finished: what the engine keeps while
// 10k upstream connections are failing at once.
void ten_thousand_connections(benchmark::State& state) {
  const w5_ngx_log* log = nullptr;
  const w5_sock_evidence* sock = nullptr;
  for (const why502::Event& e : g_events) {
    if (!log) log = std::get_if<w5_ngx_log>(&e);
    if (!sock) sock = std::get_if<w5_sock_evidence>(&e);
  }
  if (!log || !sock) {
    state.SkipWithError("the recording has no nginx log line or socket error to clone");
    return;
  }
  const size_t connections = static_cast<size_t>(state.range(0));
  double bytes = 0;
  for (auto _ : state) {
    const size_t before = mallinfo2().uordblks;
    {
      why502::Engine engine;
      std::vector<why502::Record> records;
      for (size_t i = 0; i < connections; ++i) {
        w5_sock_evidence s = *sock;
        s.sk += 4096 * (i + 1);
        engine.handle(s, records);
        w5_ngx_log l = *log;
        l.request += 4096 * (i + 1);
        l.connection += i + 1;
        l.upstream_sk = s.sk;
        engine.handle(l, records);
      }
      bytes = static_cast<double>(mallinfo2().uordblks - before);
      benchmark::DoNotOptimize(records);
    }
  }
  state.counters["held_MiB"] = bytes / (1 << 20);
  state.counters["bytes_per_connection"] = bytes / static_cast<double>(connections);
}

template <size_t N>
void copy_text(char (&to)[N], const char* text) {
  std::snprintf(to, N, "%s", text);
}

// nginx logging a refused connect() for request i: its own request address,
// connection number and client socket, as for requests all in flight at once.
w5_ngx_log refused_attempt(uint64_t i) {
  w5_ngx_log e{};
  e.h.type = W5_EV_NGX_LOG;
  e.h.size = sizeof(e);
  e.h.ts_ns = 1'000'000'000ull + 1000 * i;
  e.h.tgid = e.h.tid = 4242;
  e.request = 0x55d0c0000000 + 0x1000 * i;
  e.connection = 1 + i;
  e.client_sk = 0xffff888200000000 + 0x800 * i;
  e.level = 4;  // NGX_LOG_ERR
  e.err = ECONNREFUSED;
  e.client.family = AF_INET;
  e.client.port = 51000;
  inet_pton(AF_INET, "192.0.2.10", e.client.addr);
  copy_text(e.peer, "127.0.0.1:9000");
  copy_text(e.fmt, "connect() failed");
  copy_text(e.action, "connecting to upstream");
  return e;
}

// One failed attempt of a new request, fed to an engine whose table of
// pending failures holds `fill` requests already (--lean: none of them ever
// hears of its client again). With a capacity of `fill`, the table is full:
// each failure evicts the oldest entry. The cost per failure must not depend
// on the fill: it used to be a scan of the whole table.
void failure_at_fill(benchmark::State& state, size_t fill, size_t capacity) {
  why502::EngineOptions options;
  options.client_echo_expected = false;
  options.max_pending_requests = capacity;
  why502::Engine engine(options);
  std::vector<why502::Record> records;
  uint64_t i = 0;
  for (; i < fill; ++i) engine.handle(refused_attempt(i), records);
  for (auto _ : state) {
    engine.handle(refused_attempt(i++), records);
    records.clear();
  }
  const why502::EngineStats stats = engine.stats();
  state.counters["pending"] = static_cast<double>(stats.pending_requests);
  state.counters["evicted"] = static_cast<double>(stats.evicted_requests);
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--recording") == 0 && i + 1 < argc) {
      path = argv[++i];
      continue;
    }
    rest.push_back(argv[i]);
  }
  if (!path.empty()) {
    const why502::Result<why502::recording::Contents> read = why502::recording::read_file(path);
    if (!read) {
      std::fprintf(stderr, "why502_engine_bench: %s\n", read.error().c_str());
      return 2;
    }
    for (const auto& bytes : read->events) {
      why502::Result<why502::Event> d = why502::decode_event(bytes);
      if (d.ok()) g_events.push_back(d.value());
    }
    if (g_events.empty()) {
      std::fprintf(stderr, "why502_engine_bench: %s holds no events\n", path.c_str());
      return 2;
    }
    benchmark::RegisterBenchmark("replay_recording", replay_recording)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("records_as_json", records_as_json)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark("ten_thousand_connections", ten_thousand_connections)
        ->Arg(10000)
        ->Iterations(3)
        ->Unit(benchmark::kMillisecond);
  }
  constexpr size_t kDefaultCapacity = why502::EngineOptions{}.max_pending_requests;
  // Filling: the first 60 000 failures into an empty table of the default capacity.
  benchmark::RegisterBenchmark("pending_failure/filling", failure_at_fill, 0, kDefaultCapacity)
      ->Iterations(60000)
      ->Unit(benchmark::kMicrosecond);
  for (size_t full : {size_t{1}, size_t{1024}, kDefaultCapacity})
    benchmark::RegisterBenchmark(("pending_failure/full:" + std::to_string(full)).c_str(), failure_at_fill, full, full)
        ->Unit(benchmark::kMicrosecond);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

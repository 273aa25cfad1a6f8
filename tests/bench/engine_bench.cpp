// The attribution engine alone (Google Benchmark): how many events per second
// one core attributes when a recording is replayed, and how much memory it
// holds for 10k upstream connections with a failure in progress.
//
//   why502_engine_bench --recording FILE [benchmark flags]
// The recording should hold gateway errors (scripts/bench.py records a 502
// storm for it); the events are decoded once, then fed to a fresh engine per
// iteration, as `why502 report` does.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "events/event.hpp"
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
  if (path.empty()) {
    std::fprintf(stderr, "usage: why502_engine_bench --recording FILE [benchmark flags]\n");
    return 2;
  }
  why502::recording::ReadResult read = why502::recording::read_file(path);
  if (!read.ok) {
    std::fprintf(stderr, "why502_engine_bench: %s\n", read.error.c_str());
    return 2;
  }
  for (const auto& bytes : read.contents.events) {
    why502::DecodeResult d = why502::decode_event(bytes);
    if (d.ok) g_events.push_back(d.event);
  }
  if (g_events.empty()) {
    std::fprintf(stderr, "why502_engine_bench: %s holds no events\n", path.c_str());
    return 2;
  }
  benchmark::RegisterBenchmark("replay_recording", replay_recording)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("ten_thousand_connections", ten_thousand_connections)
      ->Arg(10000)
      ->Iterations(3)
      ->Unit(benchmark::kMillisecond);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

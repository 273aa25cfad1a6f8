// What `serve` reads from the kernel's maps now and then (not through events):
// per-upstream latency histograms and how full each bounded map is.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "why502_wire.h"

namespace why502 {

// The bucket bounds BPF uses, in microseconds; the last bucket is +Inf.
inline constexpr std::array<uint64_t, W5_LATENCY_BUCKETS - 1> kLatencyBoundsUs = W5_LATENCY_BOUNDS_US;

struct UpstreamLatency {
  std::string upstream;  // "127.0.0.1:9000", "unix:/run/php.sock"
  uint32_t kind = W5_LATENCY_HEADER;
  std::array<uint64_t, W5_LATENCY_BUCKETS> buckets{};  // not cumulative
  uint64_t sum_ns = 0;
};

struct MapFill {
  std::string name;
  uint64_t entries = 0;
  uint64_t capacity = 0;
};

struct KernelTables {
  std::vector<UpstreamLatency> latencies;
  std::vector<MapFill> maps;
  uint64_t latency_dropped = 0;  // samples with no room for their upstream
};

// The upstream a latency key names, as nginx would print it.
std::string latency_upstream(const w5_latency_key& key);

}  // namespace why502

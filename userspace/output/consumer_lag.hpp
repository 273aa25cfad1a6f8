// How far behind the kernel the consumer runs: for each event, the time from
// its BPF timestamp to the moment the engine takes it (ring-buffer wait plus
// anything that held it in userspace). A consumer that stalls shows here long
// before the ring buffer overflows and events are lost.
#pragma once

#include <array>
#include <cstdint>

namespace why502 {

class ConsumerLag {
 public:
  // Upper bounds of the buckets, in ns (1-2-5 steps, 10 µs .. 10 s); the last
  // bucket, past them, is +Inf.
  static constexpr std::array<uint64_t, 19> kBoundsNs = {
      10'000,      20'000,      50'000,      100'000,       200'000,       500'000,      1'000'000,
      2'000'000,   5'000'000,   10'000'000,  20'000'000,    50'000'000,    100'000'000,  200'000'000,
      500'000'000, 1'000'000'000, 2'000'000'000, 5'000'000'000, 10'000'000'000};

  // An event stamped event_ns taken at now_ns (both CLOCK_MONOTONIC).
  void add(uint64_t event_ns, uint64_t now_ns);
  // The bound of the bucket holding the q-quantile (0 < q <= 1): an upper
  // bound on it; UINT64_MAX when it falls in the +Inf bucket; 0 when empty.
  uint64_t quantile_bound_ns(double q) const;

  const std::array<uint64_t, kBoundsNs.size() + 1>& buckets() const { return buckets_; }  // not cumulative
  uint64_t count() const { return count_; }
  uint64_t sum_ns() const { return sum_ns_; }
  uint64_t max_ns() const { return max_ns_; }

 private:
  std::array<uint64_t, kBoundsNs.size() + 1> buckets_{};
  uint64_t count_ = 0;
  uint64_t sum_ns_ = 0;
  uint64_t max_ns_ = 0;
};

}  // namespace why502

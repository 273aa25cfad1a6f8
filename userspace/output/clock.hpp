// Event timestamps are CLOCK_MONOTONIC (all the kernel offers cheaply);
// records show wall-clock time. The offset is taken once at start.
#pragma once

#include <cstdint>
#include <string>

namespace why502 {

class WallClock {
 public:
  WallClock();  // samples both clocks now
  explicit WallClock(int64_t realtime_minus_monotonic_ns) : offset_ns_(realtime_minus_monotonic_ns) {}
  int64_t to_realtime_ns(uint64_t monotonic_ns) const { return static_cast<int64_t>(monotonic_ns) + offset_ns_; }
  int64_t offset_ns() const { return offset_ns_; }

 private:
  int64_t offset_ns_;
};

// CLOCK_MONOTONIC now: the clock BPF stamps events with (bpf_ktime_get_ns).
uint64_t monotonic_now_ns();

// RFC 3339, UTC, microseconds: 2026-11-21T22:45:37.123456Z
std::string format_rfc3339_us(int64_t realtime_ns);

}  // namespace why502

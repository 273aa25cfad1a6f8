// Event times come from several CPUs through one ring buffer and may arrive
// slightly out of order: an age is never negative (no unsigned wrap-around).
#pragma once

#include <cstdint>

namespace why502 {

inline uint64_t age_ns(uint64_t now_ns, uint64_t then_ns) { return now_ns > then_ns ? now_ns - then_ns : 0; }

// How far back to look for what explains an attempt: its duration (ms, < 0
// when unknown) plus slack, in ns. The duration comes from nginx's memory and
// may be any value: the window saturates rather than overflow.
inline uint64_t attempt_window_ns(double attempt_ms, double slack_ms, uint64_t when_unknown_ns) {
  if (!(attempt_ms >= 0)) return when_unknown_ns;
  const double ns = (attempt_ms + slack_ms) * 1e6;
  return ns < 18446744073709551616.0 ? static_cast<uint64_t>(ns) : UINT64_MAX;  // 2^64
}

}  // namespace why502

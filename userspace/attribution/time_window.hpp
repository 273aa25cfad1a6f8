// Event times come from several CPUs through one ring buffer and may arrive
// slightly out of order: an age is never negative (no unsigned wrap-around).
#pragma once

#include <cstdint>

namespace why502 {

inline uint64_t age_ns(uint64_t now_ns, uint64_t then_ns) { return now_ns > then_ns ? now_ns - then_ns : 0; }

}  // namespace why502

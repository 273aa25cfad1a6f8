// Events come in batches (W5_FLUSH_MS), and a storm's batch is milliseconds
// of work, during which a task that shares the CPU (an nginx worker) waits
// for its turn: the storm's p99 went to twice its untraced value. Every so
// many events the CPU goes to whatever else is runnable first. Not when
// behind: a yield gives up virtual time, and on a saturated CPU a consumer
// that always yielded fell behind and lost most of a storm's events
// (docs/BENCHMARKS.md).
#pragma once

#include <sched.h>

#include <cstdint>

#include "output/clock.hpp"
#include "why502_wire.h"

namespace why502 {

class CpuCourtesy {
 public:
  static constexpr uint64_t kEventsBetweenYields = 64;  // ~50 us of a storm's work
  // Events wait up to a batch's time by design; twice that is behind.
  static constexpr uint64_t kBehindNs = 2ull * W5_FLUSH_MS * 1'000'000;

  using Clock = uint64_t (*)();
  using Yield = int (*)();
  explicit CpuCourtesy(Clock clock = monotonic_now_ns, Yield yield = sched_yield) : clock_(clock), yield_(yield) {}

  // event_ts_ns: the BPF timestamp (CLOCK_MONOTONIC) of the event just taken.
  void after_event(uint64_t event_ts_ns) {
    if (++events_ % kEventsBetweenYields != 0) return;
    const uint64_t now_ns = clock_();
    if (now_ns > event_ts_ns && now_ns - event_ts_ns > kBehindNs) return;
    yield_();
  }

 private:
  Clock clock_;
  Yield yield_;
  uint64_t events_ = 0;
};

}  // namespace why502

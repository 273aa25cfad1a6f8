// The events on their way from the ring buffer to the engine, with the
// listeners' states spliced in. A listener worth probing (ListenerWatch) is
// read by a ListenerWorker off this thread; meanwhile the events behind the
// one that asked wait here, so that the engine sees the state just before
// that event, as it did when the probe ran inline, and recordings (which store
// the events in the order the engine saw them) replay the same. The wait is
// bounded in time and in events held; past either, the events go on without
// the state (it follows when it comes), and that is counted.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "events/event.hpp"
#include "loader/listener_watch.hpp"
#include "loader/listener_worker.hpp"

namespace why502 {

struct ListenerProbeCounts {
  uint64_t asked = 0;       // probes handed to the worker
  uint64_t in_time = 0;     // of those, answered before the events behind them went on
  uint64_t queue_full = 0;  // skipped: the worker's queue was full
  uint64_t late = 0;        // skipped: not answered within the wait, or too many events waiting
};

class ListenerPipeline {
 public:
  // An event for the engine, with its wire bytes (valid during the call).
  using Sink = std::function<void(const Event& event, std::span<const uint8_t> bytes)>;
  struct Options {
    // Longest the events wait for a probe: past a first read of /proc on a
    // host of a few thousand processes (~0.35 s), within the second that
    // serve's metrics are meant to be fresh to.
    uint64_t wait_ns = 500'000'000;
    size_t max_waiting_events = 8192;  // ~5 MiB of decoded events at most
    // Probes waiting for the worker: a timeout storm on many backends asks
    // for one per listener at once (each ~1-10 ms once /proc is cached).
    size_t queue_capacity = 64;
  };

  ListenerPipeline(Sink sink, ListenerWorker::Probe probe, Options options);

  // An event from the ring buffer at now_ns (CLOCK_MONOTONIC).
  void push(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns);
  // Passes on what may go now: everything up to the first probe that is
  // neither answered nor past its wait.
  void release(uint64_t now_ns);
  // Events are waiting for a probe: call release() again soon.
  bool waiting() const { return !held_.empty(); }
  // At the end: waits for the probes asked for (each within its wait) and
  // passes everything on.
  void finish();
  const ListenerProbeCounts& counts() const { return counts_; }

 private:
  // A probe asked for (ticket != 0) or an event waiting behind one.
  struct Held {
    uint64_t ticket = 0;
    uint64_t deadline_ns = 0;
    Event event{};
  };
  // To the sink, or behind what waits.
  void pass(const Event& event, std::span<const uint8_t> bytes);

  Sink sink_;
  Options options_;
  ListenerWatch watch_;
  ListenerProbeCounts counts_;
  std::deque<Held> held_;
  std::unordered_map<uint64_t, std::optional<w5_listener_state>> answered_;  // tickets still held
  std::unordered_set<uint64_t> given_up_;  // tickets the events stopped waiting for
  std::vector<ListenerWorker::Result> taken_;
  uint64_t next_ticket_ = 1;
  ListenerWorker worker_;  // last: stopped first, before what its results go to
};

}  // namespace why502

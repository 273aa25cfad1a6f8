// The events on their way from the ring buffer to the engine, with what the
// error path reads of the host spliced in: a listener's state (ListenerWatch
// says when it is worth reading) and what a backend was doing. Each read runs
// on a ProbeWorker, off this thread; meanwhile the events behind the one that
// asked wait here, so that the engine sees the read just before that event,
// as it did when the reads ran inline, and recordings (which store the events
// in the order the engine saw them) replay the same. The wait is bounded in
// time and in events held; past either, the events go on without the read
// (it follows when it comes), and that is counted.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "events/event.hpp"
#include "host/listener_watch.hpp"
#include "host/probe_worker.hpp"

namespace why502 {

// What a read is of, for its counts.
enum class ProbeKind : uint8_t { listener, backend };

struct ProbeCounts {
  uint64_t asked = 0;       // reads handed to the worker
  uint64_t in_time = 0;     // of those, answered before the events behind them went on
  uint64_t queue_full = 0;  // skipped: the worker's queue was full
  uint64_t late = 0;        // skipped: not answered within the wait, or too many events waiting
};

class ProbePipeline {
 public:
  // An event for the engine, with its wire bytes (valid during the call).
  using Sink = std::function<void(const Event& event, std::span<const uint8_t> bytes)>;
  // The listener serving addr as an event stamped ts_ns, or nullopt (none);
  // called on the worker's thread only.
  using ListenerProbe = std::function<std::optional<w5_listener_state>(const w5_addr& addr, uint64_t ts_ns)>;
  struct Options {
    // Longest the events wait for a read: past a first read of /proc on a
    // host of a few thousand processes (~0.35 s) and a backend's CPU sample,
    // within the second that serve's metrics are meant to be fresh to.
    uint64_t wait_ns = 500'000'000;
    size_t max_waiting_events = 8192;  // ~5 MiB of decoded events at most
    // Reads waiting for the worker: a timeout storm on many backends asks
    // for one per listener at once (each ~1-10 ms once /proc is cached).
    size_t queue_capacity = 64;
  };

  ProbePipeline(Sink sink, ListenerProbe listener_probe, Options options);

  // An event from the ring buffer at now_ns (CLOCK_MONOTONIC).
  void push(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns);
  // Runs job on the worker; what it read reaches the engine before any
  // event pushed after this call.
  void ask(ProbeKind kind, ProbeWorker::Job job, uint64_t now_ns);
  // Runs job on the worker for its effect alone, no event waiting on it;
  // false when the worker's queue is full.
  bool run_in_background(ProbeWorker::Job job);
  // Passes on what may go now: everything up to the first read that is
  // neither answered nor past its wait.
  void release(uint64_t now_ns);
  // Events are waiting for a read: call release() again soon.
  bool waiting() const { return !held_.empty(); }
  // At the end: waits for the reads asked for (each within its wait) and
  // passes everything on.
  void finish();
  const ProbeCounts& counts(ProbeKind kind) const { return counts_[static_cast<size_t>(kind)]; }

 private:
  // A read asked for (ticket != 0) or an event waiting behind one.
  struct Held {
    uint64_t ticket = 0;
    uint64_t deadline_ns = 0;
    ProbeKind kind = ProbeKind::listener;
    Event event{};
  };
  // Behind what waits, or (nothing waits) to the sink.
  void hold_or_pass(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns);
  // To the sink, or behind what waits.
  void pass(const Event& event, std::span<const uint8_t> bytes);
  ProbeCounts& count(ProbeKind kind) { return counts_[static_cast<size_t>(kind)]; }

  Sink sink_;
  ListenerProbe listener_probe_;
  Options options_;
  ListenerWatch watch_;
  std::array<ProbeCounts, 2> counts_{};
  std::deque<Held> held_;
  std::unordered_map<uint64_t, std::optional<Event>> answered_;  // tickets still held
  std::unordered_set<uint64_t> given_up_;  // tickets the events stopped waiting for
  std::vector<ProbeWorker::Result> taken_;
  uint64_t next_ticket_ = 1;
  ProbeWorker worker_;  // last: stopped first, before what its jobs use
};

}  // namespace why502

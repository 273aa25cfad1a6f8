// The one way an event reaches the engine, live, on replay and in the fuzzers.
// Two halves, because live puts its host reads between them (ProbePipeline
// splices what they read in ahead of the event that asked):
//
//   take(bytes)       decode, make repeated nginx failures whole again,
//                     count what is undecodable (the first with a
//                     warning), anonymise client addresses when asked
//        │ Event and its wire bytes
//   (the caller's steps: following nginx, host reads, the listener watch)
//        ▼
//   deliver(event)    the recording hook with the bytes, then the engine,
//                     the consumer lag; the records it completes collect here
//   flush / finish    the engine's held records, by time or at the end
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "attribution/record.hpp"
#include "events/event.hpp"
#include "events/log_repeats.hpp"
#include "output/consumer_lag.hpp"

namespace why502 {

class EventPump {
 public:
  struct Options {
    // --anonymise-clients: cut before anything else sees the event.
    bool anonymise_clients = false;
    // Every delivered event's wire bytes, before the engine takes it (a
    // recording stores the stream as the engine saw it).
    std::function<void(std::span<const uint8_t> bytes)> on_event;
    // The first undecodable event's reason; the rest are only counted.
    std::function<void(const std::string& error)> on_first_undecodable;
    // The clock (CLOCK_MONOTONIC, ns) the consumer lag is measured against
    // at delivery; none: no lag is measured (replay, fuzzers).
    std::function<uint64_t()> lag_clock;
  };

  // An event as take() hands it on: valid until the next take().
  struct Taken {
    const Event& event;
    // event's wire bytes: made whole (a repeat), anonymised when asked
    std::span<const uint8_t> bytes;
  };

  EventPump(Engine& engine, Options options);

  // Bytes as the ring buffer or a recording holds them; nullopt when they
  // are no event (counted; why in decode_error()).
  std::optional<Taken> take(std::span<const uint8_t> bytes);
  // To the recording hook, then the engine, in the order the engine is to
  // see them.
  void deliver(const Event& event, std::span<const uint8_t> bytes);
  // The engine's held records whose wait is over at now_ns.
  void flush(uint64_t now_ns);
  // The end: every record the engine still holds.
  void finish();
  // The records completed since the last call, in the engine's order.
  std::vector<Record> take_records();
  // The same, each given to f (which may move it away). The buffer keeps
  // its capacity: a storm's batch of hundreds of records was a new buffer,
  // grown by reallocation, every batch.
  template <typename F>
  void drain_records(F&& f) {
    for (Record& r : records_) f(r);
    records_.clear();
  }

  uint64_t undecodable() const { return undecodable_; }
  // Repeated nginx failures made whole (W5_EV_NGX_LOG_REPEAT).
  uint64_t repeats() const { return repeats_; }
  // Why the last take() found no event; "" when it found one.
  std::string decode_error() const { return decoded_ ? std::string() : decoded_.error(); }
  const ConsumerLag& lag() const { return lag_; }

 private:
  Engine& engine_;
  Options options_;
  Result<Event> decoded_ = Error{"nothing taken yet"};
  LogRepeats log_repeats_;
  uint64_t undecodable_ = 0;
  uint64_t repeats_ = 0;
  ConsumerLag lag_;
  std::vector<Record> records_;
};

}  // namespace why502

// What the ring buffer hands us, from a kernel side that misbehaves. First the
// whole input as one event; then the input as a sequence of ring-buffer
// records — a 16-bit little-endian length, then that many bytes — taken by
// the EventPump and fed to the listener watch and the engine as the live
// session does, with every record the engine completes written as text and
// as JSON.
//
// The input's first byte holds options: bit 0 turns on the engine's
// kernel-only fallback (an nginx without symbols).
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <sstream>
#include <vector>

#include "attribution/engine.hpp"
#include "attribution/event_pump.hpp"
#include "events/event.hpp"
#include "host/listener_watch.hpp"
#include "output/record_sink.hpp"

namespace {

// At most this many events per input: enough to join a request's story.
constexpr size_t kMaxEvents = 64;
// A wall clock of today's order: records are rendered as they would be live.
constexpr int64_t kClockOffsetNs = 1'763'700'000'000'000'000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> input(data, size);
  (void)why502::decode_event(input);
  if (input.empty()) return 0;

  why502::EngineOptions options;
  options.kernel_only_fallback = (input[0] & 1) != 0;
  why502::Engine engine(options);
  why502::EventPump pump(engine, {});
  why502::ListenerWatch listeners;
  std::span<const uint8_t> rest = input.subspan(1);
  for (size_t n = 0; n < kMaxEvents && rest.size() >= 2; ++n) {
    const size_t length = std::min<size_t>(rest[0] | (rest[1] << 8), rest.size() - 2);
    const std::span<const uint8_t> record = rest.subspan(2, length);
    rest = rest.subspan(2 + length);
    const std::optional<why502::EventPump::Taken> taken = pump.take(record);
    if (!taken) continue;  // counted as undecodable and dropped, as live
    // Live, ProbePipeline asks the watch before it delivers.
    listeners.due(taken->event);
    pump.deliver(taken->event, taken->bytes);
  }
  pump.finish();

  const why502::WallClock clock(kClockOffsetNs);
  std::ostringstream text;
  auto sink = why502::make_text_sink(text, clock);
  for (const why502::Record& r : pump.take_records()) {
    sink->write(r);
    why502::record_to_json(r, clock);
  }
  return 0;
}

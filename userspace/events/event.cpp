#include "events/event.hpp"

#include <cstring>

namespace why502 {
namespace {

template <typename T>
Result<Event> copy_as(std::span<const uint8_t> bytes, const w5_header& h) {
  const uint32_t claimed_size = h.size;
  if (claimed_size != sizeof(T) || bytes.size() < sizeof(T))
    return Error{"event type " + std::to_string(h.type) + " claims " + std::to_string(claimed_size) +
                 " bytes in a record of " + std::to_string(bytes.size()) + ", expected " + std::to_string(sizeof(T))};
  T value;
  std::memcpy(&value, bytes.data(), sizeof(T));
  return Event{value};
}

}  // namespace

Result<Event> decode_event(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(w5_header))
    return Error{"event of " + std::to_string(bytes.size()) + " bytes is shorter than its header"};
  w5_header h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (h.ts_ns >= kMaxMonotonicNs)
    return Error{"event type " + std::to_string(h.type) + " has time " + std::to_string(h.ts_ns) +
                 " ns, which no CLOCK_MONOTONIC shows"};
  switch (h.type) {
#define W5_DECODE_CASE(type_number, type) \
  case type_number:                       \
    return copy_as<type>(bytes, h);
    W5_EVENT_TYPES(W5_DECODE_CASE)
#undef W5_DECODE_CASE
    default:
      return Error{"unknown event type " + std::to_string(h.type)};
  }
}

const w5_header& header_of(const Event& event) {
  return std::visit([](const auto& e) -> const w5_header& { return e.h; }, event);
}

}  // namespace why502

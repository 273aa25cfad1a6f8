// Ring-buffer bytes → typed events, checked for type and size before use.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <variant>

#include "common/result.hpp"
#include "why502_wire.h"

namespace why502 {

namespace detail {
// Variant appends each of Ts not already among its alternatives, in order:
// a struct that several event types carry (w5_sock_evidence) is one.
template <typename Variant, typename... Ts>
struct UniqueVariant {
  using type = Variant;
};
template <typename... Vs, typename T, typename... Ts>
struct UniqueVariant<std::variant<Vs...>, T, Ts...>
    : std::conditional_t<(std::is_same_v<T, Vs> || ...), UniqueVariant<std::variant<Vs...>, Ts...>,
                         UniqueVariant<std::variant<Vs..., T>, Ts...>> {};
}  // namespace detail

// One alternative per struct of W5_EVENT_TYPES (why502_wire.h), in its order.
#define W5_EVENT_STRUCT(type_number, type) , type
using Event = detail::UniqueVariant<std::variant<> W5_EVENT_TYPES(W5_EVENT_STRUCT)>::type;
#undef W5_EVENT_STRUCT

// Event times are CLOCK_MONOTONIC, counted from boot: no machine has been up
// 2^62 ns (146 years). A later time is garbage, and the wall-clock sums made
// from event times (time + offset, differences) must not overflow.
inline constexpr uint64_t kMaxMonotonicNs = 1ull << 62;

// Rejects bytes of an unknown type, claiming a size other than the type's or
// shorter than it, or with a time no CLOCK_MONOTONIC shows.
// The error says why the bytes were rejected.
Result<Event> decode_event(std::span<const uint8_t> bytes);

const w5_header& header_of(const Event& event);

}  // namespace why502

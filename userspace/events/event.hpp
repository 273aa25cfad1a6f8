// Ring-buffer bytes → typed events, checked for type and size before use.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "why502_wire.h"

namespace why502 {

using Event = std::variant<w5_ngx_log, w5_ngx_error_page, w5_client_response, w5_upstream_status,
                           w5_sock_evidence, w5_process_fork, w5_process_death, w5_signal, w5_oom_victim,
                           w5_listener_state, w5_request_line, w5_process_exec, w5_request_ended,
                           w5_port_usage, w5_backend_state, w5_process_cgroup>;

struct DecodeResult {
  bool ok = false;
  Event event{};
  std::string error;  // why the bytes were rejected
};

// Event times are CLOCK_MONOTONIC, counted from boot: no machine has been up
// 2^62 ns (146 years). A later time is garbage, and the wall-clock sums made
// from event times (time + offset, differences) must not overflow.
inline constexpr uint64_t kMaxMonotonicNs = 1ull << 62;

// Rejects bytes of an unknown type, claiming a size other than the type's or
// shorter than it, or with a time no CLOCK_MONOTONIC shows.
DecodeResult decode_event(std::span<const uint8_t> bytes);

const w5_header& header_of(const Event& event);

}  // namespace why502

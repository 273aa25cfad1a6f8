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
                           w5_listener_state>;

struct DecodeResult {
  bool ok = false;
  Event event{};
  std::string error;  // why the bytes were rejected
};

DecodeResult decode_event(std::span<const uint8_t> bytes);

const w5_header& header_of(const Event& event);

}  // namespace why502

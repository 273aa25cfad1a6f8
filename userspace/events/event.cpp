#include "events/event.hpp"

#include <cstring>

namespace why502 {
namespace {

template <typename T>
DecodeResult copy_as(std::span<const uint8_t> bytes, const w5_header& h) {
  const uint32_t claimed_size = h.size;
  DecodeResult result;
  if (claimed_size != sizeof(T) || bytes.size() < sizeof(T)) {
    result.error = "event type " + std::to_string(h.type) +
                   " claims " + std::to_string(claimed_size) + " bytes in a record of " +
                   std::to_string(bytes.size()) + ", expected " + std::to_string(sizeof(T));
    return result;
  }
  T value;
  std::memcpy(&value, bytes.data(), sizeof(T));
  result.ok = true;
  result.event = value;
  return result;
}

}  // namespace

DecodeResult decode_event(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof(w5_header)) {
    return {false, {}, "event of " + std::to_string(bytes.size()) + " bytes is shorter than its header"};
  }
  w5_header h;
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (h.ts_ns >= kMaxMonotonicNs) {
    return {false, {}, "event type " + std::to_string(h.type) + " has time " + std::to_string(h.ts_ns) +
                           " ns, which no CLOCK_MONOTONIC shows"};
  }
  switch (h.type) {
    case W5_EV_NGX_LOG:
      return copy_as<w5_ngx_log>(bytes, h);
    case W5_EV_NGX_ERROR_PAGE:
      return copy_as<w5_ngx_error_page>(bytes, h);
    case W5_EV_CLIENT_RESPONSE:
      return copy_as<w5_client_response>(bytes, h);
    case W5_EV_UPSTREAM_STATUS:
      return copy_as<w5_upstream_status>(bytes, h);
    case W5_EV_TCP_RESET:
    case W5_EV_SOCK_ERROR:
    case W5_EV_SYN_RETRANSMIT:
      return copy_as<w5_sock_evidence>(bytes, h);
    case W5_EV_PROCESS_FORK:
      return copy_as<w5_process_fork>(bytes, h);
    case W5_EV_PROCESS_DEATH:
      return copy_as<w5_process_death>(bytes, h);
    case W5_EV_SIGNAL:
      return copy_as<w5_signal>(bytes, h);
    case W5_EV_OOM_VICTIM:
      return copy_as<w5_oom_victim>(bytes, h);
    case W5_EV_LISTENER_STATE:
      return copy_as<w5_listener_state>(bytes, h);
    case W5_EV_REQUEST_LINE:
      return copy_as<w5_request_line>(bytes, h);
    case W5_EV_PROCESS_EXEC:
      return copy_as<w5_process_exec>(bytes, h);
    case W5_EV_REQUEST_ENDED:
      return copy_as<w5_request_ended>(bytes, h);
    case W5_EV_PORT_USAGE:
      return copy_as<w5_port_usage>(bytes, h);
    case W5_EV_BACKEND_STATE:
      return copy_as<w5_backend_state>(bytes, h);
    case W5_EV_PROCESS_CGROUP:
      return copy_as<w5_process_cgroup>(bytes, h);
    default:
      return {false, {}, "unknown event type " + std::to_string(h.type)};
  }
}

const w5_header& header_of(const Event& event) {
  return std::visit([](const auto& e) -> const w5_header& { return e.h; }, event);
}

}  // namespace why502

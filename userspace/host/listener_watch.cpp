#include "host/listener_watch.hpp"

#include <cstring>

#include "events/address.hpp"

namespace why502 {
namespace {
constexpr uint64_t kMinIntervalNs = 500'000'000;
}

std::optional<w5_addr> ListenerWatch::due(const Event& event) {
  const w5_addr* target = nullptr;
  uint64_t ts = 0;
  if (const auto* log = std::get_if<w5_ngx_log>(&event)) {
    // fmt is a fixed-size array from nginx's memory: not necessarily NUL-terminated.
    if (wire_string(log->fmt).rfind("upstream timed out", 0) != 0) return std::nullopt;
    target = &log->upstream;
    ts = log->h.ts_ns;
  } else if (const auto* evidence = std::get_if<w5_sock_evidence>(&event)) {
    if (evidence->h.type != W5_EV_SYN_RETRANSMIT) return std::nullopt;
    target = &evidence->remote;
    ts = evidence->h.ts_ns;
  } else {
    return std::nullopt;
  }
  Key key{target->family, target->port, {}};
  std::memcpy(std::get<2>(key).data(), target->addr, 16);
  uint64_t& last = last_probe_ns_[key];
  if (last != 0 && ts - last < kMinIntervalNs) return std::nullopt;
  last = ts;
  return *target;
}

}  // namespace why502

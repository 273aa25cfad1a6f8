// Decides when a listener is worth probing: nginx timed out on a TCP upstream
// (connecting or waiting for a header), or a SYN to it was retransmitted. At
// most one probe per listener address every half second.
#pragma once

#include <map>
#include <optional>
#include <tuple>

#include "events/event.hpp"

namespace why502 {

class ListenerWatch {
 public:
  // The listener address worth probing before the event (counted as probed
  // now), or nullopt. ProbePipeline has it read and fed to the engine.
  std::optional<w5_addr> due(const Event& event);

 private:
  using Key = std::tuple<uint16_t, uint16_t, std::array<uint8_t, 16>>;
  std::map<Key, uint64_t> last_probe_ns_;
};

}  // namespace why502

// At most one host read a second per key (a worker and an upstream, say):
// the reads made on the error path cost a storm of one failure a read a
// second, not one per error.
#pragma once

#include <cstdint>
#include <map>

namespace why502 {

template <class Key>
class OncePerSecond {
 public:
  // Whether a read for key may run at ts_ns; if so it counts as run then.
  bool due(const Key& key, uint64_t ts_ns) {
    auto [last, first] = last_ns_.try_emplace(key, ts_ns);
    if (!first && ts_ns - last->second < kIntervalNs) return false;
    last->second = ts_ns;
    if (last_ns_.size() > 4096) last_ns_.clear();  // bounded: a few upstreams are the norm
    return true;
  }

 private:
  static constexpr uint64_t kIntervalNs = 1'000'000'000ull;
  std::map<Key, uint64_t> last_ns_;
};

}  // namespace why502

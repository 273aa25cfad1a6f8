#include "output/consumer_lag.hpp"

#include <algorithm>

namespace why502 {

void ConsumerLag::add(uint64_t event_ns, uint64_t now_ns) {
  // An event stamped on another CPU may read a hair later than our clock.
  const uint64_t lag = now_ns > event_ns ? now_ns - event_ns : 0;
  const auto bucket = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), lag) - kBoundsNs.begin();
  ++buckets_[static_cast<size_t>(bucket)];
  ++count_;
  sum_ns_ += lag;
  max_ns_ = std::max(max_ns_, lag);
}

uint64_t ConsumerLag::quantile_bound_ns(double q) const {
  if (count_ == 0) return 0;
  const double wanted = q * static_cast<double>(count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBoundsNs.size(); ++i) {
    seen += buckets_[i];
    if (static_cast<double>(seen) >= wanted) return kBoundsNs[i];
  }
  return UINT64_MAX;
}

}  // namespace why502

#include "events/log_repeats.hpp"

#include <algorithm>
#include <string>

namespace why502 {

void LogRepeats::remember(const w5_ngx_log& e) {
  if (templates_.size() >= kMaxThreads && !templates_.count(e.h.tid)) {
    // Only when more threads log failures than the kernel keeps: a scan of
    // the map for each new thread past that is no hot path.
    auto oldest = std::min_element(templates_.begin(), templates_.end(), [](const auto& a, const auto& b) {
      return a.second.h.ts_ns < b.second.h.ts_ns;
    });
    templates_.erase(oldest);
  }
  templates_[e.h.tid] = e;
}

Result<w5_ngx_log> LogRepeats::expand(const w5_ngx_log_repeat& r) const {
  auto it = templates_.find(r.h.tid);
  if (it == templates_.end() || it->second.h.ts_ns != r.template_ts || it->second.h.tgid != r.h.tgid)
    return Error{"a repeated nginx failure of thread " + std::to_string(r.h.tid) + " whose first event (at " +
                 std::to_string(r.template_ts) + " ns) was not seen"};
  w5_ngx_log whole = it->second;
  whole.h.ts_ns = r.h.ts_ns;
  whole.request = r.request;
  whole.connection = r.connection;
  whole.requests = r.requests;
  whole.upstream_sk = r.upstream_sk;
  whole.client_sk = r.client_sk;
  whole.client = r.client;
  whole.upstream = r.upstream;
  whole.upstream_local = r.upstream_local;
  return whole;
}

}  // namespace why502

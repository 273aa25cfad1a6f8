// W5_EV_NGX_LOG_REPEAT → the W5_EV_NGX_LOG it stands for. While one failure
// repeats on a thread (a storm), the kernel sends it whole once and then only
// what differs per request (bpf/parts/nginx_uprobes.bpf.c, thread_failures);
// this keeps each thread's last whole one, as the kernel does, and makes each
// repeat whole again from it, so that nothing past the event pump (engine,
// recordings, host reads) ever sees a repeat.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "common/result.hpp"
#include "why502_wire.h"

namespace why502 {

class LogRepeats {
 public:
  // Threads whose template is kept: the kernel keeps W5_MAX_NGINX_PROCS;
  // past this, the oldest template goes (its thread's next repeat is counted
  // as undecodable).
  static constexpr size_t kMaxThreads = 2 * W5_MAX_NGINX_PROCS;

  // A whole log event: its thread's template from now on.
  void remember(const w5_ngx_log& e);
  // The whole event a repeat stands for; an error when its template is not
  // the one kept for its thread (the template was lost with the ring full,
  // or the repeat is not this session's).
  Result<w5_ngx_log> expand(const w5_ngx_log_repeat& r) const;
  size_t threads() const { return templates_.size(); }

 private:
  std::unordered_map<uint32_t, w5_ngx_log> templates_;  // by tid
};

}  // namespace why502

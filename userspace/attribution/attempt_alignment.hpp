// Which of nginx's log lines explains which upstream attempt of an error
// page: nginx records each attempt in r->upstream_states and logs only the
// failed ones, so the two are lined up here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attribution/nginx_log_classifier.hpp"
#include "attribution/record.hpp"
#include "why502_wire.h"

namespace why502 {

// A failed attempt as nginx logged it, with what the kernel knew of its socket then.
struct LoggedAttempt {
  uint64_t ts_ns;
  uint32_t tgid;
  std::string peer;
  LoggedFailure failure;
  std::string message;  // nginx's words
  uint64_t upstream_sk;
  w5_addr upstream_addr;   // the socket's peer when nginx logged
  w5_addr upstream_local;  // nginx's end of it
  // The connection came from nginx's keepalive pool: what its history says.
  std::vector<std::string> reuse_evidence;
};

// nginx's (ngx_msec_t) -1: a time r->upstream_states never got.
inline bool is_unset_msec(uint64_t msec) { return msec == ~0ull; }

// Appends one attempt per upstream state of the page (separators aside) to
// attempts, each with the cause of the failure logged for it; returns the
// failure logged for the last attempt, if any (nullptr when nginx logged
// none). With no attempt in the states (nginx failed before it recorded one)
// the last logged failure is the one attempt.
LoggedAttempt* align_attempts(const w5_ngx_error_page& page, std::vector<LoggedAttempt>& failures,
                              std::vector<Attempt>& attempts);

// nginx starts the upstream states of a request's next upstream run (after
// error_page or X-Accel-Redirect sent it to another location) with a zeroed
// entry, which $upstream_addr shows as " : ". It is no attempt.
bool is_redirect_separator(const w5_upstream_state& state);
// The page's attempts: its n_states less the separators among the states it
// carries (those before them are not known).
size_t attempts_in(const w5_ngx_error_page& page);

// An attempt's cause from what nginx recorded in r->upstream_states alone
// (used when nginx logged nothing, e.g. error_log set above "error").
Cause cause_from_upstream_state(const w5_upstream_state& state);

}  // namespace why502

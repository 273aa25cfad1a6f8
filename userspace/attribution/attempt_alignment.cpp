#include "attribution/attempt_alignment.hpp"

#include <algorithm>
#include <array>

#include "events/address.hpp"

namespace why502 {

LoggedAttempt* align_attempts(const w5_ngx_error_page& e, std::vector<LoggedAttempt>& failures,
                              std::vector<Attempt>& attempts) {
  // One attempt per entry of r->upstream_states (the last few when there
  // were many). nginx's log lines give the causes of the failed ones. They are
  // aligned from the end: failures left over from an earlier request that
  // reused this request's memory on the same connection (a retried failure
  // the client never saw) sit at the front and are ignored.
  const size_t n_states = std::min<size_t>(e.n_states, W5_MAX_STATES);
  // Nothing logged before the request's upstream attempts began is theirs
  // (with a second of slack for nginx's millisecond clock and queueing).
  uint64_t attempts_ms = 0;
  bool durations_known = e.n_states <= W5_MAX_STATES;
  for (size_t i = 0; i < n_states; ++i) {
    if (is_unset_msec(e.states[i].response_ms)) durations_known = false;
    else attempts_ms += e.states[i].response_ms;
  }
  const uint64_t earliest_ns = durations_known && e.h.ts_ns > (attempts_ms + 1000) * 1'000'000ull
                                   ? e.h.ts_ns - (attempts_ms + 1000) * 1'000'000ull
                                   : 0;
  std::array<LoggedAttempt*, W5_MAX_STATES> logged{};
  size_t unmatched = failures.size();
  for (size_t i = n_states; i-- > 0 && unmatched > 0;) {
    if (is_redirect_separator(e.states[i])) continue;
    if (failures[unmatched - 1].ts_ns < earliest_ns) break;
    // nginx names the peer in the state only once connect() got going; a
    // failure before that (no free connection, no socket) leaves it empty.
    const std::string_view state_peer = wire_view(e.states[i].peer);
    if (state_peer.empty() || failures[unmatched - 1].peer == state_peer) logged[i] = &failures[--unmatched];
  }
  attempts.reserve(std::max<size_t>(n_states, 1));
  size_t last = n_states;  // the last attempt's state
  for (size_t i = 0; i < n_states; ++i) {
    const w5_upstream_state& s = e.states[i];
    if (is_redirect_separator(s)) continue;
    last = i;
    Attempt& a = attempts.emplace_back();
    a.upstream = logged[i] && s.peer[0] == '\0' ? std::string_view(logged[i]->peer) : wire_view(s.peer);
    a.status = static_cast<int>(s.status);
    a.ms = is_unset_msec(s.response_ms) ? -1 : static_cast<double>(s.response_ms);
    a.cause = logged[i] ? logged[i]->failure.cause : cause_from_upstream_state(s);
  }
  LoggedAttempt* last_failure = last < n_states ? logged[last] : nullptr;
  if (attempts.empty() && !failures.empty()) {
    last_failure = &failures.back();
    attempts.push_back(Attempt{last_failure->peer, last_failure->failure.cause, 0, -1});
  }
  return last_failure;
}

bool is_redirect_separator(const w5_upstream_state& s) {
  return s.status == 0 && s.peer[0] == '\0' && s.response_ms == 0 && s.connect_ms == 0 && s.header_ms == 0 &&
         s.bytes_received == 0 && s.bytes_sent == 0;
}

size_t attempts_in(const w5_ngx_error_page& e) {
  size_t separators = 0;
  for (size_t i = 0; i < std::min<size_t>(e.n_states, W5_MAX_STATES); ++i) separators += is_redirect_separator(e.states[i]);
  return e.n_states - separators;
}

Cause cause_from_upstream_state(const w5_upstream_state& s) {
  if (!is_unset_msec(s.header_ms) && s.status >= 500) return Cause::upstream_status;
  if (is_unset_msec(s.connect_ms)) {
    if (s.status == 504) return Cause::connect_timeout;
    if (s.status == 502) return Cause::refused;
    return Cause::unknown;
  }
  if (s.status == 504) return Cause::slow_backend;
  if (s.status == 502) return s.bytes_received == 0 ? Cause::closed_early : Cause::invalid_response;
  return Cause::unknown;
}

}  // namespace why502

#include "attribution/keepalive_race.hpp"

#include <algorithm>
#include <cstdint>

#include "common/text.hpp"

namespace why502 {
namespace {

constexpr uint32_t kTcpClose = 7;      // a reset came (or nginx closed its end)
constexpr uint32_t kTcpCloseWait = 8;  // FIN received, nginx has not closed its end yet

// TCP keeps these times as the low 32 bits of jiffies: differences only.
int64_t ms_between(uint32_t from, uint32_t to, uint32_t hz) {
  return static_cast<int64_t>(static_cast<int32_t>(to - from)) * 1000 / hz;
}

std::string requests_carried(uint32_t n) {
  return n == 1 ? "1 earlier request" : concat(Decimal(n), " earlier requests");
}

}  // namespace

ReusedConnectionVerdict judge_reused_connection(const w5_upstream_reuse& reuse, Cause logged, bool while_sending) {
  ReusedConnectionVerdict v;
  const uint32_t earlier = reuse.upstream_requests > 0 ? reuse.upstream_requests - 1 : 0;
  if (reuse.hz == 0) {
    v.evidence.push_back(concat("nginx had taken this connection from its keepalive pool (it carried ",
                                requests_carried(earlier),
                                "); when the backend closed it is unknown (no TCP times: a unix socket, or the "
                                "kernel's config unreadable), so a keepalive race is not established"));
    return v;
  }
  const uint32_t hz = reuse.hz;
  // A reset after a FIN (the backend's kernel answering nginx's request on
  // a socket it had closed) leaves the state CLOSE: the reset came last.
  const bool fin = reuse.tcp_state == kTcpCloseWait || (reuse.tcp_state != kTcpClose && logged == Cause::closed_early);
  // The request left after the last data the connection received (the
  // previous response): TCP's last-send time is nginx's send of it.
  const bool request_left = static_cast<int32_t>(reuse.sent_jiffies - reuse.data_in_jiffies) >= 0;
  if (!request_left && !while_sending) {
    v.evidence.push_back(concat("nginx had taken this connection from its keepalive pool (it carried ",
                                requests_carried(earlier), "), but data came on it after nginx's request: the "
                                "backend began a response, so this is no keepalive race"));
    return v;
  }
  const uint32_t sent = request_left ? reuse.sent_jiffies : reuse.now_jiffies;
  const int64_t idle_ms = ms_between(reuse.data_in_jiffies, sent, hz);
  v.evidence.push_back(concat("nginx took this connection from its keepalive pool: it had carried ",
                              requests_carried(earlier), " and sat idle ", Decimal(idle_ms), " ms before this one"));

  const int64_t tick_ms = (1000 + hz - 1) / hz;
  // Where the backend's close met nginx's request: a FIN carries an ACK, so
  // the last ACK's time is the FIN's; a reset is known only to have come
  // before nginx logged it.
  const int64_t close_ms = fin ? ms_between(sent, reuse.ack_in_jiffies, hz) : ms_between(sent, reuse.now_jiffies, hz);
  // A close in answer to the request itself arrives within about a round trip.
  const int64_t window_ms = 2 * static_cast<int64_t>(reuse.srtt_us / 1000) + 2 * tick_ms + 10;
  const std::string how = fin ? "closed it (FIN)" : "reset it (RST)";
  if (!request_left) {
    v.race = true;
    v.evidence.push_back(concat("the backend had ", how, " already: nginx's request could not be sent"));
  } else if (fin && close_ms < 0) {
    v.race = true;
    v.evidence.push_back(concat("the backend ", how, " ", Decimal(-close_ms),
                                " ms before nginx sent the request, and nginx had not yet noticed"));
  } else if (close_ms <= window_ms) {
    v.race = true;
    v.evidence.push_back(concat("the backend ", how, " within ", Decimal(std::max<int64_t>(close_ms, tick_ms)),
                                " ms of nginx's send, before any response: the close crossed the request"));
  } else {
    v.evidence.push_back(concat("the backend ", how, " ", Decimal(close_ms), " ms after nginx's send, long after "
                                "the request reached it: not a keepalive race"));
    return v;
  }
  v.evidence.push_back(
      "nginx retries such a failure on a new connection only for idempotent requests (not POST, LOCK or PATCH, "
      "unless proxy_next_upstream has non_idempotent)");
  v.evidence.push_back(
      "fix: make the backend's keep-alive (idle) timeout longer than nginx's upstream keepalive_timeout (60 s by "
      "default), or set nginx's shorter");
  return v;
}

}  // namespace why502

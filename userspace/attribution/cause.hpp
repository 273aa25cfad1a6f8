// The cause taxonomy: the exact strings users filter and alert on.
#pragma once

#include <optional>
#include <string_view>

namespace why502 {

enum class Cause {
  refused,
  reset,
  closed_early,
  slow_backend,
  connect_timeout,
  invalid_response,
  upstream_status,
  no_live_upstreams,
  backlog_full,
  fd_exhausted,
  backend_crashed,
  unreachable,
  dns_failure,
  tls_failure,
  limited,
  ports_exhausted,
  keepalive_race,
  h2_stream_reset,
  h2_goaway,
  unknown,
};

std::string_view cause_name(Cause cause);
std::optional<Cause> cause_from_name(std::string_view name);

}  // namespace why502

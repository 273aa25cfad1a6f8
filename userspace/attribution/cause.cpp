#include "attribution/cause.hpp"

#include <array>
#include <utility>

namespace why502 {
namespace {

constexpr std::array<std::pair<Cause, std::string_view>, 20> kNames{{
    {Cause::refused, "refused"},
    {Cause::reset, "reset"},
    {Cause::closed_early, "closed_early"},
    {Cause::slow_backend, "slow_backend"},
    {Cause::connect_timeout, "connect_timeout"},
    {Cause::invalid_response, "invalid_response"},
    {Cause::upstream_status, "upstream_status"},
    {Cause::no_live_upstreams, "no_live_upstreams"},
    {Cause::backlog_full, "backlog_full"},
    {Cause::fd_exhausted, "fd_exhausted"},
    {Cause::backend_crashed, "backend_crashed"},
    {Cause::unreachable, "unreachable"},
    {Cause::dns_failure, "dns_failure"},
    {Cause::tls_failure, "tls_failure"},
    {Cause::limited, "limited"},
    {Cause::ports_exhausted, "ports_exhausted"},
    {Cause::keepalive_race, "keepalive_race"},
    {Cause::h2_stream_reset, "h2_stream_reset"},
    {Cause::h2_goaway, "h2_goaway"},
    {Cause::unknown, "unknown"},
}};

}  // namespace

std::string_view cause_name(Cause cause) {
  for (const auto& [c, name] : kNames)
    if (c == cause) return name;
  return "unknown";
}

std::optional<Cause> cause_from_name(std::string_view name) {
  for (const auto& [c, n] : kNames)
    if (n == name) return c;
  return std::nullopt;
}

}  // namespace why502

// What an nginx error_log call (format string, errno, action) says about an
// upstream attempt. nginx builds its messages from fixed format strings, so
// matching the format is exact and survives any error_log configuration.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "attribution/cause.hpp"

namespace why502 {

struct LoggedFailure {
  Cause cause;
  bool is_attempt;  // a failed upstream attempt (false: request-level, e.g. limit_req)
  // What the message means beyond its cause, when nginx's words leave it
  // unsaid (evidence right after the headline); empty when they say it all.
  std::string_view meaning = {};
  // It failed before any connect(): nginx answers 500 then, which is still
  // about the upstream.
  bool before_connect = false;
  // The meaning says what failed better than its cause's headline, which it
  // replaces (a socket file nginx may not open is no refusal by a backend).
  bool meaning_leads = false;
};

// nullopt when the message is not about an upstream failure (it may still be
// useful as evidence, e.g. "upstream server temporarily disabled").
std::optional<LoggedFailure> classify_nginx_log(std::string_view fmt, int err,
                                                std::string_view action);

// The message as error.log would show it, minus variable parts nginx fills in:
// "connect() failed (111: Connection refused) while connecting to upstream".
std::string describe_nginx_log(std::string_view fmt, int err, std::string_view action,
                               std::string_view peer);

}  // namespace why502

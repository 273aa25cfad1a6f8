// Checks of option values that say, in one line, what a good value is.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <string>

#include "common/text.hpp"

namespace why502 {

// A number of seconds, more than 0 and at most max_s.
inline CLI::Validator seconds_up_to(double max_s, const std::string& max_said) {
  return CLI::Validator(
      [max_s, max_said](std::string& text) -> std::string {
        char* end = nullptr;
        const double s = std::strtod(text.c_str(), &end);
        if (!text.empty() && end && *end == '\0' && std::isfinite(s) && s > 0 && s <= max_s) return "";
        return "give a number of seconds above 0 and at most " + max_said + ", not '" + one_line(text, 40) + "'";
      },
      "SECONDS");
}

}  // namespace why502

// Small files read whole or by their first line (/proc and /etc files): ""
// when they cannot be read.
#pragma once

#include <string>

namespace why502 {

std::string read_text(const std::string& path);
std::string first_line(const std::string& path);

}  // namespace why502

// The one exception for errors the user must fix (bad flags, missing
// privileges, no BTF): main prints its message on one line and exits 2.
#pragma once

#include <stdexcept>
#include <string>

namespace why502 {

class FatalError : public std::runtime_error {
 public:
  explicit FatalError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace why502

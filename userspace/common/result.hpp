// The one way a recoverable error is returned: a Result<T> holds either the
// value or an Error, one line saying why there is none (what the caller shows,
// or wraps in a FatalError, as it is). Result<void> holds only the error.
// std::expected is C++23; this is the part of it why502 needs.
#pragma once

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace why502 {

// Why a Result has no value: one line for the user, naming what failed.
struct Error {
  std::string message;
};

template <typename T>
class [[nodiscard]] Result {
  using Value = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

 public:
  // Success of a Result<void>: `return {};`.
  Result()
    requires std::is_void_v<T>
  = default;
  Result(Value value)
    requires(!std::is_void_v<T>)
      : state_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // The value; std::bad_variant_access when there is none (check ok() first).
  template <typename U = T>
    requires(!std::is_void_v<U>)
  U& value() & {
    return std::get<0>(state_);
  }
  template <typename U = T>
    requires(!std::is_void_v<U>)
  const U& value() const& {
    return std::get<0>(state_);
  }
  template <typename U = T>
    requires(!std::is_void_v<U>)
  U&& value() && {
    return std::get<0>(std::move(state_));
  }
  template <typename U = T>
    requires(!std::is_void_v<U>)
  U* operator->() {
    return &value();
  }
  template <typename U = T>
    requires(!std::is_void_v<U>)
  const U* operator->() const {
    return &value();
  }

  // The message; std::bad_variant_access when there is no error.
  const std::string& error() const { return std::get<1>(state_).message; }

 private:
  std::variant<Value, Error> state_;
};

}  // namespace why502

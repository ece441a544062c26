// Errors as values. A Result<T> holds either a T or an Error; Status is a
// Result with no value. We use our own type rather than std::expected so the
// pure layers (protocol, auth, config) also build with clang 14 for fuzzing.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace usher {

// An error with a PostgreSQL SQLSTATE (five characters, e.g. "08P01") where
// it is sent to a client, or an empty code for errors that only get logged.
struct Error {
  std::string sqlstate;
  std::string message;
};

inline Error make_error(std::string sqlstate, std::string message) {
  return Error{std::move(sqlstate), std::move(message)};
}

struct Ok {};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  Error&& take_error() { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

using Status = Result<Ok>;
inline Status ok_status() {
  return Ok{};
}

}  // namespace usher
